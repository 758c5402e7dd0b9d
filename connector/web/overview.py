"""`/overview`: the operator's read-only overview of every shop, behind its own sign-in.

It spans shops by design, so it is off unless RELANCE_OVERVIEW_TOKEN is set (404 then), and
shown only after signing in with that token. The session holds a keyed fingerprint of the
token, never the token: changing the token signs every operator out. Owners see their own
shop at `/` (connector.web.home)."""

from __future__ import annotations

import hashlib
import hmac

from flask import (
    Blueprint,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response

from connector.actions.overview import operator_overview
from connector.extension import services_of

bp = Blueprint("overview", __name__, url_prefix="/overview")

_SESSION_KEY = "operator"


def _configured_token() -> str | None:
    return services_of(current_app).settings.overview_token


def _fingerprint(token: str) -> str:
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, b"relance-overview:" + token.encode(), hashlib.sha256).hexdigest()


def operator_signed_in() -> bool:
    token = _configured_token()
    held = session.get(_SESSION_KEY)
    if not token or not isinstance(held, str):
        return False
    return hmac.compare_digest(held, _fingerprint(token))


@bp.get("")
def index() -> str:
    if not _configured_token():
        raise NotFound()
    if not operator_signed_in():
        return render_template("overview/signin.html")
    data = operator_overview(services_of(current_app).sessions)
    return render_template("overview/index.html", overview=data)


@bp.post("/signin")
def signin() -> Response | tuple[str, int]:
    token = _configured_token()
    if not token:
        raise NotFound()
    given = request.form.get("token", "")
    if not hmac.compare_digest(given.encode(), token.encode()):
        error = "That is not the operator token configured in RELANCE_OVERVIEW_TOKEN."
        return render_template("overview/signin.html", error=error), 401
    session.clear()
    session[_SESSION_KEY] = _fingerprint(token)
    return redirect(url_for(".index"))
