"""What the owner did to an invoice (InvoiceEvent, the audit trail with who did it) and the
payment plans they agreed with customers (Instalment)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from connector.store.base import Base, str_enum


class OwnerAction(StrEnum):
    MARK_PAID = "mark_paid"
    PARTIAL_PAYMENT = "partial_payment"
    PAUSE = "pause"
    RESUME = "resume"
    DISPUTE = "dispute"
    PLAN = "plan"
    PLAN_CANCEL = "plan_cancel"
    SEND_NOW = "send_now"
    EXCLUDE_INVOICE = "exclude_invoice"
    INCLUDE_INVOICE = "include_invoice"
    EXCLUDE_CUSTOMER = "exclude_customer"
    INCLUDE_CUSTOMER = "include_customer"
    WRITE_OFF = "write_off"


class InvoiceEvent(Base):
    """One owner action, as it was taken: who, what, when, with what (``detail``). Rows are
    never updated nor deleted: the invoice's evidence file names who changed its course.
    A customer-wide action (exclude / include) has ``invoice_id`` NULL and shows on every
    invoice of that customer."""

    __tablename__ = "invoice_event"
    __table_args__ = (
        Index("ix_invoice_event_invoice_at", "invoice_id", "at"),
        Index("ix_invoice_event_customer_at", "customer_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"))
    actor: Mapped[str]  # the owner's email, "cli", …
    action: Mapped[OwnerAction] = mapped_column(str_enum(OwnerAction))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime]


class Instalment(Base):
    """One instalment of an invoice's payment plan. While a plan is active the sequence counts
    from the next unpaid instalment's due date; ``paid_minor`` fills in payment order."""

    __tablename__ = "instalment"
    __table_args__ = (UniqueConstraint("invoice_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoice.id", ondelete="CASCADE"))
    position: Mapped[int]
    due_at: Mapped[datetime]  # shop-local midnight of its due day, in UTC
    amount_minor: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    paid_minor: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
