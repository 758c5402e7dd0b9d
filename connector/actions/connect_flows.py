"""The owner's ways to connect a platform from the pages: WooCommerce's application
authorization (and pasted keys), a pasted Stripe restricted key, and Stripe Connect OAuth.

Each ends in ``connections.connect`` (all or nothing: credentials tried with a test call,
webhooks registered, then stored). The flows that leave for the platform and come back carry a
one-time token (WooCommerce's ``user_id``, Stripe's ``state``) bound to the shop and owner who
started them: only its SHA-256 is stored, it works once, for ``GRANT_VALID_FOR``, and a token
that is forged, reused, expired or another shop's is refused with nothing stored."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from sqlalchemy import delete, select

from connector.actions.connections import ConnectionsError, ConnectionSummary
from connector.actions.connections import connect as connect_platform
from connector.platform import AdapterError, ConnectsByOAuth
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import ConnectGrant, GrantPurpose
from connector.sync import UnknownPlatform, adapter_for

GRANT_VALID_FOR = timedelta(minutes=30)  # time to sign in to WordPress or Stripe and approve
# An expired grant is kept a day (the return page still reads its outcome), then deleted when
# the next grant is issued: the table stays as small as the flows in progress.
GRANT_KEPT_AFTER_EXPIRY = timedelta(days=1)
WOOCOMMERCE = "woocommerce"
STRIPE = "stripe"
APP_NAME = "Relance"
# What WooCommerce's key must allow: Relance creates its webhooks (write) and reads orders.
WOOCOMMERCE_PERMISSIONS = frozenset({"read_write"})
STRIPE_KEY_PREFIXES = ("rk_live_", "rk_test_", "sk_live_", "sk_test_")


class GrantRefused(ConnectionsError):
    """A one-time token that is unknown, used, expired, or not for this shop: nothing done."""


@dataclass(frozen=True, slots=True)
class GrantOutcome:
    """What became of an authorization the owner started, for the page they return to."""

    connected: bool
    message: str


def connect(
    svc: Services,
    shop_id: int,
    platform: str,
    credentials: Mapping[str, str],
    now: datetime,
    *,
    api_base: str | None = None,
) -> ConnectionSummary:
    """``connections.connect``, its refusal said for an owner: what the platform answered,
    then that nothing was saved (the command line's longer form stays for the CLI)."""
    try:
        return connect_platform(svc, shop_id, platform, credentials, now, api_base=api_base)
    except ConnectionsError as exc:
        cause = exc.__cause__
        if isinstance(cause, AdapterError) and "by hand" not in str(exc):
            raise ConnectionsError(f"{cause}. Nothing was saved.") from cause
        raise


# -- WooCommerce ---------------------------------------------------------------------------


def normalize_store_url(raw: str) -> str:
    """The store's address as WooCommerce's routes hang off it: scheme and host (and a path
    for a WordPress in a folder), no query, no trailing slash."""
    text = (raw or "").strip()
    if not text:
        raise ConnectionsError("store URL: enter your WooCommerce store's address")
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in text:
        raise ConnectionsError(
            f"store URL: {raw.strip()!r} is not a web address (like https://shop.example)"
        )
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def start_woocommerce_authorization(
    svc: Services,
    shop_id: int,
    owner_id: int,
    store_url: str,
    now: datetime,
    *,
    callback_url: str,
    return_url: str,
) -> str:
    """The store's authorization page to send the owner to, with a new one-time token as
    ``user_id``; WooCommerce POSTs the keys with that token to ``callback_url``."""
    store = normalize_store_url(store_url)
    token = _issue(svc, shop_id, owner_id, GrantPurpose.WOOCOMMERCE, now, account=store)
    query = urlencode(
        {
            "app_name": APP_NAME,
            "scope": "read_write",
            "user_id": token,
            "return_url": return_url,
            "callback_url": callback_url,
        }
    )
    return f"{store}/wc-auth/v1/authorize?{query}"


def complete_woocommerce_authorization(
    svc: Services, shop_id: int, body: Mapping[str, Any], now: datetime
) -> ConnectionSummary:
    """WooCommerce's POST of the keys: ``{key_id, user_id, consumer_key, consumer_secret,
    key_permissions}``. The token is redeemed (once), then the keys are tried and the store
    connected to the shop that started the authorization."""
    token = body.get("user_id")
    key, secret = body.get("consumer_key"), body.get("consumer_secret")
    if not isinstance(token, str) or not token:
        raise GrantRefused("user_id: missing")
    grant_id, store = _redeem(svc, token, GrantPurpose.WOOCOMMERCE, shop_id, None, now)
    try:
        if not isinstance(key, str) or not key or not isinstance(secret, str) or not secret:
            raise ConnectionsError("consumer_key and consumer_secret: missing")
        if body.get("key_permissions") not in WOOCOMMERCE_PERMISSIONS:
            raise ConnectionsError(
                f"key_permissions: {body.get('key_permissions')!r}; Relance needs read_write to "
                "create its webhooks"
            )
        summary = connect(
            svc,
            shop_id,
            WOOCOMMERCE,
            {"site_url": store or "", "consumer_key": key, "consumer_secret": secret},
            now,
        )
    except ConnectionsError as exc:
        _settle(svc, grant_id, None, str(exc))
        raise
    _settle(svc, grant_id, summary.id, f"WooCommerce store {store} connected.")
    return summary


def connect_woocommerce_keys(
    svc: Services,
    shop_id: int,
    store_url: str,
    consumer_key: str,
    consumer_secret: str,
    now: datetime,
) -> ConnectionSummary:
    """Pasted keys: tried with a test call against the store before anything is kept."""
    store = normalize_store_url(store_url)
    key, secret = consumer_key.strip(), consumer_secret.strip()
    if not key.startswith("ck_"):
        raise ConnectionsError(
            "consumer key: it starts with ck_ (WooCommerce > Settings > Advanced > REST API)"
        )
    if not secret.startswith("cs_"):
        raise ConnectionsError("consumer secret: it starts with cs_")
    return connect(
        svc,
        shop_id,
        WOOCOMMERCE,
        {"site_url": store, "consumer_key": key, "consumer_secret": secret},
        now,
    )


# -- Stripe --------------------------------------------------------------------------------


def connect_stripe_key(
    svc: Services, shop_id: int, api_key: str, now: datetime
) -> ConnectionSummary:
    """A pasted restricted key, tried with a read of each kind Relance makes; a permission it
    lacks is named (Stripe's 403 names it)."""
    key = api_key.strip()
    if not key.startswith(STRIPE_KEY_PREFIXES):
        raise ConnectionsError(
            "Stripe key: paste a restricted key (rk_live_… or rk_test_…, Stripe dashboard > "
            "Developers > API keys)"
        )
    return connect(
        svc, shop_id, STRIPE, {"api_key": key}, now, api_base=svc.settings.stripe_api_base
    )


def start_stripe_connect(
    svc: Services, shop_id: int, owner_id: int, now: datetime, *, redirect_uri: str
) -> str:
    """Stripe's authorize page (Connect OAuth) with a new one-time ``state``."""
    client_id, secret_key = _connect_platform(svc)
    oauth = _oauth_adapter()
    state = _issue(svc, shop_id, owner_id, GrantPurpose.STRIPE_CONNECT, now)
    return oauth.oauth_authorize_url(
        client_id,
        state,
        redirect_uri,
        connect_base=svc.settings.stripe_connect_base,
        secret_key=secret_key,
    )


def complete_stripe_connect(
    svc: Services,
    shop_id: int,
    owner_id: int,
    now: datetime,
    *,
    state: str,
    code: str | None,
    error: str | None = None,
    error_description: str | None = None,
) -> ConnectionSummary:
    """Stripe's redirect back: the ``state`` redeemed (once, by the owner and shop that started
    it), the code exchanged for the account id, and the account connected with the platform's
    key acting for it (``Stripe-Account`` on every call)."""
    _, secret_key = _connect_platform(svc)
    grant_id, _ = _redeem(svc, state, GrantPurpose.STRIPE_CONNECT, shop_id, owner_id, now)
    try:
        if error or not code:
            raise ConnectionsError(
                f"Stripe: {error_description or error or 'no authorization code'}; nothing was "
                "connected"
            )
        try:
            account = _oauth_adapter().oauth_exchange_code(
                code, secret_key=secret_key, connect_base=svc.settings.stripe_connect_base
            )
        except AdapterError as exc:
            raise ConnectionsError(f"{exc}; nothing was connected") from exc
        summary = connect(
            svc,
            shop_id,
            STRIPE,
            {"api_key": secret_key, "account": account},
            now,
            api_base=svc.settings.stripe_api_base,
        )
    except ConnectionsError as exc:
        _settle(svc, grant_id, None, str(exc))
        raise
    _settle(svc, grant_id, summary.id, f"Stripe account {account} connected.")
    return summary


def woocommerce_return(svc: Services, shop_id: int, token: str, approved: bool) -> GrantOutcome:
    """The owner back from WooCommerce's page: what became of their authorization (only one
    of their own shop's; another's is not found)."""
    with svc.sessions() as s:
        grant = s.scalar(
            select(ConnectGrant).where(
                ConnectGrant.token_hash == _hash(token),
                ConnectGrant.shop_id == shop_id,
                ConnectGrant.purpose == GrantPurpose.WOOCOMMERCE,
            )
        )
        if grant is None:
            raise GrantRefused("no such authorization for this shop")
        if not approved:
            return GrantOutcome(
                False, "You did not approve Relance on WooCommerce: nothing was connected."
            )
        if grant.used_at is None:
            return GrantOutcome(
                False,
                "WooCommerce has not sent the keys: nothing was connected. "
                "Try again, or paste the keys below.",
            )
        return GrantOutcome(grant.connection_id is not None, grant.outcome or "")


# -- one-time grants -----------------------------------------------------------------------


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _issue(
    svc: Services,
    shop_id: int,
    owner_id: int,
    purpose: GrantPurpose,
    now: datetime,
    *,
    account: str | None = None,
) -> str:
    token = secrets.token_urlsafe(32)
    with write_session(svc.sessions) as s:
        s.execute(
            delete(ConnectGrant).where(ConnectGrant.expires_at < now - GRANT_KEPT_AFTER_EXPIRY)
        )
        s.add(
            ConnectGrant(
                shop_id=shop_id,
                owner_id=owner_id,
                purpose=purpose,
                token_hash=_hash(token),
                account=account,
                expires_at=now + GRANT_VALID_FOR,
            )
        )
    return token


def _redeem(
    svc: Services,
    token: str,
    purpose: GrantPurpose,
    shop_id: int,
    owner_id: int | None,
    now: datetime,
) -> tuple[int, str | None]:
    """Mark the grant used, in one transaction with the checks: (its id, its account)."""
    with write_session(svc.sessions) as s:
        grant = s.scalar(
            select(ConnectGrant)
            .where(ConnectGrant.token_hash == _hash(token), ConnectGrant.purpose == purpose)
            .with_for_update()
        )
        if grant is None or grant.shop_id != shop_id:
            raise GrantRefused("this authorization is unknown here; start again")
        if owner_id is not None and grant.owner_id != owner_id:
            raise GrantRefused("this authorization was started by someone else; start again")
        if grant.used_at is not None:
            raise GrantRefused("this authorization was already used; start again")
        if grant.expires_at <= now:
            raise GrantRefused("this authorization expired; start again")
        grant.used_at = now
        return grant.id, grant.account


def _settle(svc: Services, grant_id: int, connection_id: int | None, outcome: str) -> None:
    with write_session(svc.sessions) as s:
        grant = s.get(ConnectGrant, grant_id)
        if grant is not None:
            grant.connection_id = connection_id
            grant.outcome = outcome[:2000]


def _connect_platform(svc: Services) -> tuple[str, str]:
    client_id, secret_key = svc.settings.stripe_connect_client_id, svc.settings.stripe_secret_key
    if not client_id or not secret_key:
        raise ConnectionsError(
            "Stripe Connect is not set up on this deployment (STRIPE_CONNECT_CLIENT_ID and "
            "STRIPE_SECRET_KEY); paste a restricted key instead"
        )
    return client_id, secret_key


def _oauth_adapter() -> ConnectsByOAuth:
    try:
        adapter = adapter_for(STRIPE, None)
    except UnknownPlatform as exc:
        raise ConnectionsError(str(exc)) from exc
    if not isinstance(adapter, ConnectsByOAuth):
        raise ConnectionsError("the installed Stripe adapter cannot connect by OAuth")
    return adapter
