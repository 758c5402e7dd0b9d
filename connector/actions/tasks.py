"""The owner's tasks (escalations, letters to post, bounces to fix, data requests, broken
connections): list, count, assign, comment, close; a letter's posting recorded back as its proof
of dispatch; a bounced address fixed. Each takes the shop explicitly; another shop's task is
not found."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from connector.actions.errors import ActionError, NotFound
from connector.actions.letters import LetterError, record_posting
from connector.domain.email import InvalidEmail, valid_email
from connector.ledger import add_timeline
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import (
    Channel,
    Customer,
    Invoice,
    LetterDocument,
    Reminder,
    ReminderRetry,
    ReminderState,
    Shop,
    Step,
    Task,
    TaskComment,
    TaskKind,
    TaskState,
    TimelineEntry,
    TimelineKind,
)

TASKS_SHOWN = 200
ASSIGNEE_MAX = 255
COMMENT_MAX = 2000


class TaskNotFound(NotFound):
    """No such task in this shop."""


class TaskError(ActionError):
    """Input a task action refuses (the message names the field); nothing written."""


@dataclass(frozen=True, slots=True)
class CommentView:
    author: str
    body: str
    at: datetime


@dataclass(frozen=True, slots=True)
class TaskView:
    id: int
    kind: TaskKind
    state: TaskState
    title: str
    detail: str | None
    created_at: datetime
    closed_at: datetime | None
    assignee: str | None
    invoice_id: int | None
    invoice_number: str | None
    customer_id: int | None
    customer_name: str | None
    customer_email: str | None
    letter_id: int | None
    letter_filename: str | None
    letter_posted_on: date | None
    has_export: bool
    comments: tuple[CommentView, ...] = ()

    @property
    def is_letter(self) -> bool:
        """A letter to post whose posting is still to be recorded."""
        return (
            self.kind is TaskKind.LETTER_TO_POST
            and self.letter_id is not None
            and self.letter_posted_on is None
        )

    @property
    def is_bounce(self) -> bool:
        return self.kind in (TaskKind.BOUNCE, TaskKind.INVALID_EMAIL)

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "state": self.state.value,
            "title": self.title,
            "detail": self.detail,
            "created_at": self.created_at.isoformat(),
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
            "assignee": self.assignee,
            "invoice": self.invoice_number,
            "customer_email": self.customer_email,
            "letter_id": self.letter_id,
            "comments": [
                {"author": c.author, "body": c.body, "at": c.at.isoformat()} for c in self.comments
            ],
        }


def open_task_count(sessions: sessionmaker[Session], shop_id: int) -> int:
    """One COUNT on the (shop_id, state) index: cheap enough for every page's nav."""
    with sessions() as s:
        return (
            s.scalar(
                select(func.count(Task.id)).where(
                    Task.shop_id == shop_id, Task.state == TaskState.OPEN
                )
            )
            or 0
        )


@dataclass(frozen=True, slots=True)
class TasksPage:
    shop_id: int
    name: str
    timezone: str
    locale: str
    state: TaskState
    tasks: list[TaskView]


def tasks_page(
    sessions: sessionmaker[Session], shop_id: int, *, state: TaskState = TaskState.OPEN
) -> TasksPage:
    """The page's data: the shop's zone and language, and its tasks (three queries)."""
    with sessions() as s:
        shop = s.get(Shop, shop_id)
        if shop is None:
            raise TaskNotFound(f"shop {shop_id} does not exist")
        return TasksPage(
            shop.id,
            shop.name,
            shop.timezone,
            shop.locale,
            state,
            list_tasks(s, shop_id, state=state),
        )


def list_tasks(s: Session, shop_id: int, *, state: TaskState = TaskState.OPEN) -> list[TaskView]:
    """The shop's tasks in ``state``, oldest first: two queries whatever their number."""
    rows = s.execute(
        select(
            Task,
            Invoice.number,
            Customer.id,
            Customer.name,
            Customer.email,
            LetterDocument.filename,
            LetterDocument.posted_on,
        )
        .outerjoin(Invoice, (Invoice.id == Task.invoice_id) & (Invoice.shop_id == shop_id))
        .outerjoin(
            Customer,
            (Customer.id == func.coalesce(Task.customer_id, Invoice.customer_id))
            & (Customer.shop_id == shop_id),
        )
        .outerjoin(
            LetterDocument,
            (LetterDocument.id == Task.letter_id) & (LetterDocument.shop_id == shop_id),
        )
        .where(Task.shop_id == shop_id, Task.state == state)
        .order_by(Task.created_at, Task.id)
        .limit(TASKS_SHOWN)
    ).all()
    ids = [row[0].id for row in rows]
    comments: dict[int, list[CommentView]] = {}
    if ids:
        for c in s.scalars(
            select(TaskComment)
            .where(TaskComment.shop_id == shop_id, TaskComment.task_id.in_(ids))
            .order_by(TaskComment.at, TaskComment.id)
        ):
            comments.setdefault(c.task_id, []).append(CommentView(c.author, c.body, c.at))
    return [
        TaskView(
            id=task.id,
            kind=task.kind,
            state=task.state,
            title=task.title,
            detail=task.detail,
            created_at=task.created_at,
            closed_at=task.closed_at,
            assignee=task.assignee,
            invoice_id=task.invoice_id,
            invoice_number=number,
            customer_id=customer_id,
            customer_name=name,
            customer_email=email,
            letter_id=task.letter_id,
            letter_filename=filename,
            letter_posted_on=posted_on,
            has_export=bool(task.attachment_path),
            comments=tuple(comments.get(task.id, ())),
        )
        for task, number, customer_id, name, email, filename, posted_on in rows
    ]


def _task(s: Session, shop_id: int, task_id: int) -> Task:
    task = s.scalar(select(Task).where(Task.id == task_id, Task.shop_id == shop_id))
    if task is None:
        raise TaskNotFound(f"no task {task_id} in this shop")
    return task


def require_task(sessions: sessionmaker[Session], shop_id: int, task_id: int) -> None:
    """TaskNotFound unless the shop has this task (checked before any input is judged)."""
    with sessions() as s:
        _task(s, shop_id, task_id)


def _open(s: Session, shop_id: int, task_id: int) -> Task:
    task = _task(s, shop_id, task_id)
    if task.state is not TaskState.OPEN:
        raise TaskError(f"task {task_id} is already closed")
    return task


def _note(s: Session, task: Task, author: str, body: str, now: datetime) -> None:
    s.add(TaskComment(shop_id=task.shop_id, task_id=task.id, author=author, body=body, at=now))


def close_task(
    svc: Services, shop_id: int, task_id: int, *, actor: str, now: datetime | None = None
) -> None:
    """Close an open task; who closed it is kept as a comment."""
    now = now or datetime.now(UTC)
    with write_session(svc.sessions) as s:
        task = _open(s, shop_id, task_id)
        task.state, task.closed_at = TaskState.DONE, now
        _note(s, task, actor, "closed", now)


def assign_task(
    svc: Services,
    shop_id: int,
    task_id: int,
    assignee: str,
    *,
    actor: str,
    now: datetime | None = None,
) -> None:
    """Give the task to someone (a name or an email); an empty value un-assigns it."""
    now = now or datetime.now(UTC)
    cleaned = " ".join(assignee.split())
    with write_session(svc.sessions) as s:
        task = _task(s, shop_id, task_id)
        if len(cleaned) > ASSIGNEE_MAX:
            raise TaskError(f"assignee: at most {ASSIGNEE_MAX} characters")
        task.assignee = cleaned or None
        _note(s, task, actor, f"assigned to {cleaned}" if cleaned else "unassigned", now)


def comment_task(
    svc: Services,
    shop_id: int,
    task_id: int,
    body: str,
    *,
    actor: str,
    now: datetime | None = None,
) -> None:
    """A comment on the task (the task is looked up first: another shop's is not found)."""
    cleaned = body.strip()
    with write_session(svc.sessions) as s:
        task = _task(s, shop_id, task_id)
        if not cleaned:
            raise TaskError("comment: write something")
        if len(cleaned) > COMMENT_MAX:
            raise TaskError(f"comment: at most {COMMENT_MAX} characters")
        _note(s, task, actor, cleaned, now or datetime.now(UTC))


def record_letter_posted(
    svc: Services,
    shop_id: int,
    task_id: int,
    posted_on: date,
    tracking: str | None,
    *,
    actor: str,
    now: datetime | None = None,
) -> None:
    """ "Posted on <date>, tracking number": the letter is dated that day (a new version, the
    first kept), the invoice's timeline records the proof of dispatch and the task closes."""
    now = now or datetime.now(UTC)
    with svc.sessions() as s:
        task = _open(s, shop_id, task_id)
        if task.kind is not TaskKind.LETTER_TO_POST or task.letter_id is None:
            raise TaskError(f"task {task_id} is not a letter to post")
        letter_id = task.letter_id
    try:
        record_posting(svc, shop_id, letter_id, posted_on, tracking, now=now)
    except LetterError as exc:
        raise TaskError(
            str(exc).replace("--on", "posted on").replace("--tracking", "tracking")
        ) from exc
    with write_session(svc.sessions) as s:
        task = _task(s, shop_id, task_id)
        body = f"posted on {posted_on.isoformat()}" + (f", tracking {tracking}" if tracking else "")
        _note(s, task, actor, body, now)


def letter_of_task(svc: Services, shop_id: int, task_id: int) -> tuple[str, bytes]:
    """(filename, PDF) of the letter a task asks to post."""
    with svc.sessions() as s:
        task = _task(s, shop_id, task_id)
        letter = s.scalar(
            select(LetterDocument).where(
                LetterDocument.id == task.letter_id, LetterDocument.shop_id == shop_id
            )
        )
        if letter is None:
            raise TaskNotFound(f"task {task_id} has no letter")
        return letter.filename, letter.content


def export_of_task(svc: Services, shop_id: int, task_id: int) -> Path:
    """The data-request export a task offers, if it is still where the store's exports live."""
    with svc.sessions() as s:
        task = _task(s, shop_id, task_id)
        raw = task.attachment_path if task.kind is TaskKind.DATA_REQUEST else None
    if not raw:
        raise TaskNotFound(f"task {task_id} has no export")
    path = Path(raw).resolve()
    folder = (svc.settings.exports_dir / f"shop-{shop_id}").resolve()
    if not path.is_relative_to(folder) or not path.is_file():
        raise TaskNotFound(f"task {task_id}: its export is no longer there")
    return path


def fix_address(
    svc: Services,
    shop_id: int,
    task_id: int,
    email: str,
    *,
    actor: str,
    now: datetime | None = None,
) -> None:
    """A bounce fixed: the customer's new address, email to them unblocked, the task closed and
    the invoice looked at again by the engine, which sends the bounced step again, once (marked
    here, in the same transaction as the address)."""
    now = now or datetime.now(UTC)
    with write_session(svc.sessions) as s:
        task = _open(s, shop_id, task_id)
        try:
            address = valid_email(email.strip())
        except InvalidEmail as exc:
            raise TaskError(f"email: {exc}") from exc
        if task.kind not in (TaskKind.BOUNCE, TaskKind.INVALID_EMAIL):
            raise TaskError(f"task {task_id} is not about an email address")
        customer_id = task.customer_id
        if customer_id is None and task.invoice_id is not None:
            customer_id = s.scalar(
                select(Invoice.customer_id).where(
                    Invoice.id == task.invoice_id, Invoice.shop_id == shop_id
                )
            )
        customer = s.scalar(
            select(Customer).where(Customer.id == customer_id, Customer.shop_id == shop_id)
        )
        if customer is None:
            raise TaskError(f"task {task_id} names no customer")
        old = customer.email
        customer.email, customer.email_blocked_reason, customer.updated_at = address, None, now
        task.state, task.closed_at = TaskState.DONE, now
        _note(s, task, actor, f"address changed from {old or '—'} to {address}", now)
        for inv in s.scalars(
            select(Invoice).where(
                Invoice.shop_id == shop_id,
                Invoice.customer_id == customer.id,
                Invoice.next_action_at.is_(None) | (Invoice.next_action_at > now),
            )
        ):
            if inv.status.is_owed:
                inv.next_action_at = now
                add_timeline(
                    s, inv, now, TimelineKind.RESUMED, f"email address fixed by {actor}: {address}"
                )
        _allow_retries(s, shop_id, customer.id)


def _allow_retries(s: Session, shop_id: int, customer_id: int) -> None:
    """Each owed invoice's latest reminder, if it was an email that bounced: one retry allowed.
    Never a second (a reminder already marked, or a retry itself, is left as it is), and not a
    step that also posts a letter or hands over (the retry would post or hand over twice)."""
    latest = (
        select(Reminder.invoice_id, func.max(Reminder.id).label("id"))
        .join(Invoice, Invoice.id == Reminder.invoice_id)
        .where(
            Reminder.shop_id == shop_id,
            Invoice.shop_id == shop_id,
            Invoice.customer_id == customer_id,
            Invoice.next_action_at.is_not(None),
        )
        .group_by(Reminder.invoice_id)
        .subquery()
    )
    bounced = select(TimelineEntry.id).where(
        TimelineEntry.reminder_id == Reminder.id, TimelineEntry.kind == TimelineKind.BOUNCED
    )
    for reminder in s.scalars(
        select(Reminder)
        .join(latest, latest.c.id == Reminder.id)
        .join(Step, Step.id == Reminder.step_id)
        .where(
            Reminder.attempt == 0,
            Reminder.retry.is_(None),
            Reminder.channel == Channel.EMAIL,
            Reminder.state == ReminderState.SENT,
            Step.sends_letter.is_(False),
            Step.hands_off.is_(False),
            bounced.exists(),
        )
    ):
        reminder.retry = ReminderRetry.ALLOWED
