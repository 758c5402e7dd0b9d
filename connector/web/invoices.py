"""`invoices`: the owner's list (filters, sort, pages, bulk actions) and each invoice's page
(facts, customer, next planned step, timeline, actions). Views parse input and render; every
change is one function of the application layer (connector.actions.invoices and friends),
scoped by the signed-in owner's current shop — another shop's ids are not found (404)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import TypeVar

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import login_required
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from connector.actions import invoices as actions
from connector.actions.errors import ActionError, NotFound
from connector.actions.invoice_base import ActionResult
from connector.actions.invoice_bulk import BulkAction, BulkParams, bulk
from connector.actions.invoice_list import (
    AGING_LABELS,
    PER_PAGE,
    Aging,
    Cursor,
    Direction,
    ListQuery,
    Sort,
    StatusFilter,
    invoice_page,
    list_invoices,
)
from connector.actions.send_now import send_now
from connector.domain.phrases import translate
from connector.extension import services_of
from connector.services import Services
from connector.store.models import PaymentSource
from connector.web.current import require_shop, signed_in_owner
from connector.web.filters import PAGE_LANGUAGE

bp = Blueprint("invoices", __name__, url_prefix="/invoices")

E = TypeVar("E")
D = TypeVar("D")

PLAN_ROWS = 6  # instalment rows the plan form offers
SOURCES = {s.value: s.value.replace("_", " ") for s in actions.OWNER_SOURCES}
BULK_LABELS: dict[BulkAction, str] = {
    BulkAction.MARK_PAID: "Mark paid (bank transfer)",
    BulkAction.PAUSE: "Pause until…",
    BulkAction.RESUME: "Resume",
    BulkAction.PLAN_CANCEL: "Cancel the payment plan",
    BulkAction.DISPUTE: "Mark disputed",
    BulkAction.EXCLUDE: "Exclude from reminders",
    BulkAction.INCLUDE: "Include again",
    BulkAction.SEND_NOW: "Send the next step now",
    BulkAction.WRITE_OFF: "Write off",
}


def _svc() -> Services:
    return services_of(current_app)


def _shop_id() -> int:
    found = require_shop()
    return found.id


def _actor() -> str:
    return signed_in_owner().email


def _now() -> datetime:
    return datetime.now(UTC)


# -- parsing -----------------------------------------------------------------------------------


def _enum(cls: Callable[[str], E], raw: str | None, field: str, default: D) -> E | D:
    if raw is None or raw == "":
        return default
    try:
        return cls(raw)
    except ValueError as exc:
        raise ActionError(f"{field}: {raw!r} is not a choice") from exc


def _int(raw: str | None, field: str) -> int | None:
    if raw is None or raw.strip() == "":
        return None
    if not raw.strip().isdigit():
        raise ActionError(f"{field}: a whole number, not {raw!r}")
    return int(raw)


def _day(raw: str | None, field: str, *, required: bool) -> date | None:
    if raw is None or raw.strip() == "":
        if required:
            raise ActionError(f"{field}: give a date")
        return None
    try:
        return date.fromisoformat(raw.strip())
    except ValueError as exc:
        raise ActionError(f"{field}: {raw!r} is not a date (YYYY-MM-DD)") from exc


def _confirmed(form: MultiDict[str, str], what: str) -> None:
    if form.get("confirm") != "yes":
        raise ActionError(f"confirm: tick the box to confirm you want to {what}")


def _cursor(args: MultiDict[str, str], sort: Sort) -> Cursor | None:
    """The page's position: ``after`` (a "next" link) or ``before`` (a "previous" one)."""
    for direction in Direction:
        token = args.get(direction.value, "").strip()
        if token:
            return Cursor.parse(direction, token, sort)
    return None


def _list_query(args: MultiDict[str, str]) -> ListQuery:
    sort = _enum(Sort, args.get("sort"), "sort", Sort.DUE)
    return ListQuery(
        status=_enum(StatusFilter, args.get("status"), "status", StatusFilter.OWED),
        connection_id=_int(args.get("connection"), "connection"),
        aging=_enum(Aging, args.get("aging"), "aging", None),
        sequence_id=_int(args.get("sequence"), "sequence"),
        customer_id=_int(args.get("customer"), "customer"),
        search=args.get("q", "").strip(),
        sort=sort,
        descending=args.get("dir") == "desc",
        cursor=_cursor(args, sort),
        per_page=_int(args.get("per_page"), "per_page") or PER_PAGE,
    )


# -- pages -------------------------------------------------------------------------------------


@bp.get("")
@login_required
def index() -> str | tuple[str, int]:
    shop_id = _shop_id()
    error = None
    try:
        query = _list_query(request.args)
        listing = list_invoices(_svc().sessions, shop_id, query, _now())
    except ActionError as exc:
        error = str(exc)
        listing = list_invoices(_svc().sessions, shop_id, ListQuery(), _now())
    page = render_template(
        "invoices/list.html",
        listing=listing,
        error=error,
        statuses=list(StatusFilter),
        agings=AGING_LABELS,
        sorts=list(Sort),
        bulk_actions=BULK_LABELS,
        args=request.args,
        pager_args=_pager_args(request.args),
    )
    return (page, 400) if error else page


def _pager_args(args: MultiDict[str, str]) -> dict[str, str]:
    """The filters a "next"/"previous" link keeps (not the position it replaces)."""
    return {k: v for k, v in args.items() if k not in {d.value for d in Direction} | {"page"}}


@bp.get("/<int:invoice_id>")
@login_required
def show(invoice_id: int) -> str:
    return _show(invoice_id, MultiDict())


def _show(invoice_id: int, plan_form: MultiDict[str, str]) -> str:
    """The invoice page; ``plan_form`` refills the plan form after a refusal."""
    try:
        page = invoice_page(_svc().sessions, _shop_id(), invoice_id, _now())
    except NotFound:
        abort(404)
    return render_template(
        "invoices/show.html",
        inv=page,
        aging_label=AGING_LABELS[page.aging],
        sources=SOURCES,
        plan_rows=range(1, PLAN_ROWS + 1),
        plan_form=plan_form,
    )


def _act(invoice_id: int, run: Callable[[int, MultiDict[str, str]], ActionResult]) -> Response:
    """Run one action on one of the shop's invoices: its result or its error as a message on
    the invoice's page (nothing written on error); another shop's invoice: 404."""
    try:
        result = run(_shop_id(), request.form)
    except NotFound:
        abort(404)
    except ActionError as exc:
        flash(str(exc), "error")
    else:
        flash(f"{result.number or ''} {translate(result.title, PAGE_LANGUAGE)}".strip(), "done")
    return redirect(url_for(".show", invoice_id=invoice_id), code=303)


@bp.post("/<int:invoice_id>/pay")
@login_required
def pay(invoice_id: int) -> Response:
    def run(shop_id: int, form: MultiDict[str, str]) -> ActionResult:
        _confirmed(form, "record this payment")
        amount = form.get("amount", "").strip() or None
        return actions.record_payment(
            _svc(),
            shop_id,
            invoice_id,
            source=_enum(PaymentSource, form.get("source"), "source", PaymentSource.BANK_TRANSFER),
            amount=amount,
            received_on=_day(form.get("received_on"), "received_on", required=False),
            actor=_actor(),
        )

    return _act(invoice_id, run)


@bp.post("/<int:invoice_id>/pause")
@login_required
def pause(invoice_id: int) -> Response:
    def run(shop_id: int, form: MultiDict[str, str]) -> ActionResult:
        until = _day(form.get("until"), "until", required=True)
        assert until is not None
        return actions.pause(
            _svc(), shop_id, invoice_id, until=until, reason=form.get("reason", ""), actor=_actor()
        )

    return _act(invoice_id, run)


@bp.post("/<int:invoice_id>/resume")
@login_required
def resume(invoice_id: int) -> Response:
    return _act(
        invoice_id,
        lambda shop_id, form: actions.resume(
            _svc(), shop_id, invoice_id, reason=form.get("reason"), actor=_actor()
        ),
    )


@bp.post("/<int:invoice_id>/dispute")
@login_required
def dispute(invoice_id: int) -> Response:
    return _act(
        invoice_id,
        lambda shop_id, form: actions.dispute(
            _svc(), shop_id, invoice_id, reason=form.get("reason", ""), actor=_actor()
        ),
    )


@bp.post("/<int:invoice_id>/plan")
@login_required
def plan(invoice_id: int) -> Response | tuple[str, int]:
    """A refused plan comes back on the page with what the owner typed (a redirect lost it)."""

    def run(shop_id: int, form: MultiDict[str, str]) -> ActionResult:
        rows = []
        for n in range(1, PLAN_ROWS + 1):
            raw_day, raw_amount = form.get(f"due_on_{n}", ""), form.get(f"amount_{n}", "")
            if not raw_day.strip() and not raw_amount.strip():
                continue
            day = _day(raw_day, f"instalment {n}: due day", required=True)
            assert day is not None
            if not raw_amount.strip():
                raise ActionError(f"instalment {n}: amount: give one")
            rows.append(actions.InstalmentSpec(day, raw_amount))
        return actions.set_plan(_svc(), shop_id, invoice_id, rows, actor=_actor())

    try:
        result = run(_shop_id(), request.form)
    except NotFound:
        abort(404)
    except ActionError as exc:
        flash(str(exc), "error")
        return _show(invoice_id, request.form), 400
    flash(f"{result.number or ''} {translate(result.title, PAGE_LANGUAGE)}".strip(), "done")
    return redirect(url_for(".show", invoice_id=invoice_id), code=303)


@bp.post("/<int:invoice_id>/plan/cancel")
@login_required
def plan_cancel(invoice_id: int) -> Response:
    def run(shop_id: int, form: MultiDict[str, str]) -> ActionResult:
        _confirmed(form, "cancel the payment plan")
        return actions.cancel_plan(
            _svc(), shop_id, invoice_id, reason=form.get("reason"), actor=_actor()
        )

    return _act(invoice_id, run)


@bp.post("/<int:invoice_id>/send-now")
@login_required
def send(invoice_id: int) -> Response:
    def run(shop_id: int, form: MultiDict[str, str]) -> ActionResult:
        _confirmed(form, "send the next step now")
        return send_now(
            _svc(),
            shop_id,
            invoice_id,
            actor=_actor(),
            override_window=form.get("override_window") == "yes",
        )

    return _act(invoice_id, run)


@bp.post("/<int:invoice_id>/exclude")
@login_required
def exclude(invoice_id: int) -> Response:
    return _act(
        invoice_id,
        lambda shop_id, form: actions.exclude_invoice(
            _svc(), shop_id, invoice_id, reason=form.get("reason"), actor=_actor()
        ),
    )


@bp.post("/<int:invoice_id>/include")
@login_required
def include(invoice_id: int) -> Response:
    return _act(
        invoice_id,
        lambda shop_id, form: actions.include_invoice(_svc(), shop_id, invoice_id, actor=_actor()),
    )


@bp.post("/<int:invoice_id>/write-off")
@login_required
def write_off(invoice_id: int) -> Response:
    def run(shop_id: int, form: MultiDict[str, str]) -> ActionResult:
        _confirmed(form, "write this invoice off")
        return actions.write_off(
            _svc(), shop_id, invoice_id, reason=form.get("reason"), actor=_actor()
        )

    return _act(invoice_id, run)


@bp.post("/<int:invoice_id>/customer")
@login_required
def customer(invoice_id: int) -> Response:
    """Exclude the invoice's customer from every reminder, or include them again."""

    def run(shop_id: int, form: MultiDict[str, str]) -> ActionResult:
        excluded = form.get("excluded") == "yes"
        if excluded:
            _confirmed(form, "stop every reminder to this customer")
        customer_id = actions.customer_of(_svc(), shop_id, invoice_id)
        return actions.set_customer_excluded(
            _svc(),
            shop_id,
            customer_id,
            excluded=excluded,
            reason=form.get("reason"),
            actor=_actor(),
        )

    return _act(invoice_id, run)


@bp.post("/bulk")
@login_required
def bulk_action() -> str | tuple[str, int]:
    """One action over the ticked invoices: a result per invoice (each all or nothing)."""
    shop_id = _shop_id()
    form = request.form
    try:
        action = _enum(BulkAction, form.get("action"), "action", None)
        if action is None:
            raise ActionError("action: choose what to do with the selection")
        _confirmed(form, "apply this to every ticked invoice")
        ids = [_int(raw, "invoice_id") for raw in form.getlist("invoice_id")]
        params = BulkParams(
            actor=_actor(),
            until=_day(form.get("until"), "until", required=action is BulkAction.PAUSE),
            reason=form.get("reason") or _default_reason(action),
            override_window=form.get("override_window") == "yes",
        )
        results = bulk(_svc(), shop_id, [i for i in ids if i is not None], action, params)
    except ActionError as exc:
        return render_template("invoices/bulk.html", error=str(exc), results=[]), 400
    return render_template("invoices/bulk.html", error=None, results=results, action=action)


def _default_reason(action: BulkAction) -> str | None:
    return "disputed (bulk)" if action is BulkAction.DISPUTE else None
