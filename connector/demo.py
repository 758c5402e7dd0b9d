"""`relance demo`: a demo shop with invoices at every stage of the sequence, and the real engine
run over the next business days at 10:00 shop time, so a new owner sees reminders land in the
outbox whatever the day and hour they try it.

The demo shop is found again on every run (never a second one); its invoices are seeded once.
The days are simulated in the demo shop only (other shops are never ticked ahead of time) and
mail always goes to the outbox folder (the demo's addresses are not real). Running it again
sends nothing twice: a step goes out once per invoice, as always.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connector.domain.calendar import SendingWindow, resolve_local
from connector.domain.identity import PostalAddress
from connector.domain.money import Money
from connector.dunning.rules import sending_window
from connector.ledger import ensure_csv_connection, upsert_invoices
from connector.mail.outbox import OutboxTransport
from connector.platform import InvoiceStatus, NormalizedCustomer, NormalizedInvoice
from connector.services import Services
from connector.shops import create_shop
from connector.store.db import write_session
from connector.store.models import Invoice, Reminder, Shop

DEMO_NAME = "Boutique Démo"
DEMO_OWNER = "owner@demo.example"
DEMO_HOUR = time(10, 0)
DEMO_DAYS = 10  # business days simulated: enough for each invoice to move on a step or two
SENT_OUTCOMES = ("sent", "letter")

# (number, customer, email, amount, days past due, b2b)
DEMO = (
    ("DEMO-001", "Camille Martin", "camille@demo.example", "89.00", -2, False),
    ("DEMO-002", "Atelier Lenoir SARL", "compta@lenoir.example", "1240.00", 1, True),
    ("DEMO-003", "Hugo Bernard", "hugo@demo.example", "45.50", 7, False),
    ("DEMO-004", "Brasserie du Port SAS", "factures@port.example", "3200.00", 14, True),
    ("DEMO-005", "Léa Dubois", "lea@demo.example", "150.00", 30, False),
)


@dataclass(frozen=True, slots=True)
class DemoSend:
    day: date
    invoice: str
    step: str
    outcome: str  # "sent" (an email) or "letter" (a PDF to post, a task for the owner)
    recipient: str | None
    subject: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "invoice": self.invoice,
            "step": self.step,
            "outcome": self.outcome,
            "recipient": self.recipient,
            "subject": self.subject,
        }


@dataclass(slots=True)
class DemoReport:
    shop_id: int
    created: bool
    timezone: str
    outbox: Path
    days: list[date] = field(default_factory=list)
    sends: list[DemoSend] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "shop": self.shop_id,
            "created": self.created,
            "timezone": self.timezone,
            "outbox": str(self.outbox),
            "days": [d.isoformat() for d in self.days],
            "sends": [s.as_dict() for s in self.sends],
        }


def run_demo(svc: Services, now: datetime | None = None, *, days: int = DEMO_DAYS) -> DemoReport:
    """Find or create the demo shop, then tick it at 10:00 on each of the next business days."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    shop_id, created, window = _demo_shop(svc, now)
    outbox = svc.settings.outbox_dir
    runner = svc.runner(transport=OutboxTransport(outbox))
    report = DemoReport(shop_id, created, window.timezone, outbox)
    day = window.local_date(now)
    while len(report.days) < days:
        if window.is_allowed_day(day):
            at = resolve_local(day, DEMO_HOUR, window.tz)
            tick = runner.tick(at, shop_id=shop_id)
            done = [
                (o.invoice, o.step, o.outcome)
                for o in tick.outcomes
                if o.outcome in SENT_OUTCOMES and o.step
            ]
            report.days.append(day)
            report.sends += _sends(svc, shop_id, day, done)
        day += timedelta(days=1)
    return report


def _demo_shop(svc: Services, now: datetime) -> tuple[int, bool, SendingWindow]:
    with write_session(svc.sessions) as s:
        shop = s.scalar(
            select(Shop)
            .where(Shop.name == DEMO_NAME, Shop.owner_email == DEMO_OWNER)
            .order_by(Shop.id)
            .limit(1)
        )
        created = shop is None
        if shop is None:
            shop = seed_demo_shop(s, now, owner_email=DEMO_OWNER)
        elif s.scalar(select(Invoice.id).where(Invoice.shop_id == shop.id).limit(1)) is None:
            upsert_invoices(s, shop, ensure_csv_connection(s, shop), _invoices(now), now)
        return shop.id, created, sending_window(shop)


def seed_demo_shop(session: Session, now: datetime, *, owner_email: str) -> Shop:
    """A new demo shop with the DEMO invoices, in the caller's transaction; no tick (the
    scheduler sends its reminders: the web never sends). The web makes one per owner, under
    that owner's email, so two owners never share one, nor the CLI's (``DEMO_OWNER``)."""
    shop = create_shop(session, name=DEMO_NAME, email=owner_email, b2b=False)
    shop.payment_instructions = "Virement : IBAN FR76 3000 6000 0112 3456 7890 189"
    # An identification of make-believe (its SIREN passes the check digit, nothing more), so
    # the demo's final warnings and formal notices come with their letters.
    shop.legal_name = f"{DEMO_NAME} SAS"
    shop.legal_form = "SAS au capital de 1 000 €"
    shop.siren = "123456782"
    shop.rcs_city = "Paris"
    shop.registered_office = "1 rue de la Démo\n75002 Paris"
    shop.contact_name = shop.signatory_name = "Camille Démo"
    shop.signatory_role = "Gérante"
    upsert_invoices(session, shop, ensure_csv_connection(session, shop), _invoices(now), now)
    return shop


def _invoices(now: datetime) -> list[NormalizedInvoice]:
    return [
        NormalizedInvoice(
            external_id=number,
            number=number,
            customer=NormalizedCustomer(
                external_id=email,
                email=email,
                name=name,
                is_b2b=b2b,
                locale="fr",
                postal_address=PostalAddress(
                    line1=f"{index + 1} rue de la République",
                    postal_code="69002",
                    city="Lyon",
                    country="FR",
                ),
            ),
            total=Money.of(amount, "EUR"),
            amount_due=Money.of(amount, "EUR"),
            status=InvoiceStatus.OPEN,
            issued_at=now - timedelta(days=30 + late),
            due_at=now - timedelta(days=late),
            updated_at=now,
            payment_url=f"https://pay.demo.example/{number}",
        )
        for index, (number, name, email, amount, late, b2b) in enumerate(DEMO)
    ]


def _sends(
    svc: Services, shop_id: int, day: date, done: list[tuple[str, str, str]]
) -> list[DemoSend]:
    """What went out that day, with the subject and recipient the reminder recorded."""
    found: list[DemoSend] = []
    with svc.sessions() as s:
        for number, step, outcome in done:
            rem = s.scalar(
                select(Reminder)
                .join(Invoice, Invoice.id == Reminder.invoice_id)
                .where(
                    Invoice.shop_id == shop_id,
                    Invoice.number == number,
                    Reminder.step_key == step,
                )
            )
            found.append(
                DemoSend(
                    day,
                    number,
                    step,
                    outcome,
                    rem.recipient if rem else None,
                    rem.subject if rem else None,
                )
            )
    return found
