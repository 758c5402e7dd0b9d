"""One owner action over a selection of invoices: each invoice in its own transaction (all or
nothing for that invoice), with a result per invoice — one refused never stops the others."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from connector.actions import invoices
from connector.actions.errors import ActionError, NotFound
from connector.actions.invoice_base import ActionResult
from connector.actions.send_now import send_now
from connector.services import Services
from connector.store.models import PaymentSource

MAX_SELECTION = 500


class BulkAction(StrEnum):
    MARK_PAID = "mark_paid"
    PAUSE = "pause"
    RESUME = "resume"
    PLAN_CANCEL = "plan_cancel"
    DISPUTE = "dispute"
    EXCLUDE = "exclude"
    INCLUDE = "include"
    WRITE_OFF = "write_off"
    SEND_NOW = "send_now"


@dataclass(frozen=True, slots=True)
class BulkParams:
    """What the chosen action needs (the rest is ignored)."""

    actor: str
    source: PaymentSource = PaymentSource.BANK_TRANSFER
    until: date | None = None
    reason: str | None = None
    override_window: bool = False
    now: datetime | None = None


@dataclass(frozen=True, slots=True)
class BulkItem:
    invoice_id: int
    ok: bool
    message: str  # what was done, or why not
    number: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "invoice_id": self.invoice_id,
            "number": self.number,
            "ok": self.ok,
            "message": self.message,
        }


_One = Callable[[Services, int, int, BulkParams], ActionResult]


def _pause(svc: Services, shop_id: int, inv: int, p: BulkParams) -> ActionResult:
    if p.until is None:
        raise ActionError("until: give the day the pause ends")
    return invoices.pause(
        svc, shop_id, inv, until=p.until, reason=p.reason or "", actor=p.actor, now=p.now
    )


_HANDLERS: dict[BulkAction, _One] = {
    BulkAction.MARK_PAID: lambda svc, shop, inv, p: invoices.record_payment(
        svc, shop, inv, source=p.source, actor=p.actor, now=p.now
    ),
    BulkAction.PAUSE: _pause,
    BulkAction.RESUME: lambda svc, shop, inv, p: invoices.resume(
        svc, shop, inv, actor=p.actor, reason=p.reason, now=p.now
    ),
    BulkAction.PLAN_CANCEL: lambda svc, shop, inv, p: invoices.cancel_plan(
        svc, shop, inv, actor=p.actor, reason=p.reason, now=p.now
    ),
    BulkAction.DISPUTE: lambda svc, shop, inv, p: invoices.dispute(
        svc, shop, inv, reason=p.reason or "", actor=p.actor, now=p.now
    ),
    BulkAction.EXCLUDE: lambda svc, shop, inv, p: invoices.exclude_invoice(
        svc, shop, inv, actor=p.actor, reason=p.reason, now=p.now
    ),
    BulkAction.INCLUDE: lambda svc, shop, inv, p: invoices.include_invoice(
        svc, shop, inv, actor=p.actor, now=p.now
    ),
    BulkAction.WRITE_OFF: lambda svc, shop, inv, p: invoices.write_off(
        svc, shop, inv, actor=p.actor, reason=p.reason, now=p.now
    ),
    BulkAction.SEND_NOW: lambda svc, shop, inv, p: send_now(
        svc, shop, inv, actor=p.actor, override_window=p.override_window, now=p.now
    ),
}


def bulk(
    svc: Services,
    shop_id: int,
    invoice_ids: Sequence[int],
    action: BulkAction,
    params: BulkParams,
) -> list[BulkItem]:
    """Apply ``action`` to each selected invoice of the shop; another shop's ids are "not
    found" for that item and nothing of theirs changes."""
    ids = list(dict.fromkeys(invoice_ids))
    if not ids:
        raise ActionError("selection: choose at least one invoice")
    if len(ids) > MAX_SELECTION:
        raise ActionError(f"selection: at most {MAX_SELECTION} invoices at a time")
    handler = _HANDLERS[action]
    results: list[BulkItem] = []
    for invoice_id in ids:
        try:
            done = handler(svc, shop_id, invoice_id, params)
        except (ActionError, NotFound) as exc:
            results.append(BulkItem(invoice_id, False, str(exc)))
        else:
            results.append(BulkItem(invoice_id, True, done.title, done.number))
    return results
