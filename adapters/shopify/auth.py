"""Expiring offline access tokens: when to refresh, and the refresh call ShopifyAPI lacks.

Shopify's refresh (shopify.dev "offline access tokens", @shopify/shopify-api ``refreshToken``):
``POST https://{shop}/admin/oauth/access_token`` with a JSON body
``{client_id, client_secret, grant_type: "refresh_token", refresh_token}``; the answer is
``{access_token, scope, expires_in, refresh_token, refresh_token_expires_in}`` (seconds). Each
refresh rotates the refresh token; since 2026-08-28 the previous one stays usable until the new
one is first used, so a pair that could not be saved is not lost -- hence *save first, use after*.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from http.client import HTTPException
from typing import Any

from adapters.shopify.exceptions import (
    ShopifyConfigError,
    ShopifyMalformedResponse,
    ShopifyTokenRefreshError,
    ShopifyTransportError,
)

_SHOP_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")


def normalize_shop(value: Any) -> str:
    """``https://Acme.myshopify.com/`` or ``acme`` -> ``acme.myshopify.com``; else refuse.

    The refresh call sends the client secret to this host, so nothing but a myshopify.com
    domain is accepted (tests point ``api_base`` at a local server instead).
    """
    if not isinstance(value, str) or not value.strip():
        raise ShopifyConfigError("the connection has no shop domain")
    host = value.strip().lower()
    host = re.sub(r"^https?://", "", host).split("/", 1)[0]
    if "." not in host:
        host = f"{host}.myshopify.com"
    if not _SHOP_DOMAIN.match(host):
        raise ShopifyConfigError(f"not a myshopify.com shop domain: {value!r}")
    return host


def parse_expiry(value: Any) -> datetime | None:
    """Stored ``expires_at``: ISO 8601 (naive means UTC) or epoch seconds; None if absent."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            try:
                return datetime.fromtimestamp(float(value), UTC)
            except ValueError as exc:
                raise ShopifyConfigError(f"unreadable expires_at {value!r}") from exc
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    raise ShopifyConfigError(f"unreadable expires_at {value!r}")


def needs_refresh(credentials: Mapping[str, Any], now: datetime, margin: timedelta) -> bool:
    """True when the token expires within ``margin`` and a refresh token is at hand."""
    if not credentials.get("refresh_token"):
        return False
    expires_at = parse_expiry(credentials.get("expires_at"))
    return expires_at is not None and expires_at - now <= margin


def refresh_credentials(
    credentials: Mapping[str, Any],
    *,
    token_url: str,
    now: datetime,
    timeout: float,
    opener: Callable[..., Any] = urllib.request.urlopen,
) -> dict[str, Any]:
    """Exchange the refresh token; return the whole new credentials dict (not yet saved)."""
    missing = [
        key for key in ("client_id", "client_secret", "refresh_token") if not credentials.get(key)
    ]
    if missing:
        raise ShopifyConfigError(f"cannot refresh the token without {', '.join(missing)}")
    try:
        payload = token_request(
            token_url,
            {
                "client_id": credentials["client_id"],
                "client_secret": credentials["client_secret"],
                "grant_type": "refresh_token",
                "refresh_token": credentials["refresh_token"],
            },
            timeout=timeout,
            opener=opener,
        )
    except TokenRefused as exc:
        raise ShopifyTokenRefreshError(f"Shopify refused the refresh token ({exc})") from exc
    return apply_token_answer(credentials, payload, now)


class TokenRefused(Exception):
    """The token endpoint said no (400/401/403): the message is its status and OAuth error."""


def token_request(
    token_url: str,
    body: Mapping[str, Any],
    *,
    timeout: float,
    opener: Callable[..., Any] = urllib.request.urlopen,
) -> dict[str, Any]:
    """POST one grant to ``/admin/oauth/access_token`` (with a timeout); the JSON answer, which
    holds an ``access_token``; TokenRefused when the endpoint says no (400, 401, 403)."""
    request = urllib.request.Request(
        token_url,
        data=json.dumps(dict(body)).encode("utf-8"),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        method="POST",
    )
    try:
        with opener(request, timeout=timeout) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        reason = _oauth_error(exc)
        if exc.code in (400, 401, 403):
            raise TokenRefused(f"{exc.code} {reason}") from exc
        raise ShopifyTransportError(
            f"token request failed with HTTP {exc.code} {reason}", status=exc.code
        ) from exc
    except (urllib.error.URLError, OSError, HTTPException) as exc:
        raise ShopifyTransportError(f"token request failed: {exc}") from exc

    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ShopifyMalformedResponse("token answer is not JSON") from exc
    if not isinstance(payload, dict):
        raise ShopifyMalformedResponse("token answer is not an object")
    token = payload.get("access_token")
    if not isinstance(token, str) or not token:
        raise ShopifyMalformedResponse("token answer has no access_token")
    return payload


def apply_token_answer(
    credentials: Mapping[str, Any], payload: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """The credentials with a token answer's pair and expiries in (a new dict)."""
    updated = dict(credentials)
    updated["access_token"] = payload["access_token"]
    new_refresh = payload.get("refresh_token")
    if isinstance(new_refresh, str) and new_refresh:
        updated["refresh_token"] = new_refresh
    updated["expires_at"] = _expiry(payload.get("expires_in"), now)
    if "refresh_token_expires_in" in payload:
        updated["refresh_token_expires_at"] = _expiry(payload.get("refresh_token_expires_in"), now)
    if isinstance(payload.get("scope"), str):
        updated["scope"] = payload["scope"]
    return updated


def _expiry(seconds: Any, now: datetime) -> str | None:
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ShopifyMalformedResponse(f"token lifetime is not a number: {seconds!r}")
    return (now + timedelta(seconds=float(seconds))).astimezone(UTC).isoformat()


def _oauth_error(exc: urllib.error.HTTPError) -> str:
    """``invalid_grant`` & co. from an OAuth error body, for the message only."""
    try:
        payload = json.loads(exc.read() or b"{}")
    except (ValueError, OSError):
        return ""
    if isinstance(payload, dict):
        return str(payload.get("error") or payload.get("errors") or "")
    return ""
