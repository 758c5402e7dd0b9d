"""The app's side of Shopify's doors: signed install queries, the authorize URL, the code and
token-exchange grants, and session tokens (the embedded admin's JWT).

ShopifyAPI's ``Session`` validates the query HMAC and builds the permission URL, but it keeps the
app's key and secret in class attributes (global SDK state): each call here uses a throwaway
subclass carrying this app's pair, so nothing global is ever set. The library has no token
exchange, no expiring tokens and no timeout on its token call, so the grants are ours (shopify.dev
"authorization code grant", "token exchange", "offline access tokens"):

``POST https://{shop}/admin/oauth/access_token`` with JSON
``{client_id, client_secret, code, expiring: 1}`` or, for token exchange,
``{…, grant_type: urn:ietf:params:oauth:grant-type:token-exchange, subject_token,
subject_token_type: urn:ietf:params:oauth:token-type:id_token, requested_token_type:
urn:shopify:params:oauth:token-type:offline-access-token, expiring: 1}``; the answer is
``{access_token, scope, expires_in, refresh_token, refresh_token_expires_in}``.

Session tokens are HS256 JWTs signed with the client secret: ``aud`` is the client id, ``dest``
the shop's origin, ``iss`` its ``/admin``, ``exp``/``nbf`` a minute apart. The check is a few lines
of hmac; no JWT library is needed for one algorithm (and the ``alg`` header is never trusted).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import shopify

from adapters.shopify import auth
from adapters.shopify.settings import API_VERSION
from connector.platform import AppCredentials, InstallRefused, SessionTokenExpired

#: The only shop hosts an install may name (shopify.dev "verify the shop parameter").
SHOP_HOST = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")
#: A signed query older than this is refused (ShopifyAPI allows a day; a click is seconds old).
QUERY_MAX_AGE = timedelta(hours=1)
#: Clock skew tolerated on timestamps, exp and nbf.
LEEWAY = timedelta(seconds=10)
QUERY_FUTURE_SKEW = timedelta(minutes=5)

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
OFFLINE_TOKEN = "urn:shopify:params:oauth:token-type:offline-access-token"


def shop_host(value: object) -> str:
    """The shop exactly as given, if it is a myshopify.com host; InstallRefused otherwise.

    No normalizing here: ``Acme.myshopify.com/`` or ``https://…`` is not what Shopify sends."""
    if not isinstance(value, str) or not SHOP_HOST.match(value):
        raise InstallRefused(f"shop: {str(value)[:80]!r} is not a myshopify.com shop")
    return value


def _session_class(app: AppCredentials) -> type[shopify.Session]:
    """ShopifyAPI's Session with this app's key and secret on a subclass, not the library's."""
    return type(
        "RelanceAppSession",
        (shopify.Session,),
        {"api_key": app.client_id, "secret": app.client_secret},
    )


def verify_signed_query(
    app: AppCredentials, params: Mapping[str, str | list[str]], now: datetime
) -> str:
    """The shop of a query Shopify signed (install, callback, admin load), once shop, hmac and
    timestamp are checked, in that order; InstallRefused names what failed."""
    shop = shop_host(params.get("shop"))
    if not isinstance(params.get("hmac"), str) or not _session_class(app).validate_hmac(
        dict(params)
    ):
        raise InstallRefused("hmac: the request is not signed by Shopify")
    raw = params.get("timestamp")
    if not isinstance(raw, str) or not raw.isdigit():
        raise InstallRefused("timestamp: missing")
    signed_at = datetime.fromtimestamp(int(raw), now.tzinfo)
    if now - signed_at > QUERY_MAX_AGE or signed_at - now > QUERY_FUTURE_SKEW:
        raise InstallRefused("timestamp: the request is too old; start the install again")
    return shop


def authorize_url(app: AppCredentials, shop: str, redirect_uri: str, state: str) -> str:
    """ShopifyAPI's permission URL (12.7.0: ``create_permission_url(scope, redirect_uri,
    state)``), on ``admin_base`` when one is set."""
    session = _session_class(app)(shop_host(shop), API_VERSION)
    url: str = session.create_permission_url(list(app.scopes), redirect_uri, state)
    return _on_base(app, shop, url)


def exchange_code(
    app: AppCredentials, shop: str, code: str, *, now: datetime, timeout: float
) -> dict[str, Any]:
    """Authorization code → the connection's credentials, with an expiring offline token."""
    if not code:
        raise InstallRefused("code: missing")
    return _grant(
        app,
        shop,
        {"client_id": app.client_id, "client_secret": app.client_secret, "code": code},
        now=now,
        timeout=timeout,
    )


def exchange_session_token(
    app: AppCredentials, shop: str, session_token: str, *, now: datetime, timeout: float
) -> dict[str, Any]:
    """A verified session token → the connection's credentials (token exchange)."""
    return _grant(
        app,
        shop,
        {
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": session_token,
            "subject_token_type": ID_TOKEN,
            "requested_token_type": OFFLINE_TOKEN,
        },
        now=now,
        timeout=timeout,
    )


def _grant(
    app: AppCredentials, shop: str, body: dict[str, Any], *, now: datetime, timeout: float
) -> dict[str, Any]:
    shop = shop_host(shop)
    base = (app.admin_base or f"https://{shop}").rstrip("/")
    try:
        answer = auth.token_request(
            f"{base}/admin/oauth/access_token", {**body, "expiring": 1}, timeout=timeout
        )
    except auth.TokenRefused as exc:
        raise InstallRefused(f"Shopify refused the grant ({exc})") from exc
    credentials: dict[str, Any] = {
        "shop": shop,
        "client_id": app.client_id,
        "client_secret": app.client_secret,
    }
    return auth.apply_token_answer(credentials, answer, now)


def verify_session_token(app: AppCredentials, token: str, now: datetime) -> str:
    """The shop a session token is for; InstallRefused unless it is HS256-signed with the app
    secret, for this app (``aud``), current (``exp``/``nbf``) and names one shop (``dest``,
    ``iss``)."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        raise InstallRefused("session token: not a JWT")
    header = _json_part(parts[0])
    if header.get("alg") != "HS256":
        raise InstallRefused("session token: not HS256")
    expected = hmac.new(
        app.client_secret.encode("utf-8"), f"{parts[0]}.{parts[1]}".encode("ascii"), hashlib.sha256
    ).digest()
    if not hmac.compare_digest(expected, _b64(parts[2])):
        raise InstallRefused("session token: bad signature")
    claims = _json_part(parts[1])
    if claims.get("aud") != app.client_id:
        raise InstallRefused("session token: for another app")
    stamp = now.timestamp()
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise InstallRefused("session token: no exp")
    if exp + LEEWAY.total_seconds() < stamp:
        raise SessionTokenExpired("session token: expired")
    if nbf is not None and (not _number(nbf) or float(nbf) - LEEWAY.total_seconds() > stamp):
        raise InstallRefused("session token: not valid yet")
    shop = _host_of(claims.get("dest"))
    issuer = claims.get("iss")
    if issuer is not None and _host_of(issuer) != shop:
        raise InstallRefused("session token: issuer and destination differ")
    return shop


def _host_of(url: object) -> str:
    if not isinstance(url, str):
        raise InstallRefused("session token: no dest")
    parts = urlsplit(url)
    if parts.scheme != "https" or parts.port is not None or parts.username is not None:
        raise InstallRefused("session token: dest is not a shop's https origin")
    return shop_host(parts.hostname or "")


def _on_base(app: AppCredentials, shop: str, url: str) -> str:
    origin = f"https://{shop}"
    if app.admin_base and url.startswith(origin + "/"):
        return app.admin_base.rstrip("/") + url[len(origin) :]
    return url


def _b64(part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InstallRefused("session token: not base64url") from exc


def _json_part(part: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64(part))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InstallRefused("session token: not JSON") from exc
    if not isinstance(value, dict):
        raise InstallRefused("session token: not a JSON object")
    return value


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
