"""Customers, what they owe (Invoice) and what they paid (Payment). Money in minor units."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from connector.domain.money import Money
from connector.platform import InvoiceStatus
from connector.store.base import Base, TimestampMixin, str_enum
from connector.store.fold import fold, key


def _key_of(column: str) -> Callable[[Any], str | None]:
    """A search key's default: folded from the row's value when a Core INSERT leaves the key
    out (the ORM sets it already, by the ``validates`` hooks below)."""

    def default(context: Any) -> str | None:
        value = context.get_current_parameters().get(column)
        return key(value) if isinstance(value, str) else None

    return default


class Customer(TimestampMixin, Base):
    __tablename__ = "customer"
    __table_args__ = (
        UniqueConstraint("connection_id", "external_id"),
        Index("ix_customer_shop_email", "shop_id", "email"),
        # The dashboard's steps due: the shop's few customers never to remind, a small range.
        Index("ix_customer_shop_unreachable", "shop_id", "excluded", "erased_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"))
    external_id: Mapped[str]
    email: Mapped[str | None]
    name: Mapped[str | None]
    company: Mapped[str | None]
    phone: Mapped[str | None]
    postal_address: Mapped[str | None] = mapped_column(Text)
    locale: Mapped[str | None] = mapped_column(String(8))
    is_b2b: Mapped[bool] = mapped_column(default=False)
    excluded: Mapped[bool] = mapped_column(default=False)  # the owner said: never remind
    email_blocked_reason: Mapped[str | None]  # bounce / drop / spam report: no more email
    erased_at: Mapped[datetime | None]  # GDPR erasure: personal data gone, amounts kept
    # The owner's search: folded copies written with the columns (connector.store.fold).
    name_key: Mapped[str | None] = mapped_column(Text, default=_key_of("name"))
    company_key: Mapped[str | None] = mapped_column(Text, default=_key_of("company"))
    email_key: Mapped[str | None] = mapped_column(Text, default=_key_of("email"))

    @validates("name", "company", "email")
    def _keep_search_key(self, field: str, value: str | None) -> str | None:
        setattr(self, f"{field}_key", key(value))
        return value


class Invoice(TimestampMixin, Base):
    __tablename__ = "invoice"
    __table_args__ = (
        UniqueConstraint("connection_id", "external_id"),
        # The due invoices in the order ticks claim them, resumed after the last one taken
        # (connector.dunning.claims.due_customers).
        Index("ix_invoice_next_action", "next_action_at", "id"),
        Index("ix_invoice_customer", "customer_id"),
        # The owner's list: one index per sort order it offers, (shop, key, id), so a page is a
        # keyset range scan however deep (connector.actions.invoice_list).
        Index("ix_invoice_shop_due", "shop_id", "due_at", "id"),
        Index("ix_invoice_shop_status", "shop_id", "status", "id"),
        Index("ix_invoice_shop_number", "shop_id", "number", "id"),
        Index("ix_invoice_shop_amount", "shop_id", "amount_due_minor", "id"),
        # The dashboard (connector.actions.dashboard), read from the index alone: aging and
        # steps falling due by (shop, status, due_at); the period's sales for the DSO.
        Index(
            "ix_invoice_shop_status_due",
            "shop_id",
            "status",
            "due_at",
            "currency",
            "amount_due_minor",
        ),
        Index("ix_invoice_shop_issued", "shop_id", "currency", "issued_at", "total_minor"),
        # The dashboard's steps due by the next business day, read from the index alone: per
        # step a due_at range, with what says whether a tick would look at the invoice.
        Index(
            "ix_invoice_shop_status_due_plan",
            "shop_id",
            "status",
            "due_at",
            "next_action_at",
            "paused_until",
            "sequence_id",
            "customer_id",
            "id",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    connection_id: Mapped[int] = mapped_column(ForeignKey("connection.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    external_id: Mapped[str]
    number: Mapped[str]
    # The owner's search (connector.store.fold); NULL only while a migration fills it.
    number_key: Mapped[str | None] = mapped_column(Text, default=_key_of("number"))
    currency: Mapped[str] = mapped_column(String(3))
    total_minor: Mapped[int]
    amount_due_minor: Mapped[int]
    status: Mapped[InvoiceStatus] = mapped_column(str_enum(InvoiceStatus))
    issued_at: Mapped[datetime]
    due_at: Mapped[datetime]
    payment_url: Mapped[str | None] = mapped_column(Text)
    sequence_id: Mapped[int | None] = mapped_column(ForeignKey("sequence.id"))  # None: default
    paused_until: Mapped[datetime | None]
    pause_reason: Mapped[str | None]  # payment_plan | dispute | manual
    # While a payment plan is active: the due date of its next unpaid instalment, which the
    # sequence counts from instead of ``due_at`` (messages still state ``due_at``).
    plan_due_at: Mapped[datetime | None]
    handed_off_at: Mapped[datetime | None]
    prescribed_at: Mapped[datetime | None]
    # When the engine must look at this invoice again; NULL: nothing to do. Indexed, so a
    # tick costs what is due, not what is stored.
    next_action_at: Mapped[datetime | None]
    # The platform's own timestamp of the state we hold: an older event never reverts it.
    platform_updated_at: Mapped[datetime | None]

    customer: Mapped[Customer] = relationship(lazy="joined", innerjoin=True)

    @validates("number")
    def _keep_search_key(self, _field: str, value: str) -> str:
        self.number_key = fold(value)
        return value

    @property
    def amount_due(self) -> Money:
        return Money.from_minor(self.amount_due_minor, self.currency)

    @property
    def total(self) -> Money:
        return Money.from_minor(self.total_minor, self.currency)


class PaymentSource(StrEnum):
    WEBHOOK = "webhook"
    SYNC = "sync"
    MANUAL = "manual"
    BANK_TRANSFER = "bank_transfer"  # recorded by the owner
    CHEQUE = "cheque"  # recorded by the owner
    CASH = "cash"  # recorded by the owner


class Payment(TimestampMixin, Base):
    __tablename__ = "payment"
    __table_args__ = (
        UniqueConstraint("invoice_id", "external_id"),
        # The dashboard's money recovered per month, read from the index alone.
        # (and the window's last payments for the paid-within-7-days table).
        Index(
            "ix_payment_shop_received",
            "shop_id",
            "received_at",
            "currency",
            "amount_minor",
            "invoice_id",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"))
    amount_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    received_at: Mapped[datetime]
    source: Mapped[PaymentSource] = mapped_column(str_enum(PaymentSource))
    external_id: Mapped[str]


def _prefix_index(name: str, table: type[Customer] | type[Invoice], column: str) -> Index:
    """(shop, search key) for the list's prefix search; on PostgreSQL with text_pattern_ops so
    ``LIKE 'abc%'`` rides on it whatever the database's collation."""
    return Index(
        name,
        table.__table__.c.shop_id,
        table.__table__.c[column],
        postgresql_ops={column: "text_pattern_ops"},
    )


# The owner's text search (an invoice number, a customer's name, company or email: prefixes).
SEARCH_INDEXES = (
    _prefix_index("ix_invoice_shop_number_key", Invoice, "number_key"),
    _prefix_index("ix_customer_shop_name_key", Customer, "name_key"),
    _prefix_index("ix_customer_shop_company_key", Customer, "company_key"),
    _prefix_index("ix_customer_shop_email_key", Customer, "email_key"),
)
