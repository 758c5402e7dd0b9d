"""`relance demo`: a shop with a handful of invoices at every stage of the sequence, so a new
owner sees reminders land in the outbox on the first tick."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from connector.domain.money import Money
from connector.dunning.runner import TickReport
from connector.ledger import ensure_csv_connection, upsert_invoices
from connector.platform import InvoiceStatus, NormalizedCustomer, NormalizedInvoice
from connector.services import Services
from connector.shops import create_shop
from connector.store.db import write_session
from connector.store.models import Shop

# (number, customer, email, amount, days past due, b2b)
DEMO = (
    ("DEMO-001", "Camille Martin", "camille@demo.example", "89.00", -2, False),
    ("DEMO-002", "Atelier Lenoir SARL", "compta@lenoir.example", "1240.00", 1, True),
    ("DEMO-003", "Hugo Bernard", "hugo@demo.example", "45.50", 7, False),
    ("DEMO-004", "Brasserie du Port SAS", "factures@port.example", "3200.00", 14, True),
    ("DEMO-005", "Léa Dubois", "lea@demo.example", "150.00", 30, False),
)


def run_demo(svc: Services, now: datetime | None = None) -> tuple[int, TickReport]:
    """The CLI's demo: the demo shop, then one tick so its reminders land in the outbox."""
    now = now or datetime.now(UTC)
    with write_session(svc.sessions) as s:
        shop_id = seed_demo_shop(s, now).id
    return shop_id, svc.runner().tick(now)


def seed_demo_shop(session: Session, now: datetime) -> Shop:
    """A new shop named "Boutique Démo" with the DEMO invoices, in the caller's transaction.
    No tick: the scheduler sends its reminders (the web never sends)."""
    shop = create_shop(session, name="Boutique Démo", email="owner@demo.example", b2b=False)
    shop.payment_instructions = "Virement : IBAN FR76 3000 6000 0112 3456 7890 189"
    conn = ensure_csv_connection(session, shop)
    items = [
        NormalizedInvoice(
            external_id=number,
            number=number,
            customer=NormalizedCustomer(
                external_id=email, email=email, name=name, is_b2b=b2b, locale="fr"
            ),
            total=Money.of(amount, "EUR"),
            amount_due=Money.of(amount, "EUR"),
            status=InvoiceStatus.OPEN,
            issued_at=now - timedelta(days=30 + late),
            due_at=now - timedelta(days=late),
            updated_at=now,
            payment_url=f"https://pay.demo.example/{number}",
        )
        for number, name, email, amount, late, b2b in DEMO
    ]
    upsert_invoices(session, shop, conn, items, now)
    return shop
