"""`onboarding`: the first run. On a store without any owner, "create your owner account";
then "create your shop"; then three ways to get invoices in: connect a platform (the command
to run, for now), upload a CSV (every row checked, errors per line, nothing written on error),
or load demo data (a demo shop of the owner's own)."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import login_required
from werkzeug.wrappers import Response

from connector.actions.accounts import (
    AccountError,
    create_shop_for_owner,
    has_owner,
    sign_up_first_owner,
)
from connector.actions.onboarding import import_csv, load_demo_data
from connector.extension import services_of
from connector.importer import ImportError_, RowError
from connector.web.auth import start_session
from connector.web.current import choose_shop, current_shop, signed_in_owner

bp = Blueprint("onboarding", __name__, url_prefix="/welcome")

TIMEZONE_DEFAULT = "Europe/Paris"


@bp.route("", methods=["GET", "POST"])
def account() -> Response | str | tuple[str, int]:
    """Sign-up, open only while the store has no owner (later owners: the CLI)."""
    sessions = services_of(current_app).sessions
    if has_owner(sessions):
        if request.method == "POST":
            return render_template("onboarding/closed.html"), 403
        return redirect(url_for("auth.signin"))
    if request.method == "GET":
        return render_template("onboarding/account.html", email="")
    email = request.form.get("email", "")
    password = request.form.get("password", "")
    if password != request.form.get("confirm", ""):
        error = "confirm: the two passwords differ; type the same one twice"
        return render_template("onboarding/account.html", email=email, error=error), 400
    try:
        owner = sign_up_first_owner(sessions, email=email, password=password, now=datetime.now(UTC))
    except AccountError as exc:
        status = 403 if has_owner(sessions) else 400
        return render_template("onboarding/account.html", email=email, error=str(exc)), status
    start_session(owner)
    return redirect(url_for(".shop"))


@bp.route("/shop", methods=["GET", "POST"])
@login_required
def shop() -> Response | str | tuple[str, int]:
    owner = signed_in_owner()
    form = {
        "name": request.form.get("name", ""),
        "email": request.form.get("email", owner.email),
        "timezone": request.form.get("timezone", TIMEZONE_DEFAULT),
        "customers": request.form.get("customers", "consumers"),
    }
    if request.method == "GET":
        return render_template("onboarding/shop.html", form=form)
    if form["customers"] not in ("consumers", "businesses"):
        error = "customers: choose consumers or businesses"
        return render_template("onboarding/shop.html", form=form, error=error), 400
    try:
        created = create_shop_for_owner(
            services_of(current_app).sessions,
            owner.id,
            name=form["name"],
            email=form["email"],
            timezone=form["timezone"].strip(),
            b2b=form["customers"] == "businesses",
        )
    except AccountError as exc:
        return render_template("onboarding/shop.html", form=form, error=str(exc)), 400
    choose_shop(created.id)
    return redirect(url_for(".start"))


@bp.get("/start")
@login_required
def start() -> Response | str:
    found = current_shop()
    if found is None:
        return redirect(url_for(".shop"))
    return render_template("onboarding/start.html", shop=found, errors=[])


@bp.post("/import")
@login_required
def upload() -> Response | str | tuple[str, int]:
    found = current_shop()
    if found is None:
        return redirect(url_for(".shop"))
    sent = request.files.get("file")
    if sent is None or not sent.filename:
        errors = [RowError(0, "file", "choose a CSV file to upload")]
        return render_template("onboarding/start.html", shop=found, errors=errors), 400
    try:
        result = import_csv(
            services_of(current_app).sessions, found.id, sent.read(), datetime.now(UTC)
        )
    except ImportError_ as exc:
        return render_template(
            "onboarding/start.html", shop=found, errors=exc.errors, filename=sent.filename
        ), 400
    flash(
        f"Imported {result.rows} invoice{'s' if result.rows != 1 else ''} from {sent.filename}: "
        f"{result.inserted} new, {result.updated} updated."
    )
    return redirect(url_for("home.index"))


@bp.post("/demo")
@login_required
def demo() -> Response:
    demo_shop = load_demo_data(services_of(current_app), signed_in_owner().id, datetime.now(UTC))
    choose_shop(demo_shop.id)
    flash(
        f"{demo_shop.name} is ready: a demo shop of your own, beside your shop. Its reminders "
        "go out on the next tick, to made-up addresses; switch shops at the top."
    )
    return redirect(url_for("home.index"))
