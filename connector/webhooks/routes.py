"""The webhook blueprint: read the raw bytes (bounded), hand them to the intake, answer.

No business logic and no CSRF here: the signature is the authentication.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from connector.extension import services_of
from connector.webhooks.activity import IntakeActivity
from connector.webhooks.applier import OnStored
from connector.webhooks.intake import TOO_LARGE, IntakeResult, WebhookIntake

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")

_INTAKE_KEY = "relance.webhook_intake"
_SERVE_KEY = "relance.webhook_serve"


@dataclass(frozen=True, slots=True)
class ServeHooks:
    """`relance serve`'s: who applies what the intake only stores (RELANCE_WEBHOOK_APPLY=worker:
    its pump, woken per delivery), and the count of deliveries in progress that its pump and
    tick give the way to (connector.webhooks.activity)."""

    activity: IntakeActivity
    on_stored: OnStored | None = None


def attach_serve(app: Flask, hooks: ServeHooks) -> None:
    """Set before the first delivery."""
    app.extensions[_SERVE_KEY] = hooks


def intake_of(app: Flask) -> WebhookIntake:
    """The app's one intake (made at the first delivery, after `relance serve`'s hooks)."""
    found = app.extensions.get(_INTAKE_KEY)
    if found is None:
        hooks = app.extensions.get(_SERVE_KEY)
        found = WebhookIntake(
            services_of(app),
            on_stored=hooks.on_stored if hooks is not None else None,
            activity=hooks.activity if hooks is not None else None,
        )
        app.extensions[_INTAKE_KEY] = found
    assert isinstance(found, WebhookIntake)
    return found


def intake() -> WebhookIntake:
    return intake_of(current_app._get_current_object())  # type: ignore[attr-defined]


def _body(limit: int) -> bytes | None:
    """The raw body, or None when it is over the limit (declared or actual).

    A body without Content-Length (``Transfer-Encoding: chunked``) is read through werkzeug's
    max-limited stream, which stops *at* the limit without raising: read with the app's limit,
    an over-long body came back cut to exactly ``limit`` bytes, its signature failed and it
    was answered 401. One byte more is allowed for this request, so "over" is seen as such."""
    if request.content_length is not None and request.content_length > limit:
        return None
    request.max_content_length = limit + 1
    try:
        data = request.get_data(cache=False)
    except RequestEntityTooLarge:
        return None
    return None if len(data) > limit else data


def _answer(result: IntakeResult) -> tuple[Response, int]:
    response = jsonify(result.as_json())
    if result.retry_after is not None:
        response.headers["Retry-After"] = str(result.retry_after)
    return response, result.status


def _headers() -> dict[str, str]:
    return {k: v for k, v in request.headers.items()}


@bp.post("/<platform>/<int:connection_id>")
def platform_webhook(platform: str, connection_id: int) -> tuple[Response, int]:
    service = intake()
    with service.receiving():
        body = _body(service.max_bytes)
        if body is None:
            return _answer(TOO_LARGE)
        return _answer(service.receive(platform, connection_id, _headers(), body))


@bp.post("/shopify")
def shopify_app_webhook() -> tuple[Response, int]:
    """App-level topics, including customers/data_request, customers/redact, shop/redact."""
    service = intake()
    with service.receiving():
        body = _body(service.max_bytes)
        if body is None:
            return _answer(TOO_LARGE)
        return _answer(service.receive_shopify_app(_headers(), body))


@bp.post("/sendgrid")
def sendgrid_webhook() -> tuple[Response, int]:
    service = intake()
    with service.receiving():
        body = _body(service.max_bytes)
        if body is None:
            return _answer(TOO_LARGE)
        return _answer(service.receive_sendgrid(_headers(), body))
