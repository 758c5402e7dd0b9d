"""Owners (the people who sign in) and their memberships of shops.

An owner sees and changes only the shops they are a member of; every page is scoped through
a membership, never by a shop id from the URL alone."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from connector.store.base import Base, TimestampMixin, str_enum


class Role(StrEnum):
    OWNER = "owner"


class Owner(TimestampMixin, Base):
    __tablename__ = "owner"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(unique=True)  # always stored lowercased
    password_hash: Mapped[str]
    last_sign_in_at: Mapped[datetime | None]


class Membership(TimestampMixin, Base):
    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("owner_id", "shop_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("owner.id", ondelete="CASCADE"), index=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = mapped_column(str_enum(Role), default=Role.OWNER)
