"""`/`: a sign-in page, and behind it the operator's read-only overview of every shop.

Nothing about any shop is shown without signing in. Until owner accounts exist, the only way
in is the operator token (RELANCE_OVERVIEW_TOKEN), unset — so the overview off — by default.
The session holds a keyed fingerprint of the token, never the token: changing the token signs
every browser out."""

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

bp = Blueprint("overview", __name__)

_SESSION_KEY = "operator"


def _configured_token() -> str | None:
    return services_of(current_app).settings.overview_token


def _fingerprint(token: str) -> str:
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, b"relance-overview:" + token.encode(), hashlib.sha256).hexdigest()


def _signed_in() -> bool:
    token = _configured_token()
    held = session.get(_SESSION_KEY)
    if not token or not isinstance(held, str):
        return False
    return hmac.compare_digest(held, _fingerprint(token))


@bp.get("/")
def index() -> str | tuple[str, int]:
    if not _signed_in():
        return render_template("signin.html", overview_enabled=bool(_configured_token()))
    data = operator_overview(services_of(current_app).sessions)
    return render_template("index.html", overview=data)


@bp.post("/signin")
def signin() -> Response | tuple[str, int]:
    token = _configured_token()
    if not token:
        raise NotFound()
    given = request.form.get("token", "")
    if not hmac.compare_digest(given.encode(), token.encode()):
        error = "That is not the operator token configured in RELANCE_OVERVIEW_TOKEN."
        return render_template("signin.html", overview_enabled=True, error=error), 401
    session.clear()
    session[_SESSION_KEY] = _fingerprint(token)
    return redirect(url_for(".index"))


@bp.post("/signout")
def signout() -> Response:
    session.clear()
    return redirect(url_for(".index"))
