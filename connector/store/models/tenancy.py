"""The tenant (Shop) and its platform connections."""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from connector.domain.terms import TermsMode
from connector.store.base import Base, TimestampMixin, str_enum


class Shop(TimestampMixin, Base):
    __tablename__ = "shop"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str]
    owner_email: Mapped[str]
    locale: Mapped[str] = mapped_column(default="fr")
    timezone: Mapped[str] = mapped_column(default="Europe/Paris")
    currency: Mapped[str] = mapped_column(default="EUR")
    # Sender identity and the human contact offered in every message.
    sender_name: Mapped[str | None]
    sender_email: Mapped[str | None]
    contact_name: Mapped[str | None]  # the person named in every message
    contact_email: Mapped[str | None]
    contact_phone: Mapped[str | None]
    # Who signs the letters (final warning, formal notice), and in what role.
    signatory_name: Mapped[str | None]
    signatory_role: Mapped[str | None]
    payment_instructions: Mapped[str | None] = mapped_column(Text)
    # Legal identity, for letters.
    legal_name: Mapped[str | None]
    legal_address: Mapped[str | None] = mapped_column(Text)
    legal_id: Mapped[str | None]
    # Messages cite "our terms and conditions" only when the owner confirms the shop has them.
    has_terms_and_conditions: Mapped[bool] = mapped_column(default=False)
    # The consumer mediator (L616-1 Code de la consommation): name and contact, free text.
    consumer_mediator: Mapped[str | None] = mapped_column(Text)
    # The creditor's identification on letters and emails (R123-237 Code de commerce).
    legal_form: Mapped[str | None]  # « SARL au capital de 10 000 € », « SAS », « EI »
    siren: Mapped[str | None] = mapped_column(String(9))  # 9 digits, Luhn-checked on input
    rcs_city: Mapped[str | None]  # « Paris » for « RCS Paris »
    registered_office: Mapped[str | None] = mapped_column(Text)  # multi-line postal address
    postal_address: Mapped[str | None] = mapped_column(Text)  # letters' sender, if not the office
    # Legal settings (design §5). Rates in basis points so they stay exact on SQLite.
    default_b2b: Mapped[bool] = mapped_column(default=False)
    terms_mode: Mapped[TermsMode] = mapped_column(str_enum(TermsMode), default=TermsMode.NET)
    terms_days: Mapped[int] = mapped_column(default=30)
    ecb_rate_bp: Mapped[int] = mapped_column(default=215)
    b2b_margin_bp: Mapped[int] = mapped_column(default=1000)
    consumer_rate_bp: Mapped[int | None]
    # A B2B late rate agreed in the shop's terms instead of ECB + margin (at least three times
    # the legal interest rate, L441-10 II); None: ECB rate of the half-year + b2b_margin_bp.
    contractual_rate_bp: Mapped[int | None]
    # Stop reminding and flag an invoice once its claim is time-barred (2 years consumer,
    # 5 years B2B). Off only for an owner who interrupted it (acknowledged debt, legal action).
    prescription_enabled: Mapped[bool] = mapped_column(default=True)
    indemnity_minor: Mapped[int] = mapped_column(default=4000)  # EUR cents
    # Sending window in the shop's own timezone.
    window_start: Mapped[time] = mapped_column(default=time(9, 0))
    window_end: Mapped[time] = mapped_column(default=time(18, 0))
    business_days_only: Mapped[bool] = mapped_column(default=True)
    holiday_country: Mapped[str] = mapped_column(default="FR")
    holiday_subdiv: Mapped[str | None]
    # Hand-off to a person.
    escalate_after_reminders: Mapped[int | None]  # None: never by count (opt-in)
    escalate_above_minor: Mapped[int | None]
    thank_you_enabled: Mapped[bool] = mapped_column(default=False)
    # Days a posted letter takes to arrive: a formal notice's deadline counts from then.
    letter_posting_delay_days: Mapped[int] = mapped_column(default=2)


class EcbRate(TimestampMixin, Base):
    """The shipped table (migration 0013 seeds it, for every shop): the ECB main refinancing
    rate in force on a half-year's first day (1 January, 1 July), L441-10 II."""

    __tablename__ = "ecb_rate"

    id: Mapped[int] = mapped_column(primary_key=True)
    starts_on: Mapped[date] = mapped_column(unique=True)
    rate_bp: Mapped[int]


class ShopEcbRate(TimestampMixin, Base):
    """A half-year's ECB rate an owner added for their shop (the next one, before a release
    ships it); it takes precedence over the shipped row for that shop only."""

    __tablename__ = "shop_ecb_rate"
    __table_args__ = (UniqueConstraint("shop_id", "starts_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"))
    starts_on: Mapped[date]
    rate_bp: Mapped[int]


class Connection(TimestampMixin, Base):
    __tablename__ = "connection"
    __table_args__ = (UniqueConstraint("shop_id", "platform", "external_account"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(default="csv")
    external_account: Mapped[str] = mapped_column(default="")
    credentials_enc: Mapped[str | None] = mapped_column(Text)  # Fernet token of a JSON object
    webhook_secret_enc: Mapped[str | None] = mapped_column(Text)
    webhook_ids: Mapped[list[str] | None] = mapped_column(JSON)  # registered at the platform
    api_base: Mapped[str | None]
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sync_cursor: Mapped[str | None] = mapped_column(Text)
    sync_interval_minutes: Mapped[int] = mapped_column(default=15)
    last_sync_at: Mapped[datetime | None]
    last_sync_status: Mapped[str | None]
    last_sync_error: Mapped[str | None] = mapped_column(Text)
    last_webhook_at: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(default=True)
    # The owner's "sync now": the worker picks it up within seconds (the web never syncs).
    sync_requested_at: Mapped[datetime | None]
    # The current sync run (None once it ends) and its progress, written with each page: the
    # Connections page polls these while a sync runs, and keeps the last run's figures.
    sync_started_at: Mapped[datetime | None]
    sync_pages: Mapped[int] = mapped_column(default=0, server_default="0")
    sync_invoices: Mapped[int] = mapped_column(default=0, server_default="0")


class GrantPurpose(StrEnum):
    WOOCOMMERCE = "woocommerce"  # the wc-auth ``user_id``
    STRIPE_CONNECT = "stripe_connect"  # the OAuth ``state``


class ConnectGrant(TimestampMixin, Base):
    """A one-time token handed to a platform's authorization flow, bound to the shop and the
    owner who started it. Only its SHA-256 is stored; it works once, before ``expires_at``."""

    __tablename__ = "connect_grant"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owner.id", ondelete="CASCADE"))
    purpose: Mapped[GrantPurpose] = mapped_column(str_enum(GrantPurpose))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account: Mapped[str | None]  # the WooCommerce store URL the owner typed
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("connection.id", ondelete="SET NULL")
    )
    outcome: Mapped[str | None] = mapped_column(Text)  # what the owner is told on return
