"""`shopify_app`: the Shopify door. `/shopify/install` (Shopify sends the owner here from the app
listing or the admin) → Shopify's authorize page → `/shopify/callback` → the owner lands signed
in to their shop. Inside the Shopify admin, any page loaded with a session token (``id_token``
in the query, or ``Authorization: Bearer`` on a fetch) signs in the shop it names, and is served
framed by that shop's admin only, with App Bridge. Outside the admin the same pages work with
the normal session. Everything decided here is done by actions.shopify_install.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user
from itsdangerous import BadData, URLSafeTimedSerializer
from werkzeug.wrappers import Response

from connector.actions.shopify_install import (
    Installed,
    InstallError,
    admin_shop,
    begin_install,
    complete_install,
    embedded_session,
)
from connector.extension import services_of
from connector.web.auth import SignedInOwner
from connector.web.current import remember_shop
from connector.web.security import allow_framing_by

bp = Blueprint("shopify_app", __name__, url_prefix="/shopify")

#: Query parameters Shopify adds to an embedded load; kept when the install URL forwards it.
EMBEDDED_PARAMS = ("shop", "host", "id_token", "embedded", "hmac", "timestamp", "locale")


def _params() -> dict[str, str | list[str]]:
    """The query as Shopify signed it (``ids[]=1&ids[]=2`` stays a list)."""
    return {
        key: request.args.getlist(key) if key.endswith("[]") else request.args[key]
        for key in request.args
    }


def _refused(error: InstallError) -> tuple[str, int]:
    return render_template("shopify/refused.html", reason=str(error)), error.status


@bp.get("/install")
def install() -> Response | tuple[str, int]:
    """Shopify's signed link → its authorize page, with a one-time state for this shop. An
    embedded load of an installed shop (signed in by the session token) goes to the home."""
    if g.get("shopify_embedded") is not None:
        kept = {k: request.args[k] for k in EMBEDDED_PARAMS if k in request.args}
        return redirect(url_for("home.index") + "?" + urlencode(kept))
    svc = services_of(current_app)
    try:
        url = begin_install(
            svc,
            _params(),
            svc.settings.base_url + url_for(".callback"),
            datetime.now(UTC),
        )
    except InstallError as exc:
        return _refused(exc)
    return redirect(url)


@bp.get("/callback")
def callback() -> Response | tuple[str, int]:
    try:
        installed = complete_install(services_of(current_app), _params(), datetime.now(UTC))
    except InstallError as exc:
        return _refused(exc)
    _sign_in(installed, fresh=True)
    welcome = "installed" if installed.new_shop else "reinstalled"
    flash(
        f"Relance is {welcome} for {installed.account}. Your unpaid orders are being fetched "
        "from Shopify: the first sync is queued and starts within a minute."
    )
    return redirect(url_for("home.index"))


@bp.before_app_request
def session_token() -> tuple[str, int] | None:
    """A page or fetch from inside the Shopify admin: the session token names the shop; a bad
    one is refused (401) before any view runs, and nothing is stored."""
    token = _session_token()
    svc = services_of(current_app)
    if not (svc.settings.shopify_api_key and svc.settings.shopify_api_secret):
        return None  # no Shopify app here: the parameter means nothing
    if token is None:
        return _bounce()
    try:
        installed = embedded_session(
            svc, token, datetime.now(UTC), shop_named=request.values.get("shop")
        )
    except InstallError as exc:
        if exc.renewable and request.args.get("id_token") == token:
            return _bounce() or _refused(exc)  # a reload keeping the URL's stale token
        return _refused(exc)
    _sign_in(installed, fresh=False)
    g.shopify_embedded = installed.account
    g.shopify_token = token
    allow_framing_by(installed.account)
    _restore_notices()
    return None


def _bounce() -> tuple[str, int] | None:
    """A page of ours loaded inside the admin without a token (a link followed before
    embedded.js ran, a reload): the iframe has no cookie, so instead of our sign-in page, a
    blank page that asks App Bridge for a token and loads the same URL with it."""
    if request.method != "GET" or not request.args.get("host") or current_user.is_authenticated:
        return None
    if request.path.startswith("/shopify/"):
        return None  # the install door decides itself
    shop = admin_shop(request.args.get("shop"))
    if shop is None:
        return None
    allow_framing_by(shop)
    return (
        render_template(
            "shopify/bounce.html",
            shopify_api_key=services_of(current_app).settings.shopify_api_key,
            shopify_shop=shop,
            shopify_host=request.args["host"],
        ),
        200,
    )


@bp.after_app_request
def keep_embedded(response: Response) -> Response:
    """Inside the admin the iframe's cookies are third-party (blocked): a redirect after a POST
    carries what the next page needs in its URL instead — the shop, host and the (short-lived,
    just verified) session token, and the flash messages, signed so no one can forge one."""
    shop = g.get("shopify_embedded")
    location = response.headers.get("Location")
    if shop is None or location is None or not 300 <= response.status_code < 400:
        return response
    parts = urlsplit(location)
    if parts.netloc and parts.netloc != request.host:
        return response  # somewhere else (Shopify's authorize page): not ours to decorate
    query = [
        (k, v) for k, v in parse_qsl(parts.query) if k not in ("shop", "host", "id_token", NOTICE)
    ]
    query += [("shop", shop), ("id_token", g.shopify_token)]
    host = request.values.get("host")
    if host:
        query.append(("host", host))
    flashes = session.pop("_flashes", None)
    if flashes:
        query.append((NOTICE, _notices().dumps(flashes)))
    response.headers["Location"] = urlunsplit(parts._replace(query=urlencode(query)))
    return response


@bp.app_context_processor
def app_bridge() -> dict[str, Any]:
    """Templates add App Bridge (and its api-key meta, the shop and host embedded.js keeps on
    every link and form) on embedded responses only."""
    shop = g.get("shopify_embedded")
    if shop is None:
        return {"shopify_api_key": None}
    return {
        "shopify_api_key": services_of(current_app).settings.shopify_api_key,
        "shopify_shop": shop,
        "shopify_host": request.values.get("host", ""),
    }


#: The query parameter carrying an embedded redirect's flash messages (signed).
NOTICE = "notice"
#: How long a carried message is shown again: a redirect is followed at once.
NOTICE_MAX_AGE = 120


def _notices() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key or "", salt="relance embedded notice")


def _restore_notices() -> None:
    """The messages a redirect carried (see keep_embedded), back where the page shows them."""
    carried = request.args.get(NOTICE)
    if not carried:
        return
    try:
        flashes = _notices().loads(carried, max_age=NOTICE_MAX_AGE)
    except BadData:
        return  # forged, or stale: shown nowhere
    if isinstance(flashes, list):
        session["_flashes"] = [tuple(item) for item in flashes if len(item) == 2]


def _session_token() -> str | None:
    if request.path.startswith(("/webhooks/", "/static/")):
        return None
    bearer = request.headers.get("Authorization", "")
    if bearer.startswith("Bearer "):
        return bearer.removeprefix("Bearer ").strip() or None
    if request.method == "POST" and request.form.get("id_token"):
        return request.form["id_token"]  # a form inside the admin (static/embedded.js)
    return request.args.get("id_token") or None


def session_token_authenticated() -> bool:
    """This request was signed in by a verified session token (not by the cookie)."""
    return g.get("shopify_embedded") is not None


def _sign_in(installed: Installed, *, fresh: bool) -> None:
    """The shop's owner, on that shop. ``fresh``: a new session (the callback's)."""
    if fresh:
        session.clear()
    login_user(SignedInOwner(installed.owner))
    remember_shop(installed.shop.id)
