"""Test data through the real code paths (ledger upsert), never raw SQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from connector.domain.identity import PostalAddress
from connector.domain.money import Money
from connector.ingest import upsert_invoices
from connector.ledger import ensure_csv_connection
from connector.platform import InvoiceStatus, NormalizedCustomer, NormalizedInvoice
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import Invoice, Shop

PARIS = ZoneInfo("Europe/Paris")


def paris(day: date, hour: int = 10, minute: int = 0) -> datetime:
    """A shop-local wall-clock instant, as aware UTC."""
    return datetime.combine(day, time(hour, minute), tzinfo=PARIS).astimezone(UTC)


HOME = PostalAddress(line1="3 avenue Foch", postal_code="69006", city="Lyon", country="FR")
"""A customer's postal address (letters need one)."""


def normalized(
    number: str,
    *,
    email: str,
    amount: str = "120.00",
    currency: str = "EUR",
    due_on: date,
    issued_on: date | None = None,
    name: str | None = "Marie Curie",
    b2b: bool = False,
    status: InvoiceStatus = InvoiceStatus.OPEN,
    updated_at: datetime | None = None,
    customer_id: str | None = None,
    locale: str | None = "fr",
    postal_address: PostalAddress | None = HOME,
) -> NormalizedInvoice:
    money = Money.of(amount, currency)
    return NormalizedInvoice(
        external_id=number,
        number=number,
        customer=NormalizedCustomer(
            external_id=customer_id or email,
            email=email,
            name=name,
            is_b2b=b2b,
            locale=locale,
            postal_address=postal_address,
        ),
        total=money,
        amount_due=money if status.is_owed else Money.zero(currency),
        status=status,
        issued_at=paris(issued_on or due_on, 0),
        due_at=datetime.combine(due_on, time(0), tzinfo=PARIS).astimezone(UTC),
        updated_at=updated_at or datetime(2020, 1, 1, tzinfo=UTC),
        payment_url=f"https://pay.example/{number}",
    )


def add_invoices(svc: Services, shop: Shop, items: list[NormalizedInvoice]) -> None:
    with write_session(svc.sessions) as s:
        merged = s.merge(shop)
        conn = ensure_csv_connection(s, merged)
        upsert_invoices(s, merged, conn, items, datetime(2020, 1, 1, tzinfo=UTC))


def invoice_by_number(svc: Services, number: str) -> Invoice:
    from sqlalchemy import select

    with svc.sessions() as s:
        inv = s.scalar(select(Invoice).where(Invoice.number == number))
        assert inv is not None
        return inv
