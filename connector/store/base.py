"""Declarative base: constraint naming convention and tz-aware UTC timestamps everywhere."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Dialect,
    Enum,
    Integer,
    MetaData,
    String,
    Time,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """TIMESTAMP WITH TIME ZONE that refuses naive values and always returns aware UTC.

    SQLite has no time zones: values are stored as UTC and made aware again on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime refused by the store: {value!r}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[datetime | None], Any]:
        """One call per value (a batch of a thousand rows binds several thousand instants):
        the check and the conversion to what the driver stores, without the decorator's chain
        through ``process_bind_param`` and SQLite's ``%``-formatting. Stores exactly what that
        chain stores (tests/test_store.py compares them)."""
        if dialect.name == "sqlite":
            return _sqlite_utc_text
        return _aware_utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> Callable[[Any], datetime | None] | None:
        """On SQLite, one call per value (a re-sync reads several instants per invoice): the
        stored text read as UTC by ``fromisoformat`` with the offset appended, without the
        chain through ``process_result_value``, whose ``replace`` costs more than the parse.
        Returns exactly what that chain returns (tests/test_store.py compares them)."""
        if dialect.name == "sqlite":
            return _utc_from_sqlite_text
        return super().result_processor(dialect, coltype)


def _sqlite_utc_text(value: datetime | None) -> str | None:
    """SQLite's DATETIME storage format ("2026-06-01 08:00:00.000000"), in UTC: the wall clock
    shifted by the offset, the offset's own text cut off (cheaper than ``replace``)."""
    if value is None:
        return None
    if value.tzinfo is UTC:
        return value.isoformat(" ", "microseconds")[:26]
    offset = value.utcoffset()
    if offset is None:
        raise ValueError(f"naive datetime refused by the store: {value!r}")
    return (value - offset if offset else value).isoformat(" ", "microseconds")[:26]


_SQLITE_TEXT_LENGTH = len("2026-06-01 08:00:00.000000")


def _utc_from_sqlite_text(value: str | None) -> datetime | None:
    """What ``_sqlite_utc_text`` stored, back as an aware UTC datetime. Any other text (no
    microseconds, a date alone, an offset written by hand) goes the general way: parsed as
    it is, naive read as UTC, an offset converted."""
    if value is None:
        return None
    if len(value) == _SQLITE_TEXT_LENGTH:
        try:
            return datetime.fromisoformat(value + "+00:00")
        except ValueError:
            pass  # that length, but with an offset of its own ("…08:00:00.1+0200")
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _aware_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.utcoffset() is None:
        raise ValueError(f"naive datetime refused by the store: {value!r}")
    return value.astimezone(UTC)


def str_enum(enum_cls: type[StrEnum], length: int = 24) -> Any:
    """Enums stored as their string values (portable, readable in SQL), validated on write."""

    return Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=length,
        validate_strings=True,
        values_callable=lambda e: [m.value for m in e],
    )


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        datetime: UTCDateTime(),
        date: Date(),
        time: Time(),
        int: BigInteger().with_variant(Integer(), "sqlite"),
        str: String(255),
        dict[str, Any]: JSON(),
    }


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=lambda: datetime.now(UTC))
    updated_at: Mapped[datetime] = mapped_column(
        default=lambda: datetime.now(UTC), onupdate=lambda: datetime.now(UTC)
    )
