"""Hand-offs to a person: one open task per cause, whoever raises it and however often."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from connector.store.models import Task, TaskKind


def open_task(
    session: Session,
    *,
    shop_id: int,
    kind: TaskKind,
    title: str,
    dedupe_key: str,
    invoice_id: int | None = None,
    customer_id: int | None = None,
    detail: str | None = None,
    attachment_path: str | None = None,
    letter_id: int | None = None,
) -> Task:
    """One task per cause: a second call with the same dedupe key returns the first."""
    existing = session.scalar(
        select(Task).where(Task.shop_id == shop_id, Task.dedupe_key == dedupe_key)
    )
    if existing is not None:
        return existing
    task = Task(
        shop_id=shop_id,
        invoice_id=invoice_id,
        customer_id=customer_id,
        kind=kind,
        title=title,
        detail=detail,
        attachment_path=attachment_path,
        letter_id=letter_id,
        dedupe_key=dedupe_key,
    )
    session.add(task)
    return task
