"""`auth`: sign-in, sign-out, forgotten password and reset, for owners.

The session user (Flask-Login) is the owner's id with a fingerprint of their password hash:
a password change ends every other session. Sign-in and reset requests are rate-limited per
client address and per email (Flask-Limiter): the 11th failure in a minute gets 429."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    Flask,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from werkzeug.exceptions import TooManyRequests
from werkzeug.wrappers import Response

from connector.actions.accounts import (
    SIGN_IN_REFUSED,
    AccountError,
    OwnerAccount,
    authenticate,
    check_reset_token,
    has_owner,
    owner_for_session,
    request_password_reset,
    reset_password,
)
from connector.extension import services_of

bp = Blueprint("auth", __name__)

ATTEMPTS_PER_MINUTE = "10 per minute"
RATE_LIMITED_ENDPOINTS = ("auth.signin", "auth.forgot")


class SignedInOwner(UserMixin):
    """Flask-Login's user: the owner's account, identified by id and password fingerprint."""

    def __init__(self, account: OwnerAccount) -> None:
        self.account = account

    def get_id(self) -> str:
        return f"{self.account.id}:{self.account.session_fingerprint}"


def init_auth(app: Flask, limiter: Limiter) -> None:
    """Flask-Login on the app, and the attempt limits on the sign-in and reset forms."""
    manager = LoginManager(app)
    manager.login_view = "auth.signin"
    manager.login_message = "Sign in to continue."
    manager.user_loader(_load_owner)
    for endpoint in RATE_LIMITED_ENDPOINTS:
        view: Any = app.view_functions[endpoint]
        by_address = limiter.limit(
            ATTEMPTS_PER_MINUTE, key_func=get_remote_address, methods=["POST"], deduct_when=_failed
        )
        by_email = limiter.limit(
            ATTEMPTS_PER_MINUTE, key_func=_email_key, methods=["POST"], deduct_when=_failed
        )
        limited: Any = by_email(by_address(view))
        app.view_functions[endpoint] = limited
    app.register_error_handler(TooManyRequests, _too_many)


def _load_owner(user_id: str) -> SignedInOwner | None:
    owner_id, _, fingerprint = user_id.partition(":")
    if not owner_id.isdigit():
        return None
    account = owner_for_session(services_of(current_app).sessions, int(owner_id), fingerprint)
    return SignedInOwner(account) if account is not None else None


def _email_key() -> str:
    return "email:" + request.form.get("email", "").strip().lower()


def _failed(response: Response) -> bool:
    """A successful sign-in (a redirect) does not count against the limit."""
    return response.status_code != 302


def _too_many(_error: TooManyRequests) -> tuple[str, int]:
    return render_template("auth/too_many.html"), 429


@bp.route("/signin", methods=["GET", "POST"])
def signin() -> Response | str | tuple[str, int]:
    if not has_owner(services_of(current_app).sessions):
        return redirect(url_for("onboarding.account"))
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(url_for("home.index"))
        return render_template("auth/signin.html", email="")
    email = request.form.get("email", "")
    account = authenticate(
        services_of(current_app).sessions,
        email=email,
        password=request.form.get("password", ""),
        now=datetime.now(UTC),
    )
    if account is None:
        return render_template("auth/signin.html", email=email, error=SIGN_IN_REFUSED), 401
    start_session(account)
    return redirect(url_for("home.index"))


def start_session(account: OwnerAccount) -> None:
    """A fresh session for the owner (nothing carried over from before signing in)."""
    session.clear()
    login_user(SignedInOwner(account))


@bp.post("/signout")
def signout() -> Response:
    logout_user()
    session.clear()
    return redirect(url_for("auth.signin"))


@bp.route("/forgot", methods=["GET", "POST"])
def forgot() -> Response | str | tuple[str, int]:
    if request.method == "GET":
        return render_template("auth/forgot.html")
    services = services_of(current_app)
    request_password_reset(
        services.sessions,
        services.transport(),
        email=request.form.get("email", ""),
        signing_key=_signing_key(),
        link_for=_reset_link,
        mail_from=services.settings.mail_from,
        now=datetime.now(UTC),
    )
    # The same page whether or not the email has an account.
    return render_template("auth/forgot.html", sent=True)


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset(token: str) -> Response | str | tuple[str, int]:
    try:
        check_reset_token(
            services_of(current_app).sessions, token, _signing_key(), datetime.now(UTC)
        )
    except AccountError as exc:
        return render_template("auth/reset.html", token=None, error=str(exc)), 400
    if request.method == "GET":
        return render_template("auth/reset.html", token=token)
    password = request.form.get("password", "")
    if password != request.form.get("confirm", ""):
        error = "confirm: the two passwords differ; type the same one twice"
        return render_template("auth/reset.html", token=token, error=error), 400
    try:
        account = reset_password(
            services_of(current_app).sessions,
            token=token,
            new_password=password,
            signing_key=_signing_key(),
            now=datetime.now(UTC),
        )
    except AccountError as exc:
        return render_template("auth/reset.html", token=token, error=str(exc)), 400
    start_session(account)
    return redirect(url_for("home.index"))


def _signing_key() -> str:
    return str(current_app.config["SECRET_KEY"])


def _reset_link(token: str) -> str:
    """Built on RELANCE_BASE_URL, never on the request's Host header (a forged Host would
    otherwise mail the owner a link to someone else's site)."""
    return services_of(current_app).settings.base_url + url_for("auth.reset", token=token)
