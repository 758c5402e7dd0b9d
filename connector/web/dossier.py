"""`dossier`: an invoice's evidence dossier (PDF, zip) and its injonction de payer pack, as
downloads under the invoice's URL; a customer's statement of account (page, PDF, email). The
invoice or customer is looked up in the signed-in owner's current shop only: another shop's id
is not found (404)."""

from __future__ import annotations

from datetime import date

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import login_required
from werkzeug.wrappers import Response as BaseResponse

from connector.actions.dossier import (
    DossierError,
    DossierFile,
    NoFormalNotice,
    NotInShop,
    dossier,
    injonction,
)
from connector.actions.statement import (
    CustomerNotFound,
    StatementError,
    customer_statement,
    send_statement,
    statement_pdf,
)
from connector.extension import services_of
from connector.web.current import require_shop, signed_in_owner

bp = Blueprint("dossier", __name__)


def _shop_id() -> int:
    shop = require_shop()
    return shop.id


def _download(found: DossierFile) -> Response:
    return Response(
        found.content,
        mimetype=found.media_type,
        headers={"Content-Disposition": f'attachment; filename="{found.filename}"'},
    )


@bp.get("/invoices/<int:invoice_id>/dossier.pdf")
@login_required
def pdf(invoice_id: int) -> Response:
    try:
        return _download(dossier(services_of(current_app), _shop_id(), invoice_id=invoice_id))
    except NotInShop:
        abort(404)


@bp.get("/invoices/<int:invoice_id>/dossier.zip")
@login_required
def bundle(invoice_id: int) -> Response:
    svc = services_of(current_app)
    try:
        return _download(dossier(svc, _shop_id(), invoice_id=invoice_id, as_zip=True))
    except NotInShop:
        abort(404)


@bp.get("/invoices/<int:invoice_id>/injonction.pdf")
@login_required
def injonction_pack(invoice_id: int) -> Response | tuple[str, int]:
    """The pack with the claim to ``?on=YYYY-MM-DD`` (default: today in the shop)."""
    svc = services_of(current_app)
    raw = request.args.get("on", "").strip()
    on: date | None = None
    if raw:
        try:
            on = date.fromisoformat(raw)
        except ValueError:
            return render_template(
                "dossier/unavailable.html", reason=f"on: {raw!r} is not a date (YYYY-MM-DD)"
            ), 400
    try:
        found, _ = injonction(svc, _shop_id(), invoice_id=invoice_id, on=on)
    except NotInShop:
        abort(404)
    except (NoFormalNotice, DossierError) as exc:
        return render_template("dossier/unavailable.html", reason=str(exc)), 409
    return _download(found)


@bp.get("/customers/<int:customer_id>/statement")
@login_required
def statement(customer_id: int) -> str:
    """The customer's open invoices and their total, to download or to email them."""
    try:
        found = customer_statement(services_of(current_app), _shop_id(), customer_id)
    except CustomerNotFound:
        abort(404)
    return render_template("dossier/statement.html", statement=found)


@bp.get("/customers/<int:customer_id>/statement.pdf")
@login_required
def statement_file(customer_id: int) -> Response:
    try:
        found = customer_statement(services_of(current_app), _shop_id(), customer_id)
    except CustomerNotFound:
        abort(404)
    return _download(
        DossierFile(
            f"statement-{customer_id}-{found.made_on.isoformat()}.pdf",
            "application/pdf",
            statement_pdf(found),
        )
    )


@bp.post("/customers/<int:customer_id>/statement")
@login_required
def statement_send(customer_id: int) -> BaseResponse | tuple[str, int]:
    svc = services_of(current_app)
    try:
        sent = send_statement(svc, _shop_id(), customer_id, actor=signed_in_owner().email)
    except CustomerNotFound:
        abort(404)
    except StatementError as exc:
        found = customer_statement(svc, _shop_id(), customer_id)
        page = render_template("dossier/statement.html", statement=found, error=str(exc))
        return page, 400
    flash(f"Statement ({sent.invoices} open invoices) {sent.state.value} to {sent.recipient}.")
    return redirect(url_for(".statement", customer_id=customer_id))
