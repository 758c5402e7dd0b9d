"""`relance invoices import FILE.csv`: all rows are checked before anything is written.

Columns: number, customer_email, customer_name, amount, currency, issued_at, due_at, b2b,
locale (dates ISO 8601). A bad row is reported by line and field and nothing of the file is
written. Re-importing the same file changes nothing; an invoice already settled is never
reopened by a CSV.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from connector.domain.email import InvalidEmail, valid_email
from connector.domain.identity import PostalAddress
from connector.domain.money import (
    UnknownCurrency,
    currency_exponent,
    normalize_currency,
    parse_minor,
)
from connector.domain.terms import due_date
from connector.dunning.compose import SUPPORTED_LOCALES
from connector.ingest import UpsertStats, upsert_invoices
from connector.ledger import ensure_csv_connection, local_midnight
from connector.platform import InvoiceRow, InvoiceStatus
from connector.store.models import Invoice, Shop, TimelineKind

Report = Callable[[str, str], None]  # (field, message)

REQUIRED = ("number", "customer_email", "amount", "currency", "issued_at")
ADDRESS = ("address_line1", "address_line2", "postal_code", "city", "country")
"""The customer's postal address (optional; letters need one): street, town, country."""
OPTIONAL = ("customer_name", "due_at", "b2b", "locale", *ADDRESS)
TRUE = {"1", "true", "yes", "y", "oui", "vrai", "b2b"}
FALSE = {"0", "false", "no", "n", "non", "faux", "b2c", ""}


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, field {self.field}: {self.message}"


class ImportError_(ValueError):
    """The file cannot be imported; ``errors`` lists every problem found."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{first}{more}; nothing was imported")


@dataclass(frozen=True, slots=True)
class ImportResult:
    rows: int
    stats: UpsertStats
    settled_untouched: int


MAX_VALUE = 255
"""The longest value a column takes (the store's text columns are 255 characters)."""
MAX_AMOUNT = Decimal(10) ** 15
"""Amounts stop below a quadrillion: beyond that no invoice is real, and minor units of every
currency still fit the store's 64-bit integers."""
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(2999, 12, 31)
"""Dates outside these are typing mistakes; inside, every due date and plan stays computable."""


class _RecordLines:
    """Feeds the csv reader one physical line at a time and keeps the lines of the record being
    read, so a record the reader refuses can still be reported by its line and field."""

    def __init__(self, text: str) -> None:
        self._lines = iter(io.StringIO(text, newline=""))
        self.consumed = 0
        self.record: list[str] = []

    def __iter__(self) -> _RecordLines:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.consumed += 1
        self.record.append(line)
        return line

    def next_record(self) -> int:
        """Start a new record; returns its first line's number."""
        self.record = []
        return self.consumed + 1


def _failing_field(partial: str, delimiter: str) -> int:
    """Index of the field the csv reader gave up on in a partly read record: the first longer
    than the reader's limit, else the one the record ends in (quoted delimiters don't count)."""
    limit = csv.field_size_limit()
    index, length, quoted = 0, 0, False
    for char in partial:
        if char == '"':
            quoted = not quoted
        elif char == delimiter and not quoted:
            index, length = index + 1, 0
            continue
        length += 1
        if length > limit:
            return index
    return index


def _delimiter(text: str) -> str:
    """Decided by the header line alone: the rows' contents (a note full of ';') never count."""
    header_line = text.split("\n", 1)[0]
    return ";" if header_line.count(";") > header_line.count(",") else ","


def read_rows(source: Path | bytes) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The header and the (line, row) pairs of a CSV file or of uploaded bytes."""
    try:
        data = source if isinstance(source, bytes) else source.read_bytes()
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportError_([RowError(0, "file", f"not UTF-8 text ({exc.reason})")]) from exc
    except OSError as exc:
        raise ImportError_([RowError(0, "file", f"cannot be read ({exc.strerror})")]) from exc
    delimiter = _delimiter(text)
    lines = _RecordLines(text)
    reader = csv.reader(lines, delimiter=delimiter)
    header: list[str] = []
    rows: list[tuple[int, dict[str, str]]] = []
    while True:
        line = lines.next_record()
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            index = _failing_field("".join(lines.record), delimiter)
            field = _column(header, index)
            raise ImportError_([RowError(line, field, f"unreadable CSV ({exc})")]) from exc
        if not header:
            header = [h.strip() for h in values]
            _check_header(header)
            continue
        if not values:
            continue  # a blank line
        if len(values) > len(header):
            rows.append((line, {"__extra__": ""}))
            continue
        rows.append(
            (
                line,
                {h: (values[i].strip() if i < len(values) else "") for i, h in enumerate(header)},
            )
        )
    return header, rows


def _column(header: list[str], index: int) -> str:
    return header[index] if index < len(header) else f"column {index + 1}"


def _check_header(header: list[str]) -> None:
    """A column named twice would silently lose one of its values; a NUL never enters."""
    errors = []
    first_seen: dict[str, int] = {}
    for position, name in enumerate(header, start=1):
        if "\x00" in name:
            errors.append(RowError(1, f"column {position}", "contains a NUL byte"))
        elif len(name) > MAX_VALUE:
            errors.append(RowError(1, f"column {position}", f"longer than {MAX_VALUE} characters"))
        elif name in first_seen:
            errors.append(
                RowError(
                    1,
                    name,
                    f"appears twice in the header (columns {first_seen[name]} and {position})",
                )
            )
        else:
            first_seen[name] = position
    if errors:
        raise ImportError_(errors)


def _unsafe_values(line: int, row: dict[str, str]) -> list[RowError]:
    """Values no parser should see: NUL bytes (PostgreSQL refuses them) and novels."""
    errors = []
    for field, value in row.items():
        if "\x00" in value:
            errors.append(RowError(line, field, "contains a NUL byte"))
        elif len(value) > MAX_VALUE:
            errors.append(
                RowError(line, field, f"longer than {MAX_VALUE} characters ({len(value)})")
            )
    return errors


def parse_file(source: Path | bytes, shop: Shop, now: datetime) -> list[InvoiceRow]:
    header, rows = read_rows(source)
    errors: list[RowError] = []
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    for col in missing:
        errors.append(RowError(1, col, "required column missing from the header"))
    for col in unknown:
        errors.append(RowError(1, col, "unknown column in the header"))
    if errors:
        raise ImportError_(errors)
    if not rows:
        raise ImportError_([RowError(1, "file", "no rows after the header")])
    items: list[InvoiceRow] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        if "__extra__" in row:
            errors.append(RowError(line, "row", "more values than header columns"))
            continue
        unsafe = _unsafe_values(line, row)
        if unsafe:
            errors.extend(unsafe)
            continue
        item = _parse_row(line, row, shop, now, errors)
        if item is None:
            continue
        if item.number in seen:
            errors.append(
                RowError(line, "number", f"{item.number!r} already on line {seen[item.number]}")
            )
            continue
        seen[item.number] = line
        items.append(item)
    if errors:
        raise ImportError_(errors)
    return items


def _parse_row(
    line: int, row: dict[str, str], shop: Shop, now: datetime, errors: list[RowError]
) -> InvoiceRow | None:
    """One line as the store's row (the shape the platforms' syncs send)."""
    before = len(errors)

    def err(field: str, message: str) -> None:
        errors.append(RowError(line, field, message))

    number = row.get("number", "")
    if not number:
        err("number", "must not be empty")
    email = row.get("customer_email", "").lower()
    if not email:
        err("customer_email", "must not be empty")
    else:
        try:
            email = valid_email(email)
        except InvalidEmail as exc:
            err("customer_email", str(exc))
    currency = ""
    try:
        currency = normalize_currency(row.get("currency", ""))
    except UnknownCurrency:
        err("currency", f"unknown currency {row.get('currency', '')!r}")
    amount = _parse_amount(row.get("amount", ""), currency, err)
    issued_at = _parse_when(row.get("issued_at", ""), shop, "issued_at", err, required=True)
    due_at = _parse_when(row.get("due_at", ""), shop, "due_at", err, required=False)
    if issued_at and due_at and due_at < issued_at:
        err("due_at", "is before issued_at")
    if issued_at and not due_at and not row.get("due_at"):
        _due_on_terms(issued_at, shop, err)
    b2b_raw = row.get("b2b", "").lower()
    if b2b_raw not in TRUE | FALSE:
        err("b2b", f"expected true/false, got {row.get('b2b')!r}")
    locale = row.get("locale", "").lower() or None
    if locale is not None and locale not in SUPPORTED_LOCALES:
        err("locale", f"must be one of {', '.join(SUPPORTED_LOCALES)}, got {locale!r}")
    address = _parse_address(row, err)
    if len(errors) > before or amount is None or issued_at is None:
        return None
    is_b2b = shop.default_b2b if b2b_raw == "" else b2b_raw in TRUE
    return InvoiceRow(
        external_id=number,
        number=number,
        currency=currency,
        total_minor=amount,
        amount_due_minor=amount,
        status=InvoiceStatus.OPEN,
        issued_at=issued_at,
        due_at=due_at,
        updated_at=now,
        payment_url=None,
        customer_external_id=email,
        email=email,
        name=row.get("customer_name") or None,
        company=None,
        phone=None,
        locale=locale,
        is_b2b=is_b2b,
        postal_address=None if address is None else address.text(),
    )


def _parse_address(row: dict[str, str], report: Report) -> PostalAddress | None:
    """The address columns, all empty (no address) or at least a street and a town."""
    parts = {column: " ".join(row.get(column, "").split()) or None for column in ADDRESS}
    if not any(parts.values()):
        return None
    for column in ("address_line1", "city"):
        if not parts[column]:
            report(column, "must not be empty when the row has a postal address")
    return PostalAddress(
        line1=parts["address_line1"],
        line2=parts["address_line2"],
        postal_code=parts["postal_code"],
        city=parts["city"],
        country=parts["country"].upper() if parts["country"] else None,
    )


def _parse_amount(raw: str, currency: str, report: Report) -> int | None:
    """The amount in the currency's minor units (exact: parsed as a Decimal)."""
    text = raw.replace("\u00a0", "").replace(" ", "")
    if "," in text and "." not in text:
        text = text.replace(",", ".")  # French decimal comma
    try:
        value = Decimal(text)
    except InvalidOperation:
        report("amount", f"not a number: {raw!r}")
        return None
    if not value.is_finite():
        report("amount", f"not a number: {raw!r}")
        return None
    if value <= 0:
        report("amount", f"must be positive, got {raw}")
        return None
    if value >= MAX_AMOUNT:
        report("amount", f"{raw} is too large (amounts stop below {MAX_AMOUNT:,.0f})")
        return None
    if not currency:
        return None
    if value != value.quantize(Decimal(1).scaleb(-currency_exponent(currency))):
        report("amount", f"{raw} has more decimals than {currency} allows")
        return None
    return parse_minor(value, currency)[1]


def _parse_when(
    raw: str, shop: Shop, field: str, report: Report, *, required: bool
) -> datetime | None:
    if not raw:
        if required:
            report(field, "must not be empty")
        return None
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            if not FIRST_DAY <= day <= LAST_DAY:
                report(field, _out_of_range(raw))
                return None
            return local_midnight(day, shop.timezone)
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        report(field, f"not an ISO 8601 date: {raw!r}")
        return None
    if value.tzinfo is None:
        report(field, f"date-time without a UTC offset: {raw!r}")
        return None
    if not FIRST_DAY <= value.date() <= LAST_DAY:
        report(field, _out_of_range(raw))
        return None
    return value.astimezone(UTC)


def _out_of_range(raw: str) -> str:
    return f"{raw} is out of range: dates go from {FIRST_DAY} to {LAST_DAY}"


def _due_on_terms(issued_at: datetime, shop: Shop, report: Report) -> None:
    """Without a due date, the shop's terms give one: it must be a date we can work with."""
    issued_on = issued_at.astimezone(ZoneInfo(shop.timezone)).date()
    try:
        due_on = due_date(issued_on, shop.terms_mode, shop.terms_days)
    except OverflowError:
        due_on = None
    if due_on is None or due_on > LAST_DAY:
        report(
            "issued_at", f"with the shop's {shop.terms_days}-day terms the due date is out of range"
        )


def import_invoices(
    session: Session, shop: Shop, source: Path | bytes, now: datetime
) -> ImportResult:
    """Validate the whole file (a path, or the bytes of an upload), then write it in the
    caller's single transaction."""
    items = parse_file(source, shop, now)
    connection = ensure_csv_connection(session, shop)
    settled = set(
        session.scalars(
            select(Invoice.external_id).where(
                Invoice.connection_id == connection.id,
                Invoice.external_id.in_([i.external_id for i in items]),
                Invoice.status.not_in(_owed_statuses()),
            )
        )
    )
    todo = [i for i in items if i.external_id not in settled]
    stats = upsert_invoices(
        session, shop, connection, todo, now, timeline_kind=TimelineKind.IMPORTED
    )
    return ImportResult(rows=len(items), stats=stats, settled_untouched=len(settled))


def _owed_statuses() -> Iterable[InvoiceStatus]:
    return [s for s in InvoiceStatus if s.is_owed]
