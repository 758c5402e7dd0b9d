"""The Flask app factory: the pages and the webhook intake, one blueprint per feature.

No scheduler here: web workers never run jobs (see connector.scheduler). Every form is behind
CSRF protection except the webhook blueprint, whose signature is its authentication; owners
sign in (Flask-Login), their attempts rate-limited (Flask-Limiter); every response carries the
security headers of connector.web.security."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from flask import Flask, Request, request
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
    connections,
    dashboard,
    dossier,
    errors,
    health,
    home,
    invoices,
    onboarding,
    overview,
    platform_callbacks,
    sequences,
    shopify_app,
    tasks,
)
from connector.web import settings as settings_pages
from connector.web.filters import DATE_FILTERS, PAGE_GLOBALS, TEXT_FILTERS
from connector.web.security import add_security_headers
from connector.web.webhook_fast_path import WebhookFastPath
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
        # CSRF is checked by _csrf below, once the session token has been looked at.
        WTF_CSRF_CHECK_DEFAULT=False,
    )
    app.session_interface = _NoSessionOnWebhooks()
    init_services(app, services or Services.build(settings))
    app.jinja_env.filters.update(DATE_FILTERS)
    app.jinja_env.filters.update(TEXT_FILTERS)
    app.jinja_env.globals.update(PAGE_GLOBALS)
    csrf = CSRFProtect(app)
    app.after_request(add_security_headers)
    for blueprint in (
        health.bp,
        auth.bp,
        onboarding.bp,
        home.bp,
        invoices.bp,
        dossier.bp,
        tasks.bp,
        dashboard.bp,
        connections.bp,
        sequences.bp,
        settings_pages.bp,
        overview.bp,
        shopify_app.bp,
        platform_callbacks.bp,
        webhook_routes.bp,
    ):
        app.register_blueprint(blueprint)
    app.before_request(_csrf_guard(csrf))  # after shopify_app's session-token hook
    limiter = Limiter(
        key_func=get_remote_address, app=app, storage_uri=settings.ratelimit_storage_uri
    )
    auth.init_auth(app, limiter)
    errors.init_errors(app)
    # Deliveries skip Flask's request machinery (the blueprint still serves what it passes on).
    app.wsgi_app = WebhookFastPath(app, app.wsgi_app)  # type: ignore[method-assign]
    return app


#: Blueprints never behind CSRF: webhooks are signed; a platform's server calls the callbacks,
#: its one-time token the proof.
CSRF_EXEMPT = frozenset((webhook_routes.bp.name, platform_callbacks.bp.name))


def _csrf_guard(csrf: CSRFProtect) -> Callable[[], None]:
    """Every form POST carries the session's CSRF token — except a request signed in by a
    Shopify session token (HS256 with the app secret, for this app, one minute long: a site
    elsewhere cannot mint one, so it proves the request comes from the admin's page), whose
    iframe has no cookie to keep a CSRF token in."""

    def check() -> None:
        if request.method not in CSRF_METHODS or request.endpoint is None:
            return
        if request.blueprint in CSRF_EXEMPT or shopify_app.session_token_authenticated():
            return
        csrf.protect()

    return check


CSRF_METHODS = frozenset(("POST", "PUT", "PATCH", "DELETE"))


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
