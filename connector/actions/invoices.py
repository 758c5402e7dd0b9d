"""The owner's actions on one invoice (or one customer). Each takes the shop explicitly, owns
its transaction, locks the invoice the way a payment webhook does, changes state through the
ledger (connector.ledger: the one place invoice state changes) and writes who did it to the
timeline (InvoiceEvent). Bad input raises ActionError naming the field, and nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import delete, select

from connector.actions.errors import ActionError
from connector.actions.invoice_base import (
    ActionResult,
    amount_label,
    asked,
    day_label,
    first_pause_day,
    invoice_edit,
    record,
    shop_customer,
    shop_day,
    the_shop,
)
from connector.actions.schedule import next_step
from connector.actions.timeline import OWNER_PAYMENT_PREFIX, InvoiceNotFound
from connector.domain.dates import local_date
from connector.domain.money import Money
from connector.domain.phrases import Phrase, say
from connector.ledger import cancel_pending_reminders, set_state
from connector.platform import InvoiceStatus
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import (
    Instalment,
    Invoice,
    OwnerAction,
    PaymentSource,
)

OWNER_SOURCES = (PaymentSource.BANK_TRANSFER, PaymentSource.CHEQUE, PaymentSource.CASH)
"""How an owner can say a customer paid outside the platforms."""

MANUAL_PAUSE = "manual"
DISPUTE = "dispute"
EXCLUDED = "excluded"
MAX_INSTALMENTS = 24


# -- payments ----------------------------------------------------------------------------------


def record_payment(
    svc: Services,
    shop_id: int,
    invoice_id: int,
    *,
    source: PaymentSource,
    actor: str,
    amount: str | None = None,
    received_on: date | None = None,
    now: datetime | None = None,
) -> ActionResult:
    """The customer paid outside the platforms (bank transfer, cheque, cash): all that is due
    (``amount`` None) or part of it. Recorded as a webhook's payment is — same row lock, same
    ledger call — so every pending reminder is cancelled in this very transaction and the
    thank-you is recorded when the invoice is paid in full; a partial payment lowers the amount
    due and the sequence goes on for the rest."""
    who = asked(actor, now)
    if source not in OWNER_SOURCES:
        allowed = ", ".join(s.value for s in OWNER_SOURCES)
        raise ActionError(f"source: one of {allowed}")
    with invoice_edit(svc, shop_id, invoice_id, who, owed_to="pay") as edit:
        s, shop, inv, now = edit.s, edit.shop, edit.inv, who.now
        paid_minor = _parse_amount(amount, inv) if amount is not None else inv.amount_due_minor
        today = local_date(now, shop.timezone)
        received = received_on or today
        if received > today:
            raise ActionError(f"received_on: {received.isoformat()} is in the future")
        if received < local_date(inv.issued_at, shop.timezone):
            raise ActionError(f"received_on: {received.isoformat()} is before the invoice")
        planned = next_step(s, shop, inv, inv.customer, now)
        left = inv.amount_due_minor - paid_minor
        full = left == 0
        action = OwnerAction.MARK_PAID if full else OwnerAction.PARTIAL_PAYMENT
        what = amount_label(shop, paid_minor, inv.currency)
        title = f"{what} received by {source.value.replace('_', ' ')}"
        if not full:
            title += f"; {amount_label(shop, left, inv.currency)} still due"
        elif planned.key is not None and planned.on is not None:
            step = planned.key.replace("_", " ")
            title += f"; planned {step} of {day_label(shop, planned.on)} cancelled"
        event = edit.record(
            action,
            title,
            amount_minor=paid_minor,
            currency=inv.currency,
            source=source.value,
            received_on=received.isoformat(),
            amount_due_minor=left,
            cancelled_step=planned.key if full else None,
        )
        # The owner's record of the payment outranks an older platform state: only a platform
        # change made after it may move the invoice again.
        inv.platform_updated_at = max(inv.platform_updated_at or now, now)
        set_state(
            s,
            inv,
            status=InvoiceStatus.PAID if full else InvoiceStatus.PARTIALLY_PAID,
            amount_due_minor=left,
            now=now,
            source=source,
            payment_external_id=f"{OWNER_PAYMENT_PREFIX}{event.id}",
            received_at=shop_day(shop, received) if received != today else now,
        )
        return edit.result(event, title)


def _parse_amount(raw: str, inv: Invoice) -> int:
    try:
        money = Money.of(raw.strip().replace(",", "."), inv.currency)
    except ValueError as exc:
        raise ActionError(f"amount: {exc}") from exc
    minor = money.to_minor()
    if minor <= 0:
        raise ActionError("amount: must be more than zero")
    if minor > inv.amount_due_minor:
        due = Money.from_minor(inv.amount_due_minor, inv.currency)
        raise ActionError(f"amount: more than what is due ({due.amount} {inv.currency})")
    return minor


# -- pause, dispute, resume, exclude, write off ---------------------------------------------


def pause(
    svc: Services,
    shop_id: int,
    invoice_id: int,
    *,
    until: date,
    reason: str,
    actor: str,
    now: datetime | None = None,
) -> ActionResult:
    """No reminder for this invoice until the shop-local day ``until`` (the sequence then goes
    on, without a pile-up: only the latest due step goes out). Pending reminders are cancelled."""
    who = asked(actor, now, reason, reason_required=True)
    with invoice_edit(svc, shop_id, invoice_id, who, owed_to="pause") as edit:
        shop, inv, now, why = edit.shop, edit.inv, who.now, who.why
        if until < first_pause_day(local_date(now, shop.timezone)):
            raise ActionError(f"until: {until.isoformat()} is not after today")
        _refuse_other_pause(inv, "pause")
        inv.pause_reason = MANUAL_PAUSE
        inv.paused_until = shop_day(shop, until)
        inv.next_action_at = inv.paused_until
        cancel_pending_reminders(edit.s, inv, f"paused: {why}", now)
        title = f"paused until {day_label(shop, until)}: {why}"
        event = edit.record(OwnerAction.PAUSE, title, until=until.isoformat(), reason=why)
        return edit.result(event, title)


def _refuse_other_pause(inv: Invoice, what: str) -> None:
    if inv.pause_reason == DISPUTE:
        raise ActionError(f"invoice {inv.number} is disputed: resume it before you {what} it")
    if inv.pause_reason == EXCLUDED:
        raise ActionError(f"invoice {inv.number} is excluded: include it before you {what} it")


def dispute(
    svc: Services,
    shop_id: int,
    invoice_id: int,
    *,
    reason: str,
    actor: str,
    now: datetime | None = None,
) -> ActionResult:
    """The customer disputes the invoice: no reminder until the owner resumes it."""
    who = asked(actor, now, reason, reason_required=True)
    with invoice_edit(svc, shop_id, invoice_id, who, owed_to="dispute") as edit:
        inv, why = edit.inv, who.why
        if inv.pause_reason == DISPUTE:
            raise ActionError(f"invoice {inv.number} is already disputed")
        inv.pause_reason = DISPUTE
        inv.paused_until = None
        inv.next_action_at = None
        cancel_pending_reminders(edit.s, inv, f"disputed: {why}", who.now)
        title = f"disputed: {why}"
        event = edit.record(OwnerAction.DISPUTE, title, reason=why)
        return edit.result(event, title)


def resume(
    svc: Services,
    shop_id: int,
    invoice_id: int,
    *,
    actor: str,
    reason: str | None = None,
    now: datetime | None = None,
) -> ActionResult:
    """End a pause or a dispute: the engine plans the invoice again at once; the steps passed
    meanwhile are skipped, only the latest due one goes out (no pile-up)."""
    who = asked(actor, now, reason)
    with invoice_edit(svc, shop_id, invoice_id, who, owed_to="resume") as edit:
        inv, why = edit.inv, who.why
        if inv.pause_reason is None:
            raise ActionError(f"invoice {inv.number} is not paused")
        if inv.pause_reason == EXCLUDED:
            raise ActionError(f"invoice {inv.number} is excluded: include it instead")
        was = inv.pause_reason
        inv.pause_reason = None
        inv.paused_until = None
        _replan_now(inv, who.now)
        title = f"resumed ({was})" + (f": {why}" if why else "")
        event = edit.record(OwnerAction.RESUME, title, was=was, reason=why)
        return edit.result(event, title)


def _replan_now(inv: Invoice, now: datetime) -> None:
    """Back to the sequence from today: the next tick plans the invoice at once, and the
    planner skips the steps passed meanwhile so that only the latest due one goes out (no
    pile-up). Resume and a cancelled plan both come back this way."""
    inv.next_action_at = now


def exclude_invoice(
    svc: Services,
    shop_id: int,
    invoice_id: int,
    *,
    actor: str,
    reason: str | None = None,
    now: datetime | None = None,
) -> ActionResult:
    """Never remind about this invoice (until included again)."""
    who = asked(actor, now, reason)
    with invoice_edit(svc, shop_id, invoice_id, who, owed_to="exclude") as edit:
        inv, why = edit.inv, who.why
        if inv.pause_reason == EXCLUDED:
            raise ActionError(f"invoice {inv.number} is already excluded")
        inv.pause_reason = EXCLUDED
        inv.paused_until = None
        inv.next_action_at = None
        cancel_pending_reminders(edit.s, inv, "invoice excluded", who.now)
        title = "excluded from reminders" + (f": {why}" if why else "")
        event = edit.record(OwnerAction.EXCLUDE_INVOICE, title, reason=why)
        return edit.result(event, title)


def include_invoice(
    svc: Services, shop_id: int, invoice_id: int, *, actor: str, now: datetime | None = None
) -> ActionResult:
    who = asked(actor, now)
    with invoice_edit(svc, shop_id, invoice_id, who, owed_to=None) as edit:
        inv = edit.inv
        if inv.pause_reason != EXCLUDED:
            raise ActionError(f"invoice {inv.number} is not excluded")
        inv.pause_reason = None
        inv.next_action_at = who.now if inv.status.is_owed else None
        title = "included in reminders again"
        event = edit.record(OwnerAction.INCLUDE_INVOICE, title)
        return edit.result(event, title)


def set_customer_excluded(
    svc: Services,
    shop_id: int,
    customer_id: int,
    *,
    excluded: bool,
    actor: str,
    reason: str | None = None,
    now: datetime | None = None,
) -> ActionResult:
    """Exclude a customer (no reminder for any of their invoices) or include them again. The
    timeline of each of their invoices shows it."""
    who = asked(actor, now, reason)
    now, why = who.now, who.why
    with write_session(svc.sessions) as s:
        shop = the_shop(s, shop_id)
        customer = shop_customer(s, shop.id, customer_id, lock=True)
        if customer.excluded == excluded:
            state = "excluded" if excluded else "not excluded"
            raise ActionError(f"customer {customer_id} is already {state}")
        customer.excluded = excluded
        owed = list(
            s.scalars(
                select(Invoice)
                .where(
                    Invoice.shop_id == shop.id,
                    Invoice.customer_id == customer.id,
                    Invoice.status.in_([InvoiceStatus.OPEN, InvoiceStatus.PARTIALLY_PAID]),
                )
                .order_by(Invoice.id)
                .with_for_update()
            )
        )
        for inv in owed:
            if excluded:
                cancel_pending_reminders(s, inv, "customer excluded", now)
            else:
                inv.next_action_at = now
        action = OwnerAction.EXCLUDE_CUSTOMER if excluded else OwnerAction.INCLUDE_CUSTOMER
        named = customer.name or customer.email or f"customer {customer.id}"
        title = f"customer {named} " + ("excluded" if excluded else "included again")
        if why:
            title += f": {why}"
        event = record(
            s,
            shop.id,
            who.actor,
            action,
            now,
            title,
            customer_id=customer.id,
            reason=why,
            invoices=len(owed),
        )
        return ActionResult(None, None, action, title, dict(event.detail))


def write_off(
    svc: Services,
    shop_id: int,
    invoice_id: int,
    *,
    actor: str,
    reason: str | None = None,
    now: datetime | None = None,
) -> ActionResult:
    """Uncollectible: the engine stops for good; pending reminders are cancelled."""
    who = asked(actor, now, reason)
    with invoice_edit(svc, shop_id, invoice_id, who, owed_to="write off") as edit:
        inv, now, why = edit.inv, who.now, who.why
        title = f"written off: {amount_label(edit.shop, inv.amount_due_minor, inv.currency)}"
        if why:
            title += f" ({why})"
        event = edit.record(
            OwnerAction.WRITE_OFF, title, reason=why, amount_minor=inv.amount_due_minor
        )
        inv.platform_updated_at = max(inv.platform_updated_at or now, now)
        set_state(
            edit.s,
            inv,
            status=InvoiceStatus.UNCOLLECTIBLE,
            amount_due_minor=inv.amount_due_minor,
            now=now,
            source=PaymentSource.MANUAL,
            payment_external_id=f"{OWNER_PAYMENT_PREFIX}{event.id}",
        )
        return edit.result(event, title)


# -- payment plan ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InstalmentSpec:
    """One instalment as the owner gives it: its shop-local due day and its amount."""

    due_on: date
    amount: str


def set_plan(
    svc: Services,
    shop_id: int,
    invoice_id: int,
    instalments: list[InstalmentSpec],
    *,
    actor: str,
    now: datetime | None = None,
) -> ActionResult:
    """Agree a payment plan: instalments with their own due days, adding up to what is due.
    The sequence then counts from the next unpaid instalment's due day (payments pay them in
    order, a webhook's too); when one is missed, the sequence resumes from it, at the step it
    had reached, without a pile-up. While a plan holds, another is refused: the owner cancels
    it first (the page offers no second plan beside the one shown)."""
    who = asked(actor, now)
    if not instalments:
        raise ActionError("instalments: give at least one (due day and amount)")
    if len(instalments) > MAX_INSTALMENTS:
        raise ActionError(f"instalments: at most {MAX_INSTALMENTS}")
    with invoice_edit(svc, shop_id, invoice_id, who, owed_to="plan") as edit:
        s, shop, inv, now = edit.s, edit.shop, edit.inv, who.now
        _refuse_other_pause(inv, "plan")
        if inv.plan_due_at is not None:
            raise ActionError(
                f"Invoice {inv.number} already has a payment plan: cancel it before you agree"
                " another."
            )
        today = local_date(now, shop.timezone)
        amounts: list[int] = []
        previous: date | None = None
        for n, spec in enumerate(instalments, start=1):
            if spec.due_on < today:
                raise ActionError(f"instalment {n}: due day {spec.due_on.isoformat()} is past")
            if previous is not None and spec.due_on <= previous:
                raise ActionError(f"instalment {n}: due day must be after instalment {n - 1}'s")
            previous = spec.due_on
            try:
                minor = Money.of(spec.amount.strip().replace(",", "."), inv.currency).to_minor()
            except ValueError as exc:
                raise ActionError(f"instalment {n}: amount: {exc}") from exc
            if minor <= 0:
                raise ActionError(f"instalment {n}: amount must be more than zero")
            amounts.append(minor)
        if sum(amounts) != inv.amount_due_minor:
            total = amount_label(shop, sum(amounts), inv.currency)
            due = amount_label(shop, inv.amount_due_minor, inv.currency)
            raise ActionError(
                f"The instalments add up to {total}, but {due} is due: adjust them so they add"
                " up to the amount due."
            )
        s.execute(delete(Instalment).where(Instalment.invoice_id == inv.id))
        for n, (spec, minor) in enumerate(zip(instalments, amounts, strict=True), start=1):
            s.add(
                Instalment(
                    shop_id=shop.id,
                    invoice_id=inv.id,
                    position=n,
                    due_at=shop_day(shop, spec.due_on),
                    amount_minor=minor,
                    currency=inv.currency,
                    paid_minor=0,
                    created_at=now,
                )
            )
        if inv.pause_reason == MANUAL_PAUSE:
            inv.pause_reason = None
            inv.paused_until = None
        inv.plan_due_at = shop_day(shop, instalments[0].due_on)
        inv.next_action_at = now  # re-planned against the first instalment at the next tick
        cancel_pending_reminders(s, inv, "payment plan agreed", now)
        days = ", ".join(
            f"{day_label(shop, i.due_on)} {amount_label(shop, m, inv.currency)}"
            for i, m in zip(instalments, amounts, strict=True)
        )
        title = f"payment plan in {len(instalments)} instalments: {days}"
        event = edit.record(
            OwnerAction.PLAN,
            title,
            instalments=[
                {"due_on": i.due_on.isoformat(), "amount_minor": m}
                for i, m in zip(instalments, amounts, strict=True)
            ],
            currency=inv.currency,
        )
        return edit.result(event, title)


def cancel_plan(
    svc: Services,
    shop_id: int,
    invoice_id: int,
    *,
    actor: str,
    reason: str | None = None,
    now: datetime | None = None,
) -> ActionResult:
    """End the invoice's payment plan (the customer asked to stop, or it was a mistake): its
    pending reminders are cancelled in this transaction, its instalment rows go (the timeline
    keeps them as they stood) and the invoice goes back to its sequence, counted from its own
    due date and re-planned from today the way a resume is: no pile-up. A pause or dispute it
    is under stays as it is."""
    who = asked(actor, now, reason)
    with invoice_edit(svc, shop_id, invoice_id, who, owed_to="cancel") as edit:
        s, shop, inv, now, why = edit.s, edit.shop, edit.inv, who.now, who.why
        if inv.plan_due_at is None:
            raise ActionError(f"invoice {inv.number} has no payment plan")
        rows = list(
            s.scalars(
                select(Instalment)
                .where(Instalment.invoice_id == inv.id, Instalment.shop_id == shop.id)
                .order_by(Instalment.position)
            )
        )
        left = [r for r in rows if r.paid_minor < r.amount_minor]
        cancelled = cancel_pending_reminders(s, inv, say(Phrase.PLAN_ENDED, {}), now)
        s.execute(delete(Instalment).where(Instalment.invoice_id == inv.id))
        inv.plan_due_at = None
        if inv.pause_reason is None:
            _replan_now(inv, now)
        # A coded sentence (connector.domain.phrases): the dossier says it in the shop's language.
        counts = {"unpaid": len(left), "n": len(rows)}
        title = (
            say(Phrase.PLAN_CANCELLED_WHY, {**counts, "why": why})
            if why
            else say(Phrase.PLAN_CANCELLED, counts)
        )
        event = edit.record(
            OwnerAction.PLAN_CANCEL,
            title,
            reason=why,
            reminders_cancelled=cancelled,
            instalments=[
                {
                    "position": r.position,
                    "due_on": local_date(r.due_at, shop.timezone).isoformat(),
                    "amount_minor": r.amount_minor,
                    "paid_minor": r.paid_minor,
                }
                for r in rows
            ],
            currency=inv.currency,
        )
        return edit.result(event, title)


def customer_of(svc: Services, shop_id: int, invoice_id: int) -> int:
    """The customer id of one of the shop's invoices (for the customer-wide actions)."""
    with svc.sessions() as s:
        cid = s.scalar(
            select(Invoice.customer_id).where(Invoice.id == invoice_id, Invoice.shop_id == shop_id)
        )
    if cid is None:
        raise InvoiceNotFound(f"no invoice {invoice_id} in this shop")
    return int(cid)
