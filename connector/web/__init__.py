"""The Flask app factory: settings page and the webhook intake, one blueprint each.

No scheduler here: web workers never run jobs (see connector.scheduler)."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

from connector.config import Settings
from connector.services import Services
from connector.web.filters import DATE_FILTERS


def create_app(settings: Settings | None = None, services: Services | None = None) -> Flask:
    settings = settings or (services.settings if services else Settings.from_env())
    app = Flask(__name__)
    app.config.from_mapping(
        SECRET_KEY=settings.flask_secret_key or secrets.token_hex(32),
        MAX_CONTENT_LENGTH=settings.max_webhook_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.base_url.startswith("https://"),
    )
    app.session_interface = _NoSessionOnWebhooks()
    init_services(app, services or Services.build(settings))
    app.jinja_env.filters.update(DATE_FILTERS)
    from connector.web import dashboard
    from connector.webhooks import routes as webhook_routes

    app.register_blueprint(dashboard.bp)
    app.register_blueprint(webhook_routes.bp)  # signed, so never behind CSRF
    return app


class _NoSessionOnWebhooks(SecureCookieSessionInterface):
    """Platforms' deliveries carry no cookie and get none: no session is opened for them (it
    cost ~70 µs of a delivery's ~1 ms), so the intake cannot depend on one by accident."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith("/webhooks/"):
            return self.null_session_class()
        return super().open_session(app, request)


def init_services(app: Flask, services: Services) -> None:
    app.extensions["relance"] = services


def services_of(app: Any) -> Services:
    svc = app.extensions["relance"]
    assert isinstance(svc, Services)
    return svc
