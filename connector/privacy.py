"""GDPR: a customer's data exported, a customer erased, a platform shop's data deleted.

One set of functions for the Shopify compliance webhooks and ``relance customers erase``.
Erasure keeps what the accounts need (amounts, currencies, dates, states, invoice numbers) and
removes who the person is: names, emails, phone, address, and every copy of what was written to
them (reminder and message subjects, bodies, recipients, letters). Everything is scoped by shop.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from connector.store.models import (
    Connection,
    Customer,
    Invoice,
    LetterDocument,
    Message,
    Payment,
    Reminder,
    SequenceRule,
    Shop,
    Step,
    StepTemplate,
    Task,
    TaskComment,
    TaskKind,
    TimelineEntry,
    WebhookEvent,
)
from connector.store.models import (
    Sequence as SequenceRow,
)
from connector.tasks import open_task

log = logging.getLogger(__name__)


class PrivacyError(Exception):
    """Bad input for a privacy operation (printed as one line by the CLI)."""


@dataclass(slots=True)
class ErasureReport:
    shop_id: int
    customer_ids: list[int] = field(default_factory=list)
    invoices_kept: int = 0
    reminders_cleared: int = 0
    messages_cleared: int = 0
    files_removed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "shop_id": self.shop_id,
            "customers_erased": len(self.customer_ids),
            "customer_ids": self.customer_ids,
            "invoices_kept": self.invoices_kept,
            "reminders_cleared": self.reminders_cleared,
            "messages_cleared": self.messages_cleared,
            "files_removed": self.files_removed,
        }


def find_customers(
    session: Session,
    shop_id: int,
    *,
    email: str | None = None,
    external_id: str | None = None,
    connection_id: int | None = None,
) -> list[Customer]:
    """The shop's customers matching the email (case-insensitive) or the platform's id."""
    conditions = []
    if email:
        conditions.append(func.lower(Customer.email) == email.strip().lower())
    if external_id and connection_id is not None:
        conditions.append(
            (Customer.external_id == external_id) & (Customer.connection_id == connection_id)
        )
    if not conditions:
        return []
    return list(
        session.scalars(
            select(Customer)
            .where(Customer.shop_id == shop_id, or_(*conditions))
            .order_by(Customer.id)
        )
    )


# -- export ------------------------------------------------------------------------------------


def export_customers(
    session: Session, exports_dir: Path, shop_id: int, customers: Sequence[Customer], now: datetime
) -> Path:
    """Everything held about these customers of one shop, as one JSON file."""
    ids = [c.id for c in customers]
    invoices = list(
        session.scalars(
            select(Invoice).where(Invoice.shop_id == shop_id, Invoice.customer_id.in_(ids))
        )
    )
    inv_ids = [i.id for i in invoices]
    data = {
        "exported_at": now,
        "shop_id": shop_id,
        "customers": [_row(c) for c in customers],
        "invoices": [_row(i, skip={"customer"}) for i in invoices],
        "payments": [
            _row(p)
            for p in session.scalars(
                select(Payment).where(Payment.shop_id == shop_id, Payment.invoice_id.in_(inv_ids))
            )
        ],
        "reminders": [
            _row(r, skip={"message"})
            for r in session.scalars(
                select(Reminder).where(
                    Reminder.shop_id == shop_id, Reminder.invoice_id.in_(inv_ids)
                )
            )
        ],
        "messages": [
            _row(m, skip={"reminders"})
            for m in session.scalars(
                select(Message).where(Message.shop_id == shop_id, Message.customer_id.in_(ids))
            )
        ],
        "timeline": [
            _row(t)
            for t in session.scalars(
                select(TimelineEntry)
                .where(TimelineEntry.shop_id == shop_id, TimelineEntry.invoice_id.in_(inv_ids))
                .order_by(TimelineEntry.at, TimelineEntry.id)
            )
        ],
    }
    folder = exports_dir / f"shop-{shop_id}"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"customer-{'-'.join(str(i) for i in ids) or 'none'}-{stamp}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, default=_json_default, ensure_ascii=False, indent=2))
    tmp.replace(path)
    return path


def offer_export(
    session: Session,
    exports_dir: Path,
    shop_id: int,
    customers: Sequence[Customer],
    now: datetime,
    *,
    cause: str,
) -> Path:
    """customers/data_request: the export written, and a task for the owner to send it."""
    path = export_customers(session, exports_dir, shop_id, customers, now)
    open_task(
        session,
        shop_id=shop_id,
        kind=TaskKind.DATA_REQUEST,
        title=f"Data request: send the export to the customer ({len(customers)} record(s))",
        detail="The platform forwarded a customer's request for their data. Download the "
        "export and send it to them.",
        attachment_path=str(path),
        customer_id=customers[0].id if customers else None,
        dedupe_key=f"data_request:{cause}",
    )
    return path


def _row(obj: Any, skip: Iterable[str] = ()) -> dict[str, Any]:
    skipped = set(skip)
    return {
        col.key: getattr(obj, col.key)
        for col in obj.__mapper__.column_attrs
        if col.key not in skipped
    }


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


# -- erasure -----------------------------------------------------------------------------------


def erase_customers(
    session: Session, shop_id: int, customers: Sequence[Customer], now: datetime
) -> ErasureReport:
    """Personal data of these customers gone; amounts, dates and states stay for the accounts."""
    report = ErasureReport(shop_id)
    ids = [c.id for c in customers if c.shop_id == shop_id]
    if not ids:
        return report
    emails = {c.email.lower() for c in customers if c.email}
    inv_ids = list(
        session.scalars(
            select(Invoice.id).where(Invoice.shop_id == shop_id, Invoice.customer_id.in_(ids))
        )
    )
    report.invoices_kept = len(inv_ids)
    letters = [
        p
        for p in session.scalars(
            select(Reminder.letter_path).where(
                Reminder.shop_id == shop_id,
                Reminder.invoice_id.in_(inv_ids),
                Reminder.letter_path.is_not(None),
            )
        )
        if p
    ]
    report.reminders_cleared = _rowcount(
        session.execute(
            update(Reminder)
            .where(Reminder.shop_id == shop_id, Reminder.invoice_id.in_(inv_ids))
            .values(recipient=None, subject=None, body_text=None, letter_path=None, letter_id=None)
        )
    )
    report.messages_cleared = _rowcount(
        session.execute(
            update(Message)
            .where(Message.shop_id == shop_id, Message.customer_id.in_(ids))
            .values(recipient=None, subject=None, body_text=None, body_html=None)
        )
    )
    # Where the platform id is the address itself (CSV imports), it goes too.
    for c in customers:
        if c.id in ids and "@" in (c.external_id or ""):
            session.execute(
                update(Customer).where(Customer.id == c.id).values(external_id=f"erased-{c.id}")
            )
    session.execute(
        update(Customer)
        .where(Customer.shop_id == shop_id, Customer.id.in_(ids))
        .values(
            email=None,
            name=None,
            company=None,
            email_key=None,
            name_key=None,
            company_key=None,
            phone=None,
            postal_address=None,
            erased_at=now,
            updated_at=now,
        )
    )
    # Timeline payloads and task details may quote what was sent or received.
    session.execute(
        update(TimelineEntry)
        .where(TimelineEntry.shop_id == shop_id, TimelineEntry.invoice_id.in_(inv_ids))
        .values(data=None)
    )
    for task in session.scalars(
        select(Task).where(
            Task.shop_id == shop_id,
            or_(Task.customer_id.in_(ids), Task.invoice_id.in_(inv_ids)),
        )
    ):
        task.detail = None
        if task.kind is TaskKind.DATA_REQUEST and task.attachment_path:
            letters.append(task.attachment_path)  # the export is a copy of the data: it goes
            task.attachment_path = None
        for address in emails:
            task.title = re.sub(re.escape(address), "[erased]", task.title, flags=re.IGNORECASE)
    session.execute(
        update(Task)
        .where(Task.shop_id == shop_id, Task.invoice_id.in_(inv_ids))
        .values(letter_id=None)
    )
    # A letter names and addresses the customer: the stored PDF goes with the rest.
    session.execute(
        delete(LetterDocument).where(
            LetterDocument.shop_id == shop_id, LetterDocument.invoice_id.in_(inv_ids)
        )
    )
    _scrub_webhook_bodies(session, shop_id, emails)
    report.files_removed = _remove_files(letters)
    report.customer_ids = ids
    return report


def _scrub_webhook_bodies(session: Session, shop_id: int, emails: set[str]) -> None:
    """Stored deliveries that name the customer lose their body (already applied or not, the
    customer's data must go; a pending one is ignored from now on)."""
    if not emails:
        return
    needles = [e.encode() for e in emails]
    hit: list[int] = []
    rows = session.execute(
        select(WebhookEvent.id, WebhookEvent.raw_body).where(WebhookEvent.shop_id == shop_id)
    )
    for event_id, body in rows:
        lowered = bytes(body or b"").lower()
        if any(n in lowered for n in needles):
            hit.append(event_id)
    for start in range(0, len(hit), 500):
        session.execute(
            update(WebhookEvent)
            .where(WebhookEvent.id.in_(hit[start : start + 500]))
            .values(raw_body=b"", headers={}, last_error="body erased (GDPR)")
        )


def _remove_files(paths: Iterable[str]) -> int:
    removed = 0
    for raw in paths:
        try:
            Path(raw).unlink()
            removed += 1
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("could not remove %s: %s", raw, exc)
    return removed


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def erase_by_email(
    session: Session, email: str, now: datetime, *, shop_id: int | None = None
) -> list[ErasureReport]:
    """``relance customers erase EMAIL [--shop ID]``: every matching customer, per shop."""
    if "@" not in email or not email.strip():
        raise PrivacyError(f"not an email address: {email!r}")
    shop_ids = (
        [shop_id]
        if shop_id is not None
        else list(session.scalars(select(Shop.id).order_by(Shop.id)))
    )
    if shop_id is not None and session.get(Shop, shop_id) is None:
        raise PrivacyError(f"shop {shop_id} does not exist")
    reports = []
    for sid in shop_ids:
        found = find_customers(session, sid, email=email)
        if found:
            reports.append(erase_customers(session, sid, found, now))
    if not reports:
        where = f" in shop {shop_id}" if shop_id is not None else ""
        raise PrivacyError(f"no customer with email {email}{where}")
    return reports


# -- a platform shop's data deleted --------------------------------------------------------------


def delete_connection_data(session: Session, connection_id: int) -> dict[str, int]:
    """shop/redact: everything that came through this connection deleted, the connection (and
    its encrypted secrets) too; the Relance shop as well when nothing else is left in it."""
    conn = session.get(Connection, connection_id)
    if conn is None:
        return {}
    shop_id = conn.shop_id
    inv_ids = select(Invoice.id).where(
        Invoice.shop_id == shop_id, Invoice.connection_id == connection_id
    )
    cust_ids = select(Customer.id).where(
        Customer.shop_id == shop_id, Customer.connection_id == connection_id
    )
    letters = [
        p
        for p in session.scalars(
            select(Reminder.letter_path).where(
                Reminder.invoice_id.in_(inv_ids), Reminder.letter_path.is_not(None)
            )
        )
        if p
    ]
    counts: dict[str, int] = {}
    msg_ids = select(Message.id).where(
        Message.shop_id == shop_id, Message.customer_id.in_(cust_ids)
    )
    statements: list[tuple[str, Any]] = [
        ("timeline", delete(TimelineEntry).where(TimelineEntry.invoice_id.in_(inv_ids))),
        (
            "task_comments",
            delete(TaskComment).where(
                TaskComment.task_id.in_(
                    select(Task.id).where(
                        or_(Task.invoice_id.in_(inv_ids), Task.customer_id.in_(cust_ids))
                    )
                )
            ),
        ),
        (
            "tasks",
            delete(Task).where(or_(Task.invoice_id.in_(inv_ids), Task.customer_id.in_(cust_ids))),
        ),
        (
            "reminders",
            delete(Reminder).where(
                or_(Reminder.invoice_id.in_(inv_ids), Reminder.message_id.in_(msg_ids))
            ),
        ),
        ("messages", delete(Message).where(Message.id.in_(msg_ids))),
        ("letters", delete(LetterDocument).where(LetterDocument.invoice_id.in_(inv_ids))),
        ("payments", delete(Payment).where(Payment.invoice_id.in_(inv_ids))),
        ("invoices", delete(Invoice).where(Invoice.id.in_(inv_ids))),
        ("customers", delete(Customer).where(Customer.id.in_(cust_ids))),
        ("webhook_events", delete(WebhookEvent).where(WebhookEvent.connection_id == connection_id)),
        ("connections", delete(Connection).where(Connection.id == connection_id)),
    ]
    for name, stmt in statements:
        counts[name] = _rowcount(session.execute(stmt.execution_options(synchronize_session=False)))
    remaining = session.scalar(
        select(func.count())
        .select_from(Connection)
        .where(Connection.shop_id == shop_id, Connection.platform != "csv")
    )
    has_invoices = session.scalar(
        select(func.count()).select_from(Invoice).where(Invoice.shop_id == shop_id)
    )
    if not remaining and not has_invoices:
        counts.update(delete_shop(session, shop_id))
    _remove_files(letters)
    return counts


def delete_shop(session: Session, shop_id: int) -> dict[str, int]:
    """Every row of one tenant, children first (some foreign keys do not cascade)."""
    inv_ids = select(Invoice.id).where(Invoice.shop_id == shop_id)
    seq_ids = select(SequenceRow.id).where(SequenceRow.shop_id == shop_id)
    statements: list[tuple[str, Any]] = [
        ("timeline", delete(TimelineEntry).where(TimelineEntry.shop_id == shop_id)),
        ("task_comments", delete(TaskComment).where(TaskComment.shop_id == shop_id)),
        ("tasks", delete(Task).where(Task.shop_id == shop_id)),
        ("reminders", delete(Reminder).where(Reminder.shop_id == shop_id)),
        ("messages", delete(Message).where(Message.shop_id == shop_id)),
        ("letters", delete(LetterDocument).where(LetterDocument.shop_id == shop_id)),
        ("payments", delete(Payment).where(Payment.invoice_id.in_(inv_ids))),
        ("invoices", delete(Invoice).where(Invoice.shop_id == shop_id)),
        ("customers", delete(Customer).where(Customer.shop_id == shop_id)),
        ("step_templates", delete(StepTemplate).where(StepTemplate.shop_id == shop_id)),
        ("sequence_rules", delete(SequenceRule).where(SequenceRule.shop_id == shop_id)),
        ("steps", delete(Step).where(Step.sequence_id.in_(seq_ids))),
        ("sequences", delete(SequenceRow).where(SequenceRow.shop_id == shop_id)),
        ("webhook_events", delete(WebhookEvent).where(WebhookEvent.shop_id == shop_id)),
        ("connections", delete(Connection).where(Connection.shop_id == shop_id)),
        ("shops", delete(Shop).where(Shop.id == shop_id)),
    ]
    counts: dict[str, int] = {}
    for name, stmt in statements:
        counts[name] = _rowcount(session.execute(stmt.execution_options(synchronize_session=False)))
    return counts
