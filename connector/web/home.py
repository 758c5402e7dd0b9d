"""`home`: `/`. A signed-in owner gets their current shop (its name and its invoices, nothing
of any other shop) and a switcher if they belong to several; the operator goes to the
overview; a store without any owner starts the first run; anyone else signs in."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from connector.actions.accounts import NotAMember, has_owner, shops_of_owner
from connector.actions.home import shop_home
from connector.extension import services_of
from connector.web.current import choose_shop, current_shop, signed_in_owner
from connector.web.overview import operator_signed_in

bp = Blueprint("home", __name__)


@bp.get("/")
def index() -> Response | str:
    if not current_user.is_authenticated:
        if operator_signed_in():
            return redirect(url_for("overview.index"))
        if not has_owner(services_of(current_app).sessions):
            return redirect(url_for("onboarding.account"))
        return redirect(url_for("auth.signin"))
    found = current_shop()
    if found is None:
        return redirect(url_for("onboarding.shop"))
    sessions = services_of(current_app).sessions
    return render_template(
        "home/index.html",
        home=shop_home(sessions, found.id),
        shops=shops_of_owner(sessions, signed_in_owner().id),
    )


@bp.post("/shop")
@login_required
def switch() -> Response:
    """Change the current shop: only to one the owner is a member of (404 otherwise)."""
    raw = request.form.get("shop_id", "")
    if not raw.isdigit():
        abort(404)
    try:
        choose_shop(int(raw))
    except NotAMember:
        abort(404)
    return redirect(url_for(".index"))
