"""Hand-offs to a person: one open task per cause, whoever raises it and however often."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from connector.store.models import Task, TaskComment, TaskKind, TaskState


def no_way_to_pay_key(shop_id: int) -> str:
    """The cause "reminders wait: no payment link and no payment instructions" of a shop."""
    return f"payment_instructions:shop:{shop_id}"


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
    reopen: bool = False,
) -> Task:
    """One task per cause: a second call with the same dedupe key returns the first — opened
    again if it was closed and ``reopen`` (a cause that comes back, not a one-off event)."""
    existing = session.scalar(
        select(Task).where(Task.shop_id == shop_id, Task.dedupe_key == dedupe_key)
    )
    if existing is not None:
        if reopen and existing.state is not TaskState.OPEN:
            existing.state, existing.closed_at = TaskState.OPEN, None
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


def settle_task(
    session: Session, *, shop_id: int, dedupe_key: str, why: str, now: datetime
) -> None:
    """The cause is gone: its open task, if any, is done, and the comment says why (the owner
    does not have to close what they already fixed)."""
    task = session.scalar(
        select(Task).where(
            Task.shop_id == shop_id, Task.dedupe_key == dedupe_key, Task.state == TaskState.OPEN
        )
    )
    if task is None:
        return
    task.state, task.closed_at = TaskState.DONE, now
    session.add(TaskComment(shop_id=shop_id, task_id=task.id, author="Relance", body=why, at=now))
