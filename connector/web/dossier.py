"""`dossier`: an invoice's evidence dossier (PDF, zip) and its injonction de payer pack, as
downloads under the invoice's URL. The invoice is looked up in the signed-in owner's current
shop only: another shop's id is not found (404)."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, abort, current_app, render_template, request
from flask_login import login_required

from connector.actions.dossier import (
    DossierError,
    DossierFile,
    NoFormalNotice,
    NotInShop,
    dossier,
    injonction,
)
from connector.extension import services_of
from connector.web.current import current_shop

bp = Blueprint("dossier", __name__)


def _shop_id() -> int:
    shop = current_shop()
    if shop is None:
        abort(404)
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
