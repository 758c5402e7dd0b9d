"""What every owner action on an invoice shares: the invoice found in the owner's shop and
locked the way a payment webhook locks it, the audit row naming who did it, the result."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connector.actions.errors import ActionError, NotFound
from connector.actions.timeline import InvoiceNotFound
from connector.domain.dates import BABEL_LOCALES, language_of, long_date
from connector.domain.money import Money
from connector.ledger import local_midnight
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import Customer, Invoice, InvoiceEvent, OwnerAction, Shop

ACTOR_MAX = 255
REASON_MAX = 500
TITLE_LANGUAGE = "en"
"""The language of the sentences the owner's actions store as titles (connector.domain.phrases)."""


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What an action did to one invoice (or customer): shown by the page, the CLI (--json)."""

    invoice_id: int | None
    number: str | None
    action: OwnerAction
    title: str
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "invoice_id": self.invoice_id,
            "number": self.number,
            "action": self.action.value,
            "title": self.title,
            **self.detail,
        }


@dataclass(frozen=True, slots=True)
class Asked:
    """Who asks for an owner action, when, and why: checked before anything is read."""

    actor: str
    now: datetime
    why: str | None = None


def asked(
    actor: str,
    now: datetime | None,
    reason: str | None = None,
    *,
    reason_required: bool = False,
) -> Asked:
    """``now`` (tz-aware; default: the clock), the actor named, the reason one line."""
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("actions need a timezone-aware 'now'")
    actor = clean_actor(actor)
    return Asked(actor, now, clean_reason(reason, required=reason_required))


@dataclass(frozen=True, slots=True)
class InvoiceEdit:
    """An owner action on one invoice under way: its transaction, the shop, the invoice under
    the payment webhook's row lock, and who asked when."""

    s: Session
    shop: Shop
    inv: Invoice
    who: Asked

    def record(self, action: OwnerAction, title: str, **detail: Any) -> InvoiceEvent:
        """The timeline row naming who did it (see ``record``)."""
        return record(
            self.s,
            self.shop.id,
            self.who.actor,
            action,
            self.who.now,
            title,
            invoice=self.inv,
            **detail,
        )

    def result(self, event: InvoiceEvent, title: str) -> ActionResult:
        return ActionResult(self.inv.id, self.inv.number, event.action, title, dict(event.detail))


@contextmanager
def invoice_edit(
    svc: Services, shop_id: int, invoice_id: int, who: Asked, *, owed_to: str | None
) -> Iterator[InvoiceEdit]:
    """One transaction: the shop's invoice found and locked (another shop's is not found) and,
    with ``owed_to`` (the verb for the error), refused unless it is still owed."""
    with write_session(svc.sessions) as s:
        shop = the_shop(s, shop_id)
        inv = locked_invoice(s, shop.id, invoice_id)
        if owed_to is not None:
            require_owed(inv, owed_to)
        yield InvoiceEdit(s, shop, inv, who)


def the_shop(s: Session, shop_id: int) -> Shop:
    shop = s.get(Shop, shop_id)
    if shop is None:
        raise NotFound(f"no shop {shop_id}")
    return shop


def locked_invoice(s: Session, shop_id: int, invoice_id: int) -> Invoice:
    """The shop's invoice under the row lock a payment webhook takes (PostgreSQL; SQLite holds
    the write lock already): an action and a webhook or a tick on it happen one after the
    other. Another shop's invoice is not found."""
    inv = s.scalar(
        select(Invoice)
        .where(Invoice.id == invoice_id, Invoice.shop_id == shop_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if inv is None:
        raise InvoiceNotFound(f"no invoice {invoice_id} in this shop")
    return inv


def shop_customer(s: Session, shop_id: int, customer_id: int, *, lock: bool = False) -> Customer:
    query = select(Customer).where(Customer.id == customer_id, Customer.shop_id == shop_id)
    if lock:
        query = query.with_for_update()
    customer = s.scalar(query)
    if customer is None:
        raise NotFound(f"no customer {customer_id} in this shop")
    return customer


def clean_actor(actor: str) -> str:
    actor = actor.strip()
    if not actor:
        raise ActionError("actor: who takes the action must be named")
    return actor[:ACTOR_MAX]


def clean_reason(reason: str | None, *, required: bool, field_name: str = "reason") -> str | None:
    text = (reason or "").strip()
    if not text:
        if required:
            raise ActionError(f"{field_name}: say why (one line)")
        return None
    if len(text) > REASON_MAX or "\n" in text or "\r" in text:
        raise ActionError(f"{field_name}: one line of at most {REASON_MAX} characters")
    return text


def record(
    s: Session,
    shop_id: int,
    actor: str,
    action: OwnerAction,
    at: datetime,
    title: str,
    *,
    invoice: Invoice | None = None,
    customer_id: int | None = None,
    **detail: Any,
) -> InvoiceEvent:
    """The audit row: who did what, when (the timeline shows it with the actor)."""
    event = InvoiceEvent(
        shop_id=shop_id,
        invoice_id=invoice.id if invoice is not None else None,
        customer_id=customer_id,
        actor=actor,
        action=action,
        detail={"title": title, **detail},
        at=at,
    )
    s.add(event)
    s.flush()
    return event


def require_owed(inv: Invoice, what: str) -> None:
    if not inv.status.is_owed:
        raise ActionError(f"invoice {inv.number} is {inv.status.value}: nothing to {what}")


def first_pause_day(today: date) -> date:
    """The earliest day a pause may run until, ``today`` being the shop's: tomorrow (a pause
    until today would stop nothing). The action checks it; the pages' date pickers start there."""
    return today + timedelta(days=1)


def shop_day(shop: Shop, day: date) -> datetime:
    """The start of a shop-local day, as UTC."""
    return local_midnight(day, shop.timezone)


def day_label(shop: Shop, day: date) -> str:
    """A day inside an owner action's title: the title is an English sentence, so is its date
    (a page or a dossier in another language says it again in its own)."""
    return long_date(day, TITLE_LANGUAGE)


def amount_label(shop: Shop, minor: int, currency: str) -> str:
    lang = language_of(shop.locale)
    return Money.from_minor(minor, currency).format(BABEL_LOCALES.get(lang, lang))
