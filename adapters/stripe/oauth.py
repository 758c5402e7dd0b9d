"""Stripe Connect OAuth for a deployment run as a Connect platform: the authorize URL and the
code exchange (``POST /oauth/token`` on the connect base), with the platform's own secret key,
one client per call and a timeout: no global SDK state."""

from __future__ import annotations

from typing import Final

import stripe

from adapters.stripe import settings
from connector.platform import AdapterAuthError, AdapterMalformedResponse

TIMEOUT_SECONDS: Final = 20.0


def _client(secret_key: str, client_id: str | None, connect_base: str) -> stripe.StripeClient:
    return stripe.StripeClient(
        secret_key,
        client_id=client_id,
        stripe_version=settings.API_VERSION,
        base_addresses={"connect": connect_base.rstrip("/")},
        http_client=stripe.RequestsClient(timeout=TIMEOUT_SECONDS),
        max_network_retries=1,
    )


def authorize_url(
    client_id: str, state: str, redirect_uri: str, *, connect_base: str, secret_key: str
) -> str:
    """``{connect}/oauth/authorize?response_type=code&client_id=…&scope=read_write&state=…``."""
    client = _client(secret_key, client_id, connect_base)
    return client.oauth.authorize_url(
        {
            "client_id": client_id,
            "response_type": "code",
            "scope": "read_write",
            "state": state,
            "redirect_uri": redirect_uri,
        }
    )


def exchange_code(code: str, *, secret_key: str, connect_base: str) -> str:
    """The connected account (``acct_…``) the code grants access to. Its access token is not
    kept: every call is made with the platform key and ``Stripe-Account``, as Stripe advises."""
    client = _client(secret_key, None, connect_base)
    try:
        token = client.oauth.token({"grant_type": "authorization_code", "code": code})
    except stripe.StripeError as exc:
        detail = exc.user_message or getattr(exc, "code", None) or type(exc).__name__
        raise AdapterAuthError(f"Stripe refused the authorization: {detail}") from exc
    account = getattr(token, "stripe_user_id", None)
    if not isinstance(account, str) or not account.startswith("acct_"):
        raise AdapterMalformedResponse("Stripe: the OAuth answer names no connected account")
    return account
