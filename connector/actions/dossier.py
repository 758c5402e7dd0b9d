"""The evidence dossier of one invoice (PDF, zip) and its injonction de payer pack: read-only
owner actions, each reading in one transaction scoped by the shop."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from connector.domain.dates import local_date
from connector.evidence.bundle import dossier_zip, safe_name
from connector.evidence.document import dossier_pdf
from connector.evidence.injonction import Claim, NoFormalNotice, claim_on, injonction_pdf
from connector.evidence.record import (
    InvoiceRecord,
    NotInShop,
    find_invoice_by_number,
    gather,
)
from connector.services import Services
from connector.shops import ShopError, resolve_shop

__all__ = ["DossierError", "DossierFile", "NoFormalNotice", "NotInShop"]


class DossierError(ShopError):
    """Bad input for a dossier (the message names the field)."""


@dataclass(frozen=True, slots=True)
class DossierFile:
    filename: str
    media_type: str
    content: bytes


def _record(
    svc: Services, shop_id: int | None, invoice_id: int | None, number: str | None
) -> InvoiceRecord:
    with svc.sessions() as s:
        shop = resolve_shop(s, shop_id)
        if invoice_id is None:
            if number is None:
                raise DossierError("give an invoice id or number")
            invoice_id = find_invoice_by_number(s, shop.id, number).id
        record = gather(s, shop.id, invoice_id)
        s.expunge_all()  # plain values from here on: the PDF is made with no transaction held
        return record


def _today(record: InvoiceRecord, now: datetime | None) -> date:
    return local_date(now or datetime.now(UTC), record.shop.timezone)


def dossier(
    svc: Services,
    shop_id: int | None,
    *,
    invoice_id: int | None = None,
    number: str | None = None,
    as_zip: bool = False,
    now: datetime | None = None,
) -> DossierFile:
    """The dossier PDF (or the zip with the raw messages, letters and webhook bodies).
    NotInShop when the shop has no such invoice."""
    record = _record(svc, shop_id, invoice_id, number)
    pdf = dossier_pdf(record, made_on=_today(record, now))
    stem = f"dossier-{safe_name(record.invoice.number)}"
    if as_zip:
        return DossierFile(f"{stem}.zip", "application/zip", dossier_zip(record, pdf))
    return DossierFile(f"{stem}.pdf", "application/pdf", pdf)


def injonction(
    svc: Services,
    shop_id: int | None,
    *,
    invoice_id: int | None = None,
    number: str | None = None,
    on: date | None = None,
    now: datetime | None = None,
) -> tuple[DossierFile, Claim]:
    """The injonction de payer pack with the claim computed to ``on`` (default: today, the
    shop's date). NoFormalNotice before the formal notice went out; DossierError for a date
    before the due date."""
    record = _record(svc, shop_id, invoice_id, number)
    day = on or _today(record, now)
    try:
        claim = claim_on(record, day)
    except ValueError as exc:
        raise DossierError(str(exc)) from exc
    content = injonction_pdf(record, day)
    name = f"injonction-{safe_name(record.invoice.number)}-{day.isoformat()}.pdf"
    return DossierFile(name, "application/pdf", content), claim
