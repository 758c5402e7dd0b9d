"""The intake pipeline, fixed order and fixed answers (after sentry's GitHub webhook endpoint):

1. body over the size limit                     → 413, nothing read further
2. unknown connection (or platform)             → 404; its secrets unreadable → 503 (below)
3. signature on the raw bytes, constant time    → 401 when missing or bad
4. parse                                        → 400 when verified but unreadable; 401 when
                                                  it names another account (shared secrets)
5. store under the dedupe key (unique)          → 200; a duplicate → 200 and nothing else
6. apply, after the commit                      → never changes the answer; failures retried

The tenant is always the connection whose secret verified the body — never a header.

A connection whose stored secrets no configured key opens (the key was lost) answers 503: the
fault is ours and temporary, and a 5xx is what makes Stripe (3 days) and Shopify (4 hours) keep
the delivery and retry once the operator restores the key; WooCommerce, which never retries, is
caught up by the sync. Nothing unverified is ever stored, and every other connection is served.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from connector.connection_health import ConnectionProblem, mark_broken
from connector.crypto import SecretError
from connector.platform import (
    ConnectionContext,
    EventKind,
    NormalizedEvent,
    PlatformAdapter,
    WebhookParseError,
    WebhookWrongAccount,
    event_ids_span_accounts,
)
from connector.services import Services
from connector.store.db import StoreBusy
from connector.store.models import Connection, WebhookOutcome
from connector.sync import connection_context
from connector.webhooks import sendgrid
from connector.webhooks.activity import IntakeActivity
from connector.webhooks.applier import Applier, OnStored
from connector.webhooks.apply import Parsed
from connector.webhooks.registry import AdapterRegistry
from connector.webhooks.store import (
    SENDGRID_SCOPE,
    NewEvent,
    kept_headers,
    platform_scope,
    store_events,
)

log = logging.getLogger(__name__)

SHOPIFY = "shopify"
# A deactivated connection or a rotated secret takes effect within this many seconds.
CONTEXT_CACHE_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class IntakeResult:
    status: int
    detail: str
    stored: list[int] = field(default_factory=list)
    duplicates: int = 0
    retry_after: int | None = None  # seconds, sent as Retry-After

    def as_json(self) -> dict[str, object]:
        return {"status": self.detail, "stored": len(self.stored), "duplicates": self.duplicates}


TOO_LARGE = IntakeResult(413, "payload too large")
NOT_FOUND = IntakeResult(404, "unknown connection")
UNAUTHORIZED = IntakeResult(401, "invalid signature")
UNREADABLE = IntakeResult(400, "unreadable event")
WRONG_ACCOUNT = IntakeResult(401, "delivery for another account")
SECRET_UNREADABLE = IntakeResult(503, "connection secrets unreadable; retry later")
NO_SUCH_SHOP = IntakeResult(200, "no data held for that shop")


@dataclass(frozen=True, slots=True)
class _Found:
    contexts: list[ConnectionContext]
    unreadable: frozenset[int]  # active connections whose secrets no configured key opens


# Not stored (SQLite's writer stayed busy): the platform delivers it again.
BUSY = IntakeResult(503, "store busy, please retry", retry_after=1)


class WebhookIntake:
    """What the Flask views call; no request object in here, so it is testable on its own."""

    def __init__(
        self,
        svc: Services,
        registry: AdapterRegistry | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        background: bool | None = None,
        cache_seconds: float = CONTEXT_CACHE_SECONDS,
        on_stored: OnStored | None = None,
        activity: IntakeActivity | None = None,
    ) -> None:
        self.svc = svc
        self.activity = activity
        self.registry = registry or AdapterRegistry()
        self.clock = clock
        if background is None:
            background = svc.settings.webhook_apply == "background"
        self.applier = Applier(
            svc,
            self.registry,
            background=background,
            store_only=svc.settings.webhook_apply == "worker",
            on_stored=on_stored,
        )
        self.max_bytes = svc.settings.max_webhook_bytes
        self._cache_seconds = cache_seconds
        self._cache: dict[tuple[str, int | None], tuple[float, _Found]] = {}

    # -- platform deliveries -----------------------------------------------------------------

    def receiving(self) -> AbstractContextManager[None]:
        """Around a delivery's handling: counted, so `relance serve`'s pump and tick give way."""
        return self.activity.receiving() if self.activity is not None else nullcontext()

    def receive(
        self, platform: str, connection_id: int, headers: Mapping[str, str], body: bytes
    ) -> IntakeResult:
        if len(body) > self.max_bytes:
            return TOO_LARGE
        target = self._connection(platform, connection_id)
        if isinstance(target, IntakeResult):
            return target
        adapter, ctx = target
        if not _verified(adapter, ctx, headers, body):
            return UNAUTHORIZED
        return self._parse_store_apply(adapter, ctx, headers, body)

    def receive_shopify_app(self, headers: Mapping[str, str], body: bytes) -> IntakeResult:
        """App-level Shopify topics (compliance): the connection is the one whose secret
        verified the body; when several share the app secret, the shop named in the signed
        body (else the header, only to choose among those that verified) picks it."""
        if len(body) > self.max_bytes:
            return TOO_LARGE
        adapter = self.registry.get(SHOPIFY)
        if adapter is None:
            return NOT_FOUND
        found = self._cached((SHOPIFY, None))
        candidates = found.contexts
        verified = [ctx for ctx in candidates if _verified(adapter, ctx, headers, body)]
        if not verified:
            signed_by_app = self._signed_by_the_app(adapter, headers, body)
            if signed_by_app is not None:
                return (
                    NO_SUCH_SHOP
                    if isinstance(signed_by_app, IntakeResult)
                    else self._parse_store_apply(adapter, signed_by_app, headers, body)
                )
        if not candidates and not found.unreadable:
            return NOT_FOUND
        if not verified:  # perhaps for a connection whose secret cannot be read: retry later
            return SECRET_UNREADABLE if found.unreadable else UNAUTHORIZED
        ctx = _pick_shop(verified, headers, body)
        if ctx is None:
            return SECRET_UNREADABLE if found.unreadable else NO_SUCH_SHOP
        return self._parse_store_apply(adapter, ctx, headers, body)

    def _signed_by_the_app(
        self, adapter: PlatformAdapter, headers: Mapping[str, str], body: bytes
    ) -> ConnectionContext | IntakeResult | None:
        """A delivery signed with this deployment's Shopify app secret (SHOPIFY_API_SECRET) for
        a shop whose connection is no longer active: ``shop/redact`` comes 48 hours after
        ``app/uninstalled`` erased the connection's credentials, and must still be verified and
        applied. The shop named in the signed body picks the connection (None: not signed by
        the app; NO_SUCH_SHOP: signed, but we hold nothing of that shop)."""
        secret = self.svc.settings.shopify_api_secret
        if not secret:
            return None
        probe = ConnectionContext(0, 0, SHOPIFY, "", {"client_secret": secret}, None, None, {})
        if not _verified(adapter, probe, headers, body):
            return None
        claimed = _claimed_shop(headers, body)
        if claimed is None:
            return NO_SUCH_SHOP
        with self.svc.sessions() as s:
            row = s.scalar(
                select(Connection)
                .where(Connection.platform == SHOPIFY, Connection.external_account == claimed)
                .order_by(Connection.active.desc(), Connection.id.desc())
                .limit(1)
            )
            if row is None:
                return NO_SUCH_SHOP
            return ConnectionContext(
                id=row.id,
                shop_id=row.shop_id,
                platform=SHOPIFY,
                external_account=row.external_account,
                credentials={"shop": claimed, "client_secret": secret},
                webhook_secret=None,
                api_base=row.api_base,
                settings=dict(row.settings or {}),
            )

    def _parse_store_apply(
        self,
        adapter: PlatformAdapter,
        ctx: ConnectionContext,
        headers: Mapping[str, str],
        body: bytes,
    ) -> IntakeResult:
        try:
            event = adapter.parse_webhook(ctx, headers, body)
        except WebhookWrongAccount as exc:
            log.warning("connection %s refused a delivery for another account: %s", ctx.id, exc)
            return WRONG_ACCOUNT
        except WebhookParseError as exc:
            return IntakeResult(400, f"unreadable event: {exc}")
        except Exception:  # a verified body no parser branch foresaw: the sender's fault → 400
            log.exception("parse_webhook raised for connection %s", ctx.id)
            return UNREADABLE
        now = self.clock()
        row = NewEvent(
            scope=platform_scope(
                ctx.platform, ctx.id, per_platform=event_ids_span_accounts(adapter)
            ),
            platform=ctx.platform,
            dedupe_key=event.dedupe_key[:255],
            topic=event.topic[:255],
            kind=event.kind.value,
            invoice_ref=_invoice_ref(event),
            raw_body=body,
            headers=kept_headers(headers),
            received_at=now,
            occurred_at=event.occurred_at,
            shop_id=ctx.shop_id,
            connection_id=ctx.id,
            outcome=WebhookOutcome.PENDING,
        )
        try:
            inserted = store_events(self.svc.intake_engine, [row])
        except IntegrityError:  # the connection was deleted since it was cached
            self._cache.clear()
            return NOT_FOUND
        except StoreBusy:
            return BUSY
        if not inserted:
            return IntakeResult(200, "duplicate", duplicates=1)
        ids = list(inserted.values())
        self.applier.submit(ids[0], now, Parsed(platform=event))
        detail = "ignored" if event.kind is EventKind.IGNORED else "accepted"
        return IntakeResult(200, detail, stored=ids)

    # -- SendGrid ------------------------------------------------------------------------------

    def receive_sendgrid(self, headers: Mapping[str, str], body: bytes) -> IntakeResult:
        if len(body) > self.max_bytes:
            return TOO_LARGE
        key = self.svc.settings.sendgrid_webhook_public_key
        if not key:
            return IntakeResult(404, "SendGrid event webhook not configured")
        if not sendgrid.verify(key, headers, body):
            return UNAUTHORIZED
        try:
            events = sendgrid.parse_batch(body)
        except sendgrid.SendGridParseError as exc:
            return IntakeResult(400, f"unreadable batch: {exc}")
        except Exception:  # a verified batch no parser branch foresaw: the sender's fault → 400
            log.exception("SendGrid batch could not be parsed")
            return UNREADABLE
        now = self.clock()
        kept = kept_headers(headers)
        rows = [
            NewEvent(
                scope=SENDGRID_SCOPE,
                platform="sendgrid",
                dedupe_key=ev.sg_event_id[:255],
                topic=ev.event[:255],
                kind=ev.event[:255],
                raw_body=ev.body(),
                headers=kept,
                received_at=now,
                occurred_at=ev.occurred_at,
            )
            for ev in events
        ]
        try:
            inserted = store_events(self.svc.intake_engine, rows)
        except StoreBusy:
            return BUSY
        by_key = {ev.sg_event_id[:255]: ev for ev in events}
        for key_, event_id in inserted.items():
            self.applier.submit(event_id, now, Parsed(mail=by_key[key_]))
        return IntakeResult(
            200,
            "accepted",
            stored=list(inserted.values()),
            duplicates=len(events) - len(inserted),
        )

    # -- connections -------------------------------------------------------------------------

    def _connection(
        self, platform: str, connection_id: int
    ) -> tuple[PlatformAdapter, ConnectionContext] | IntakeResult:
        adapter = self.registry.get(platform)
        if adapter is None:
            return NOT_FOUND
        found = self._cached((platform, connection_id))
        if found.unreadable:
            return SECRET_UNREADABLE
        return (adapter, found.contexts[0]) if found.contexts else NOT_FOUND

    def _cached(self, key: tuple[str, int | None]) -> _Found:
        """Active connections (decrypted) for a platform, or one of them; kept a few seconds
        per process so the hot path neither reads the row nor decrypts on every delivery.
        One whose secrets cannot be opened is set aside (and marked broken), never fatal to
        the others."""
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        platform, connection_id = key
        with self.svc.sessions() as s:
            q = select(Connection).where(
                Connection.platform == platform, Connection.active.is_(True)
            )
            if connection_id is not None:
                q = q.where(Connection.id == connection_id)
            rows = s.scalars(q.order_by(Connection.id)).all()
            contexts: list[ConnectionContext] = []
            unreadable: dict[int, str] = {}
            for c in rows:
                try:
                    contexts.append(connection_context(self.svc, c))
                except SecretError as exc:
                    unreadable[c.id] = str(exc)
        for broken_id, error in unreadable.items():
            mark_broken(self.svc, broken_id, ConnectionProblem.SECRET_UNREADABLE, error)
        found = _Found(contexts, frozenset(unreadable))
        if self._cache_seconds > 0 and rows:  # unknown ids are not kept: no unbounded growth
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (now + self._cache_seconds, found)
        return found


def _invoice_ref(event: NormalizedEvent) -> str | None:
    ref = event.external_invoice_id or (
        event.invoice.external_id if event.invoice is not None else None
    )
    return ref[:255] if ref else None


def _verified(
    adapter: PlatformAdapter, ctx: ConnectionContext, headers: Mapping[str, str], body: bytes
) -> bool:
    try:
        return adapter.verify_webhook(ctx, headers, body) is True
    except Exception:  # an adapter bug must read as "not verified", never as a 500 or a pass
        log.exception("verify_webhook raised for connection %s", ctx.id)
        return False


def _domain(value: object) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().lower().removeprefix("https://").removeprefix("http://").rstrip("/")


def _claimed_shop(headers: Mapping[str, str], body: bytes) -> str | None:
    """The shop a delivery names: its signed body's ``shop_domain``, else the header."""
    claimed: str | None = None
    try:
        data = json.loads(body)
        if isinstance(data, dict):
            claimed = _domain(data.get("shop_domain"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        pass  # unreadable: the adapter's parse answers 400
    if claimed is None:
        claimed = _domain(
            next((v for k, v in headers.items() if k.lower() == "x-shopify-shop-domain"), None)
        )
    return claimed


def _pick_shop(
    verified: list[ConnectionContext], headers: Mapping[str, str], body: bytes
) -> ConnectionContext | None:
    claimed = _claimed_shop(headers, body)
    if claimed is None:
        return verified[0] if len(verified) == 1 else None
    for ctx in verified:
        account = _domain(ctx.credentials.get("shop") or ctx.external_account)
        if account == claimed:
            return ctx
    return None
