"""The Flask app factory: the pages and the webhook intake, one blueprint per feature.

No scheduler here: web workers never run jobs (see connector.scheduler). Every form is behind
CSRF protection except the webhook blueprint, whose signature is its authentication; owners
sign in (Flask-Login), their attempts rate-limited (Flask-Limiter); every response carries the
security headers of connector.web.security."""

from __future__ import annotations

import hashlib
import hmac

from flask import Flask, Request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

from connector.config import Settings
from connector.crypto import local_key
from connector.extension import init_services
from connector.services import Services
from connector.web import (
    auth,
    dashboard,
    dossier,
    health,
    home,
    invoices,
    onboarding,
    overview,
    tasks,
)
from connector.web.filters import DATE_FILTERS
from connector.web.security import add_security_headers
from connector.webhooks import routes as webhook_routes


def create_app(settings: Settings | None = None, services: Services | None = None) -> Flask:
    settings = settings or (services.settings if services else Settings.from_env())
    app = Flask(__name__)
    app.config.from_mapping(
        SECRET_KEY=session_secret(settings),
        MAX_CONTENT_LENGTH=settings.max_webhook_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.base_url.startswith("https://"),
    )
    app.session_interface = _NoSessionOnWebhooks()
    init_services(app, services or Services.build(settings))
    app.jinja_env.filters.update(DATE_FILTERS)
    csrf = CSRFProtect(app)
    csrf.exempt(webhook_routes.bp)  # signed, so never behind CSRF
    app.after_request(add_security_headers)
    for blueprint in (
        health.bp,
        auth.bp,
        onboarding.bp,
        home.bp,
        invoices.bp,
        overview.bp,
        dossier.bp,
        tasks.bp,
        dashboard.bp,
        webhook_routes.bp,
    ):
        app.register_blueprint(blueprint)
    limiter = Limiter(
        key_func=get_remote_address, app=app, storage_uri=settings.ratelimit_storage_uri
    )
    auth.init_auth(app, limiter)
    return app


def session_secret(settings: Settings) -> str:
    """RELANCE_FLASK_SECRET, else a key derived from the newest secrets key: the same in every
    web process of a deployment (a random one per process would sign people out at random)."""
    if settings.flask_secret_key:
        return settings.flask_secret_key
    base = settings.secret_keys[0] if settings.secret_keys else local_key(settings.var_dir)
    return hmac.new(base.encode(), b"relance flask session", hashlib.sha256).hexdigest()


class _NoSessionOnWebhooks(SecureCookieSessionInterface):
    """Platforms' deliveries carry no cookie and get none: no session is opened for them (it
    cost ~70 µs of a delivery's ~1 ms), so the intake cannot depend on one by accident."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith("/webhooks/"):
            return self.null_session_class()
        return super().open_session(app, request)
