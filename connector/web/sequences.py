"""`sequences`: the owner's sequences, their assignment rules, the step editor and the wording
editor with its live preview. Views parse the form and render; connector.actions.sequences does
the work, always for the signed-in owner's current shop (another shop's ids: 404)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import login_required
from werkzeug.wrappers import Response

from connector.actions import sequence_preview as preview
from connector.actions import sequences as actions
from connector.actions.accounts import ShopSummary
from connector.domain.phrases import step_name
from connector.dunning.drafts import DraftError
from connector.extension import services_of
from connector.services import Services
from connector.web.current import require_shop
from connector.web.filters import PAGE_LANGUAGE
from connector.web.security import own_frame_ancestors

bp = Blueprint("sequences", __name__, url_prefix="/sequences")
T = TypeVar("T")

#: The preview of an email's HTML is a mail client's page (inline styles, no script at all):
#: shown in a sandboxed frame of our own pages only.
PREVIEW_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "frame-ancestors {ancestors}; form-action 'none'; base-uri 'none'; sandbox"
)
LANGUAGES = ("fr", "en")


def _svc() -> Services:
    return services_of(current_app)


def _shop() -> ShopSummary:
    shop = require_shop()
    return shop


def _attempt(action: Callable[[], T]) -> T | None:
    """Run an owner action; bad input or an unknown id → a flashed message naming it."""
    try:
        return action()
    except actions.SequenceNotFound:
        abort(404)
    except actions.SequenceError as exc:
        flash(str(exc), "error")
        return None


def _int(name: str, *, required: bool = True) -> int | None:
    raw = (request.form.get(name) or "").strip()
    if not raw and not required:
        return None
    try:
        return int(raw)
    except ValueError:
        message = f"{name.replace('_', ' ')}: {raw!r} is not a whole number"
        raise actions.SequenceError(message) from None


def _step_input() -> actions.StepInput:
    offset = _int("offset_days")
    assert offset is not None
    return actions.StepInput(
        offset_days=offset,
        channel=request.form.get("channel", "email"),
        tone=request.form.get("tone", "polite"),
        show_penalties=bool(request.form.get("show_penalties")),
        sends_letter=bool(request.form.get("sends_letter")),
        hands_off=bool(request.form.get("hands_off")),
        new_deadline_days=_int("new_deadline_days", required=False),
        content=request.form.get("content", "reminder"),
    )


def _confirmed() -> bool:
    if request.form.get("confirm") != "yes":
        flash("Tick the confirmation box first: nothing was removed.")
        return False
    return True


# ---------------------------------------------------------------- sequences and rules


@bp.get("")
@login_required
def index() -> str:
    shop = _shop()
    svc = _svc()
    return render_template(
        "sequences/index.html",
        shop=shop,
        sequences=actions.list_sequences(svc, shop.id),
        rules=actions.list_rules(svc, shop.id),
        next_day=preview.next_business_day(svc, shop.id),
        platforms=actions.PLATFORMS,
    )


@bp.post("/new")
@login_required
def create() -> Response:
    shop = _shop()
    made = _attempt(lambda: actions.create_sequence(_svc(), shop.id, request.form.get("name", "")))
    if made is None:
        return redirect(url_for(".index"))
    flash(f"Sequence “{made.name}” created, a copy of the default: adjust its steps.")
    return redirect(url_for(".show", sequence_id=made.id))


@bp.post("/rules")
@login_required
def add_rule() -> Response:
    shop = _shop()
    form = request.form

    def rule() -> actions.RuleView:
        sequence_id = _int("sequence_id")
        assert sequence_id is not None
        customers = form.get("customers", "any")
        return actions.add_rule(
            _svc(),
            shop.id,
            actions.RuleInput(
                sequence_id=sequence_id,
                b2b={"business": True, "consumer": False}.get(customers),
                min_amount=form.get("min_amount") or None,
                max_amount=form.get("max_amount") or None,
                currency=form.get("currency") or None,
                platform=form.get("platform") or None,
                excluded_emails=tuple((form.get("excluded_emails") or "").split()),
            ),
        )

    made = _attempt(rule)
    if made is not None:
        flash(f"Rule added: {made.describe()} → {made.sequence_name}.")
    return redirect(url_for(".index"))


@bp.post("/rules/<int:rule_id>/delete")
@login_required
def delete_rule(rule_id: int) -> Response:
    shop = _shop()
    _attempt(lambda: actions.delete_rule(_svc(), shop.id, rule_id))
    return redirect(url_for(".index"))


@bp.post("/rules/<int:rule_id>/move")
@login_required
def move_rule(rule_id: int) -> Response:
    shop = _shop()
    up = request.form.get("direction") == "up"
    _attempt(lambda: actions.move_rule(_svc(), shop.id, rule_id, up))
    return redirect(url_for(".index"))


@bp.get("/<int:sequence_id>")
@login_required
def show(sequence_id: int) -> str:
    shop = _shop()
    found = _attempt(lambda: actions.show_sequence(_svc(), shop.id, sequence_id))
    assert found is not None
    return render_template(
        "sequences/show.html",
        shop=shop,
        sequence=found,
        channels=sorted(c.value for c in actions.CHANNELS_WITH_TRANSPORT),
        tones=actions.TONES,
        contents=actions.STEP_CONTENTS,
        languages=LANGUAGES,
        lead=actions.PLAN_LEAD.days,
        max_after=actions.MAX_OFFSET_AFTER,
    )


@bp.post("/<int:sequence_id>/rename")
@login_required
def rename(sequence_id: int) -> Response:
    shop = _shop()
    name = request.form.get("name", "")
    _attempt(lambda: actions.rename_sequence(_svc(), shop.id, sequence_id, name))
    return redirect(url_for(".show", sequence_id=sequence_id))


@bp.post("/<int:sequence_id>/delete")
@login_required
def delete(sequence_id: int) -> Response:
    shop = _shop()
    back = redirect(url_for(".show", sequence_id=sequence_id))
    if not _confirmed():
        return back
    try:
        actions.delete_sequence(_svc(), shop.id, sequence_id)
    except actions.SequenceNotFound:
        abort(404)
    except actions.SequenceError as exc:
        flash(str(exc), "error")
        return back
    flash("Sequence deleted; its invoices follow the rules (or the default) again.")
    return redirect(url_for(".index"))


# ---------------------------------------------------------------- steps


@bp.post("/<int:sequence_id>/steps")
@login_required
def add_step(sequence_id: int) -> Response:
    shop = _shop()
    made = _attempt(
        lambda: actions.add_step(
            _svc(),
            shop.id,
            sequence_id,
            _step_input(),
            key=request.form.get("key") or None,
        )
    )
    if made is not None:
        flash(f"Step “{step_name(made.key, PAGE_LANGUAGE)}” added on D{made.offset_days:+d}.")
    return redirect(url_for(".show", sequence_id=sequence_id))


@bp.post("/steps/<int:step_id>")
@login_required
def update_step(step_id: int) -> Response:
    shop = _shop()
    done = _attempt(lambda: actions.update_step(_svc(), shop.id, step_id, _step_input()))
    sequence_id = _int("sequence_id", required=False)
    if done is not None:
        name = step_name(done.key, PAGE_LANGUAGE)
        flash(f"Step “{name}” saved: D{done.offset_days:+d}, {done.channel}.")
    return redirect(url_for(".show", sequence_id=sequence_id) if sequence_id else url_for(".index"))


@bp.post("/steps/<int:step_id>/move")
@login_required
def move_step(step_id: int) -> Response:
    shop = _shop()
    up = request.form.get("direction") == "up"
    _attempt(lambda: actions.move_step(_svc(), shop.id, step_id, up))
    sequence_id = _int("sequence_id", required=False)
    return redirect(url_for(".show", sequence_id=sequence_id) if sequence_id else url_for(".index"))


@bp.post("/steps/<int:step_id>/remove")
@login_required
def remove_step(step_id: int) -> Response:
    shop = _shop()
    sequence_id = _int("sequence_id", required=False)
    back = url_for(".show", sequence_id=sequence_id) if sequence_id else url_for(".index")
    if not _confirmed():
        return redirect(back)
    outcome = _attempt(lambda: actions.remove_step(_svc(), shop.id, step_id))
    if outcome == "deactivated":
        flash("The step has reminders on record: it is switched off, its history stays.")
    elif outcome == "deleted":
        flash("Step removed.")
    return redirect(back)


# ---------------------------------------------------------------- wording


def _language() -> str:
    raw = request.values.get("lang", "fr")
    try:
        return actions.check_language(raw)
    except actions.SequenceError:
        abort(404)


@bp.get("/steps/<int:step_id>/template")
@login_required
def template(step_id: int) -> str | Response:
    shop = _shop()
    language = _language()
    found = _attempt(lambda: actions.get_template(_svc(), shop.id, step_id, language))
    if found is None:  # a step with no wording of its own: its sequence says why
        where = actions.step_summary(_svc(), shop.id, step_id)
        return redirect(url_for(".show", sequence_id=where.sequence_id))
    return _editor(shop, found.step_id, language, found.subject, found.body, found.custom)


def _editor(
    shop: ShopSummary,
    step_id: int,
    language: str,
    subject: str,
    body: str,
    custom: bool,
    error: DraftError | None = None,
) -> str:
    svc = _svc()
    return render_template(
        "sequences/template.html",
        shop=shop,
        step=actions.step_summary(svc, shop.id, step_id),
        language=language,
        languages=sorted({*LANGUAGES, language}),
        subject=subject,
        body=body,
        custom=custom,
        error=error,
        invoices=preview.preview_invoices(svc, shop.id),
    )


@bp.post("/steps/<int:step_id>/template")
@login_required
def save_template(step_id: int) -> Response | tuple[str, int]:
    shop = _shop()
    language = _language()
    subject, body = request.form.get("subject", ""), request.form.get("body", "")
    try:
        actions.save_template(_svc(), shop.id, step_id, language, subject, body)
    except actions.SequenceNotFound:
        abort(404)
    except DraftError as exc:
        # Nothing was saved: the page says what the step uses now (own wording or default).
        stored = actions.get_template(_svc(), shop.id, step_id, language)
        return _editor(shop, step_id, language, subject, body, stored.custom, exc), 422
    except actions.SequenceError as exc:
        flash(str(exc), "error")
        return redirect(url_for(".template", step_id=step_id, lang=language))
    flash("Wording saved: the next reminders of this step use it.")
    return redirect(url_for(".template", step_id=step_id, lang=language))


@bp.post("/steps/<int:step_id>/template/reset")
@login_required
def reset_template(step_id: int) -> Response:
    shop = _shop()
    language = _language()
    if _confirmed():
        _attempt(lambda: actions.reset_template(_svc(), shop.id, step_id, language))
        flash("Back to the default wording.")
    return redirect(url_for(".template", step_id=step_id, lang=language))


@bp.post("/steps/<int:step_id>/preview")
@login_required
def preview_draft(step_id: int) -> Response:
    """The draft on a real invoice: JSON (subject, text, what is missing) for the page's script,
    or the HTML as the customer's mail client shows it (``format=html``, for the frame)."""
    shop = _shop()
    language = _language()
    as_html = request.form.get("format") == "html"
    data: dict[str, Any]
    try:
        invoice_id = _int("invoice_id")
        assert invoice_id is not None
        shown = preview.preview_template(
            _svc(),
            shop.id,
            step_id,
            invoice_id,
            language=language,
            subject=request.form.get("subject", ""),
            body=request.form.get("body", ""),
        )
    except DraftError as exc:
        data = {"error": str(exc), "field": exc.place.field, "line": exc.place.line}
    except actions.SequenceNotFound:
        abort(404)
    except actions.SequenceError as exc:
        data = {"error": str(exc), "field": None, "line": None}
    else:
        data = {"subject": shown.subject, "text": shown.text, "problems": list(shown.problems)}
        if as_html:
            return _frame(shown.html)
    if as_html:
        return _frame(render_template("sequences/preview_error.html", message=data["error"]))
    return jsonify(data)


def _frame(html: str) -> Response:
    response = make_response(html)
    ancestors = own_frame_ancestors()
    response.headers["Content-Security-Policy"] = PREVIEW_POLICY.format(ancestors=ancestors)
    if ancestors == "'self'":
        response.headers["X-Frame-Options"] = "SAMEORIGIN"  # inside the admin it cannot say so
    return response
