"""The webhook intake's fast path: a WSGI layer in front of the Flask app that answers the three
delivery routes itself — no request context, no session interface, no CSRF or rate-limit hooks,
no URL map — and hands every other request (and any delivery it does not take: no valid
``Content-Length``, a chunked body) to Flask unchanged.

Under a storm, Flask's machinery around a delivery cost about as much CPU as storing it, and on
`relance serve` that CPU is shared (one interpreter lock) with the tick's senders and the pump.
The pipeline is the same one the blueprint calls (:class:`WebhookIntake`): size limit, unknown
connection, signature first, parse, store, answer — with the same answers and the same
security headers every response carries (``connector.web.security``).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from werkzeug.datastructures import EnvironHeaders

from connector.web.security import SECURITY_HEADERS
from connector.webhooks.intake import TOO_LARGE, IntakeResult, WebhookIntake
from connector.webhooks.routes import intake_of

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from flask import Flask

log = logging.getLogger(__name__)

#: ``/webhooks/<platform>/<int:connection_id>`` as the blueprint's rule matches it.
_PLATFORM_PATH = re.compile(r"/webhooks/([^/]+)/([0-9]+)")

INCOMPLETE = IntakeResult(400, "body shorter than its Content-Length")
FAILED = IntakeResult(500, "internal error")

_Receive = Callable[[WebhookIntake, Mapping[str, str], bytes], IntakeResult]

#: The app-level routes, by exact path.
_APP_ROUTES: dict[str, _Receive] = {
    "/webhooks/shopify": lambda service, headers, body: service.receive_shopify_app(headers, body),
    "/webhooks/sendgrid": lambda service, headers, body: service.receive_sendgrid(headers, body),
}


class WebhookFastPath:
    """``app.wsgi_app = WebhookFastPath(app, app.wsgi_app)``."""

    def __init__(self, app: Flask, wsgi_app: WSGIApplication) -> None:
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        receive = self._route(environ) if environ.get("REQUEST_METHOD") == "POST" else None
        length = _content_length(environ) if receive is not None else None
        if receive is None or length is None:
            return self.wsgi_app(environ, start_response)
        service = intake_of(self.app)
        try:
            with service.receiving():
                if length > service.max_bytes:
                    return _answer(TOO_LARGE, start_response)
                body = _read(environ["wsgi.input"], length)
                if body is None:
                    return _answer(INCOMPLETE, start_response)
                result = receive(service, dict(EnvironHeaders(environ).items()), body)
        except Exception:
            if self._propagate():
                raise
            log.exception("webhook delivery to %s failed", environ.get("PATH_INFO"))
            result = FAILED
        return _answer(result, start_response)

    def _route(self, environ: WSGIEnvironment) -> _Receive | None:
        path = environ.get("PATH_INFO") or ""
        if not path.startswith("/webhooks/"):
            return None
        found = _APP_ROUTES.get(path)
        if found is not None:
            return found
        match = _PLATFORM_PATH.fullmatch(path)
        if match is None:
            return None
        platform, connection_id = match[1], int(match[2])
        return lambda service, headers, body: service.receive(
            platform, connection_id, headers, body
        )

    def _propagate(self) -> bool:
        """As Flask does: exceptions reach the caller in testing and debug mode."""
        configured = self.app.config.get("PROPAGATE_EXCEPTIONS")
        return bool(configured if configured is not None else self.app.testing or self.app.debug)


def _content_length(environ: WSGIEnvironment) -> int | None:
    """The declared length; None when absent or unreadable (Flask's path handles those)."""
    raw = environ.get("CONTENT_LENGTH")
    if not raw:
        return None
    try:
        length = int(raw)
    except ValueError:
        return None
    return length if length >= 0 else None


def _read(stream: Any, length: int) -> bytes | None:
    """Exactly ``length`` bytes of the body, or None when the client sent fewer."""
    parts: list[bytes] = []
    remaining = length
    while remaining > 0:
        chunk = stream.read(remaining)
        if not chunk:
            return None
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


def _answer(result: IntakeResult, start_response: StartResponse) -> list[bytes]:
    """The blueprint's answer: the result as JSON (as ``jsonify`` writes it), Retry-After when
    set, and the security headers."""
    body = json.dumps(result.as_json(), separators=(",", ":"), sort_keys=True).encode() + b"\n"
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        *SECURITY_HEADERS.items(),
    ]
    if result.retry_after is not None:
        headers.append(("Retry-After", str(result.retry_after)))
    start_response(f"{result.status} {HTTPStatus(result.status).phrase}", headers)
    return [body]
