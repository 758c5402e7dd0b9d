"""`settings`: the owner's legal, sending and identity settings, and customers' postal
addresses. Each page is a form with the French defaults and their sources; a bad value is shown
next to its field and nothing of the form is saved. Every query goes through the signed-in
owner's current shop; a customer of another shop is a 404."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from connector.actions import settings as actions
from connector.actions.accounts import ShopSummary
from connector.domain.dates import local_date
from connector.domain.rates import half_year_label, half_year_start
from connector.extension import services_of
from connector.web.current import require_shop

bp = Blueprint("settings", __name__, url_prefix="/settings")

Form = TypeVar("Form", actions.LegalSettings, actions.SendingSettings, actions.IdentitySettings)
PageResult = Response | str | tuple[str, int]

#: Each page: its template, the form it reads, the action that saves it, what it says after.
PAGES: dict[str, tuple[str, type[Any], Callable[..., actions.SettingsView], str]] = {
    "legal": ("settings/legal.html", actions.LegalSettings, actions.update_legal, "Legal"),
    "sending": (
        "settings/sending.html",
        actions.SendingSettings,
        actions.update_sending,
        "Sending",
    ),
    "identity": (
        "settings/identity.html",
        actions.IdentitySettings,
        actions.update_identity,
        "Identity",
    ),
}


def _shop() -> ShopSummary:
    found = require_shop()
    return found


def _today(shop: ShopSummary) -> date:
    return local_date(datetime.now(UTC), shop.timezone)


def _form(kind: type[Form]) -> Form:
    """The dataclass from the posted text fields it knows (one not posted stays unchanged);
    the CLI's repeatable ``ecb_rates`` is not a form field (the page adds one rate at a time)."""
    given: dict[str, Any] = {
        name: request.form[name]
        for name in kind.__dataclass_fields__
        if name in request.form and name != "ecb_rates"
    }
    return kind(**given)


@bp.get("")
@login_required
def index() -> Response:
    return redirect(url_for(".legal"))


def _page(name: str) -> PageResult:
    shop = _shop()
    template, kind, save, title = PAGES[name]
    svc = services_of(current_app)
    today = _today(shop)
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            save(svc, shop.id, _form(kind), today)
        except actions.SettingsError as exc:
            errors = exc.errors
        else:
            flash(f"{title} settings saved.")
            return redirect(url_for(f".{name}"))
    view = actions.settings_of(svc, shop.id, today)
    values = {**view.values, **request.form.to_dict()} if errors else view.values
    html = render_template(
        template,
        section=name,
        shop=shop,
        view=view,
        values=values,
        errors=errors,
        today=today,
        half_year=half_year_label(half_year_start(today)),
        subdivisions=actions.holiday_subdivisions(values.get("holiday_country") or "FR"),
    )
    return (html, 400) if errors else html


def _register(name: str) -> None:
    """/settings/<name>, endpoint settings.<name>: one form page per settings group."""

    def view() -> PageResult:
        return _page(name)

    view.__name__ = name
    bp.add_url_rule(f"/{name}", name, login_required(view), methods=["GET", "POST"])


for _name in PAGES:
    _register(_name)


@bp.get("/customers")
@login_required
def customers() -> str:
    shop = _shop()
    found = actions.customers_of(services_of(current_app), shop.id)
    return render_template(
        "settings/customers.html", section="customers", shop=shop, customers=found
    )


@bp.route("/customers/<int:customer_id>", methods=["GET", "POST"])
@login_required
def customer(customer_id: int) -> PageResult:
    shop = _shop()
    svc = services_of(current_app)
    try:
        found = actions.customer_of(svc, shop.id, customer_id)
    except LookupError:
        abort(404)
    errors: dict[str, str] = {}
    values = {
        "line1": found.parts.line1 or "",
        "line2": found.parts.line2 or "",
        "postal_code": found.parts.postal_code or "",
        "city": found.parts.city or "",
        "country": found.parts.country or "",
    }
    if request.method == "POST":
        values = {name: request.form.get(name, "") for name in values}
        try:
            actions.update_customer_address(
                svc, shop.id, customer_id, actions.AddressForm(**values)
            )
        except actions.SettingsError as exc:
            errors = exc.errors
        except LookupError:  # erased meanwhile
            abort(404)
        else:
            flash(f"Postal address of {found.name} saved.")
            return redirect(url_for(".customers"))
    html = render_template(
        "settings/customer.html",
        section="customers",
        shop=shop,
        customer=found,
        values=values,
        errors=errors,
    )
    return (html, 400) if errors else html
