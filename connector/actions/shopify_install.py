"""Installing Relance from Shopify: the authorization-code install and the embedded admin's
session tokens. The web blueprint ``shopify_app`` only parses the request and renders.

Install: ``begin_install`` checks the signed query and issues a one-time ``state`` (its hash
stored, bound to the shop, ten minutes); ``complete_install`` checks the callback's signature,
timestamp and shop, uses the state up (once, for that shop, in time), exchanges the code for an
expiring offline token, reads the shop's name and email from Shopify, finds or makes the Relance
shop and its owner, connects (webhooks registered at Shopify, credentials stored encrypted; all
or nothing, see actions.connections) and queues the first sync for the worker.

Embedded: ``embedded_session`` verifies a session token and answers the shop and its owner; a
shop with no working connection gets one by token exchange first (Shopify-managed install).

Every check runs before anything is written: a refused request leaves no row behind. The
platform specifics (URLs, signatures, grants) are the adapter's (``InstallsAsApp``); the core
never imports it by name.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from connector.actions.accounts import (
    OwnerAccount,
    ShopSummary,
    first_member,
    shop_owner,
    shop_summary,
    unusable_password_hash,
)
from connector.actions.connections import ConnectionsError, connect, note_install
from connector.config import Settings
from connector.platform import (
    AccountProfile,
    AdapterError,
    AppCredentials,
    ConnectionContext,
    InstallRefused,
    InstallsAsApp,
    PlatformAdapter,
    SessionTokenExpired,
)
from connector.services import Services
from connector.shops import ShopError, create_shop
from connector.store.db import write_session
from connector.store.models import Connection, OAuthState, Owner, Shop
from connector.sync import UnknownPlatform, adapter_for

log = logging.getLogger(__name__)

T = TypeVar("T")
PLATFORM = "shopify"
STATE_VALID_FOR = timedelta(minutes=10)


class InstallError(Exception):
    """An install or embedded load that did not happen; ``status`` is the HTTP answer and the
    message says why in one line (never a secret)."""

    def __init__(self, message: str, status: int = 400, *, renewable: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.renewable = renewable  # a stale but genuine session token: ask for a fresh one


@dataclass(frozen=True, slots=True)
class Installed:
    """Who lands signed in, and where."""

    owner: OwnerAccount
    shop: ShopSummary
    connection_id: int
    account: str  # the myshopify.com domain
    new_shop: bool


def app_credentials(settings: Settings) -> AppCredentials:
    """The Shopify app of this deployment; InstallError (404) when it is not configured."""
    if not settings.shopify_api_key or not settings.shopify_api_secret:
        raise InstallError(
            "the Shopify app is not configured here (SHOPIFY_API_KEY, SHOPIFY_API_SECRET)", 404
        )
    return AppCredentials(
        client_id=settings.shopify_api_key,
        client_secret=settings.shopify_api_secret,
        scopes=settings.shopify_scopes,
        admin_base=settings.shopify_admin_base,
    )


def begin_install(
    svc: Services,
    params: Mapping[str, str | list[str]],
    redirect_uri: str,
    now: datetime,
    *,
    adapters: Mapping[str, PlatformAdapter] | None = None,
) -> str:
    """The authorize URL to send the owner to, with a fresh one-time state for that shop."""
    app = app_credentials(svc.settings)
    installer = _installer(adapters)
    shop = _through_adapter(lambda: installer.verify_signed_query(app, params, now))
    state = secrets.token_urlsafe(32)
    with write_session(svc.sessions) as s:
        s.execute(delete(OAuthState).where(OAuthState.expires_at < now))  # keep the table small
        s.add(
            OAuthState(
                state_hash=_digest(state),
                shop_domain=shop,
                created_at=now,
                expires_at=now + STATE_VALID_FOR,
            )
        )
    return installer.authorize_url(app, shop, redirect_uri, state)


def complete_install(
    svc: Services,
    params: Mapping[str, str | list[str]],
    now: datetime,
    *,
    adapters: Mapping[str, PlatformAdapter] | None = None,
) -> Installed:
    """The callback: checks, then the code's token, the shop, the connection, the first sync."""
    app = app_credentials(svc.settings)
    installer = _installer(adapters)
    shop = _through_adapter(lambda: installer.verify_signed_query(app, params, now))
    state, code = params.get("state"), params.get("code")
    if not isinstance(state, str) or not state:
        raise InstallError("state: missing; start the install again from Shopify")
    if not isinstance(code, str) or not code:
        raise InstallError("code: missing; start the install again from Shopify")
    _use_state(svc, state, shop, now)
    credentials = _through_adapter(lambda: installer.exchange_code(app, shop, code, now), 502)
    return _install(svc, installer, app, shop, credentials, now, adapters)


def embedded_session(
    svc: Services,
    token: str,
    now: datetime,
    *,
    shop_named: str | None = None,
    adapters: Mapping[str, PlatformAdapter] | None = None,
) -> Installed:
    """The shop and owner a session token stands for (401 if it does not verify, or names
    another shop than the page's ``shop`` parameter), installed by token exchange when the shop
    has no working connection yet."""
    app = app_credentials(svc.settings)
    installer = _installer(adapters)
    try:
        shop = installer.verify_session_token(app, token, now)
    except InstallRefused as exc:
        raise InstallError(str(exc), 401, renewable=isinstance(exc, SessionTokenExpired)) from exc
    if shop_named is not None and shop_named != shop:
        raise InstallError("session token: issued for another shop than this page's", 401)
    with svc.sessions() as s:
        row = _connection_of(s, shop)
        if row is not None and row.active and row.credentials_enc:
            found = _installed(s, row, shop, new_shop=False)
            if found is not None:
                return found
    credentials = _through_adapter(
        lambda: installer.exchange_session_token(app, shop, token, now), 502
    )
    return _install(svc, installer, app, shop, credentials, now, adapters)


def admin_shop(value: object) -> str | None:
    """The shop an embedded load names (its ``shop`` parameter) if it is a Shopify shop's host,
    else None. Unverified: only for a page that shows nothing but asks App Bridge for a token."""
    if not isinstance(value, str):
        return None
    try:
        return _installer(None).account_of(value)
    except (InstallRefused, InstallError):
        return None


# -- the install itself ------------------------------------------------------------------------


def _install(
    svc: Services,
    installer: InstallsAsApp,
    app: AppCredentials,
    shop: str,
    credentials: dict[str, Any],
    now: datetime,
    adapters: Mapping[str, PlatformAdapter] | None,
) -> Installed:
    profile = _profile(installer, shop, credentials, app)
    password_hash = unusable_password_hash()  # slow: before the transaction
    with write_session(svc.sessions) as s:
        row = _connection_of(s, shop)
        new_shop = row is None
        shop_id = row.shop_id if row is not None else _new_shop(s, profile)
        existing_owners = set(s.scalars(select(Owner.id)))
        owner = shop_owner(s, shop_id, email=profile.email, password_hash=password_hash, now=now)
        made_owner = owner.id not in existing_owners
    try:
        connected = connect(
            svc,
            shop_id,
            PLATFORM,
            {k: None if v is None else str(v) for k, v in credentials.items()},
            now,
            api_base=app.admin_base,
            adapters=adapters,
        )
    except ConnectionsError as exc:
        if new_shop:  # all or nothing: a retry must not make a second shop
            _forget(svc, shop_id, owner.id if made_owner else None)
        raise InstallError(f"Shopify {shop}: {exc}", 502) from exc
    note_install(svc, connected.id, now)
    with svc.sessions() as s:
        row = s.get(Connection, connected.id)
        installed = _installed(s, row, shop, new_shop=new_shop) if row is not None else None
    if installed is None:
        raise InstallError(f"Shopify {shop}: the shop vanished while installing", 409)
    return installed


def _forget(svc: Services, shop_id: int, owner_id: int | None) -> None:
    """Undo the shop (and the owner) a failed first install made: nothing but its default
    sequence and the membership refer to it yet (connect rolled its connection back), and
    those go with it (ON DELETE CASCADE, enforced on SQLite too)."""
    with write_session(svc.sessions) as s:
        s.execute(delete(Shop).where(Shop.id == shop_id))
        if owner_id is not None:
            s.execute(delete(Owner).where(Owner.id == owner_id))


def _installed(s: Session, row: Connection, shop: str, *, new_shop: bool) -> Installed | None:
    """The shop's owner (its first member) and the shop; None if it has no member."""
    owner = first_member(s, row.shop_id)
    if owner is None:
        return None
    return Installed(owner, shop_summary(s, row.shop_id), row.id, shop, new_shop)


def _profile(
    installer: InstallsAsApp, shop: str, credentials: dict[str, Any], app: AppCredentials
) -> AccountProfile:
    """The shop's own name and email, read with the new token before anything is stored."""
    ctx = ConnectionContext(
        id=0,
        shop_id=0,
        platform=PLATFORM,
        external_account=shop,
        credentials=dict(credentials),
        webhook_secret=None,
        api_base=app.admin_base,
        settings={},
    )
    try:
        return installer.account_profile(ctx)
    except AdapterError as exc:
        raise InstallError(f"Shopify {shop}: the shop could not be read ({exc})", 502) from exc


def _new_shop(s: Session, profile: AccountProfile) -> int:
    """A Relance shop named and addressed as the Shopify shop is, in its zone and currency."""
    attempts: list[dict[str, Any]] = [
        {"timezone": profile.timezone, "currency": profile.currency},
        {"timezone": profile.timezone},
        {},
    ]
    for extra in attempts:
        options = {k: v for k, v in extra.items() if v}
        try:  # create_shop checks everything before it adds anything
            return create_shop(s, name=profile.name, email=profile.email, **options).id
        except ShopError as exc:
            log.info("shop %s: %s; trying with defaults", profile.account, exc)
    raise InstallError(f"Shopify {profile.account}: its name or email is not usable", 502)


def _connection_of(s: Session, shop: str) -> Connection | None:
    """The Relance connection of that Shopify shop: the active one, else the latest."""
    return s.scalar(
        select(Connection)
        .where(Connection.platform == PLATFORM, Connection.external_account == shop)
        .order_by(Connection.active.desc(), Connection.id.desc())
        .limit(1)
    )


def _use_state(svc: Services, state: str, shop: str, now: datetime) -> None:
    """Once, for the shop it was issued for, before it expires: one UPDATE decides."""
    with write_session(svc.sessions) as s:
        used = s.execute(
            update(OAuthState)
            .where(
                OAuthState.state_hash == _digest(state),
                OAuthState.shop_domain == shop,
                OAuthState.used_at.is_(None),
                OAuthState.expires_at > now,
            )
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        if int(getattr(used, "rowcount", 0) or 0) != 1:
            raise InstallError(
                "state: unknown, already used or expired; start the install again from Shopify"
            )


def _digest(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


def _installer(adapters: Mapping[str, PlatformAdapter] | None) -> InstallsAsApp:
    try:
        adapter = adapter_for(PLATFORM, adapters)
    except UnknownPlatform as exc:
        raise InstallError(str(exc), 404) from exc
    if not isinstance(adapter, InstallsAsApp):
        raise InstallError("the Shopify adapter installed here cannot install an app", 404)
    return cast(InstallsAsApp, adapter)


def _through_adapter(call: Callable[[], T], status: int = 400) -> T:
    """Run a check (``status`` 400) or a grant (``status`` 502): Shopify's or our refusal is
    a 400 for a check and a 403 for a grant; any other adapter failure a 502."""
    try:
        return call()
    except InstallRefused as exc:
        raise InstallError(str(exc), 400 if status == 400 else 403) from exc
    except AdapterError as exc:
        raise InstallError(f"Shopify did not answer as expected: {exc}", 502) from exc
