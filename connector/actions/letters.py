"""Letters to post, kept in the store: list a shop's, fetch one to print, record its posting."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, aliased

from connector.domain.dates import local_date
from connector.dunning.compose import sent_history
from connector.dunning.letters import letter_pdf
from connector.dunning.posting import letter_deadline
from connector.dunning.rendering import ReminderRenderer, TemplateError
from connector.dunning.sequence import spec_of
from connector.ledger import add_timeline, lock_invoice
from connector.services import Services
from connector.shops import ShopError, resolve_shop
from connector.store.db import write_session
from connector.store.models import (
    Customer,
    Invoice,
    LetterDocument,
    Reminder,
    Shop,
    Step,
    Task,
    TaskKind,
    TaskState,
    TimelineKind,
)

TRACKING_MAX = 64


class LetterError(ShopError):
    """No such letter in this shop (the message names it)."""


@dataclass(frozen=True, slots=True)
class LetterSummary:
    id: int
    shop_id: int
    invoice_number: str
    filename: str
    size: int
    created_at: datetime
    posted_on: date | None = None
    tracking: str | None = None
    replaces: int | None = None  # the earlier version (kept as it was) this one dates
    deadline_on: date | None = None  # the deadline it prints, where known
    timezone: str = "UTC"  # the shop's: where people read ``created_at``
    step: str | None = None  # the key of the step whose letter it is, where one is

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "shop": self.shop_id,
            "invoice": self.invoice_number,
            "filename": self.filename,
            "bytes": self.size,
            "created_at": self.created_at.isoformat(),
            "posted_on": self.posted_on.isoformat() if self.posted_on else None,
            "tracking": self.tracking,
            "replaces": self.replaces,
            "deadline": self.deadline_on.isoformat() if self.deadline_on else None,
            "timezone": self.timezone,
            "step": self.step,
        }


def list_letters(svc: Services, shop_id: int | None) -> list[LetterSummary]:
    """The shop's letters, newest first (the content stays in the store)."""
    with svc.sessions() as s:
        shop = resolve_shop(s, shop_id)
        # A reminder holds its letter's newest version: the first one is the version it dates.
        dated = aliased(LetterDocument)
        rows = s.execute(
            select(LetterDocument, Invoice.number, Reminder.step_key)
            .join(Invoice, Invoice.id == LetterDocument.invoice_id)
            .outerjoin(dated, dated.replaces_id == LetterDocument.id)
            .outerjoin(
                Reminder,
                or_(Reminder.letter_id == LetterDocument.id, Reminder.letter_id == dated.id),
            )
            .where(LetterDocument.shop_id == shop.id)
            .order_by(LetterDocument.created_at.desc(), LetterDocument.id.desc())
        ).all()
        return [
            _summary(letter, number, timezone=shop.timezone, step=step)
            for letter, number, step in rows
        ]


def letter_content(svc: Services, shop_id: int | None, letter_id: int) -> tuple[str, bytes]:
    """(filename, PDF bytes) of one of the shop's letters; another shop's is not found."""
    with svc.sessions() as s:
        shop = resolve_shop(s, shop_id)
        letter = s.scalar(
            select(LetterDocument).where(
                LetterDocument.id == letter_id, LetterDocument.shop_id == shop.id
            )
        )
        if letter is None:
            raise LetterError(f"no letter {letter_id} in shop {shop.id}")
        return letter.filename, letter.content


def record_posting(
    svc: Services,
    shop_id: int | None,
    letter_id: int,
    posted_on: date,
    tracking: str | None = None,
    *,
    now: datetime | None = None,
    renderer: ReminderRenderer | None = None,
) -> LetterSummary:
    """The owner posted letter ``letter_id`` on ``posted_on``: the letter is dated that day.

    A new version of the PDF is made, dated ``posted_on``, its deadline counted from receipt
    when the letter is the message (posting date + the shop's posting delay + the step's
    days); the version it replaces keeps its bytes. The reminder, its next step's wait and the
    "letter to post" task follow the new version; the timeline records the posting.
    LetterError names what is wrong (unknown letter, already posted, a date in the future…).
    """
    now = now or datetime.now(UTC)
    tracking = _clean_tracking(tracking)
    # Read and render with no transaction held (owner templates may take a while) …
    with svc.sessions() as s:
        shop, letter, reminder = _postable(s, shop_id, letter_id)
        timezone = shop.timezone
        _check_posted_on(posted_on, letter, local_date(now, shop.timezone), shop.timezone)
        invoice = s.get(Invoice, letter.invoice_id)
        step = s.get(Step, reminder.step_id)
        assert invoice is not None and step is not None
        customer = s.get(Customer, invoice.customer_id)
        assert customer is not None
        spec = spec_of(step)
        deadline = letter_deadline(shop, reminder, spec, posted_on)
        history = sent_history(s, [invoice.id], excluding=[reminder.id])
        try:
            content = letter_pdf(
                shop,
                customer,
                invoice,
                spec,
                history,
                posted_on,
                deadline,
                renderer or ReminderRenderer(),
            )
        except TemplateError as exc:
            raise LetterError(f"letter {letter_id}: its template does not render: {exc}") from exc
    # … then record it, if nobody recorded a posting of this letter meanwhile.
    with write_session(svc.sessions) as s:
        _, letter, reminder = _postable(s, shop_id, letter_id)
        inv = lock_invoice(s, letter.invoice_id)
        assert inv is not None
        dated = LetterDocument(
            shop_id=letter.shop_id,
            invoice_id=letter.invoice_id,
            filename=_dated_name(letter.filename, posted_on),
            content=content,
            created_at=now,
            posted_on=posted_on,
            tracking=tracking,
            replaces_id=letter.id,
        )
        s.add(dated)
        s.flush()
        reminder.letter_id = dated.id
        reminder.deadline_on = deadline
        for task in s.scalars(
            select(Task).where(
                Task.shop_id == letter.shop_id,
                Task.letter_id == letter.id,
                Task.kind == TaskKind.LETTER_TO_POST,
            )
        ):
            task.letter_id = dated.id
            if task.state is TaskState.OPEN:
                task.state = TaskState.DONE
                task.closed_at = now
        posted = f"{reminder.step_key} letter posted on {posted_on.isoformat()}"
        if tracking:
            posted += f" (tracking {tracking})"
        if deadline is not None:
            posted += f"; deadline {deadline.isoformat()}"
        add_timeline(s, inv, now, TimelineKind.LETTER_POSTED, posted, reminder_id=reminder.id)
        return _summary(dated, inv.number, deadline, timezone=timezone, step=reminder.step_key)


def _postable(
    s: Session, shop_id: int | None, letter_id: int
) -> tuple[Shop, LetterDocument, Reminder]:
    """The shop's letter, not posted yet and still the current version, with its reminder."""
    shop = resolve_shop(s, shop_id)
    letter = s.scalar(
        select(LetterDocument).where(
            LetterDocument.id == letter_id, LetterDocument.shop_id == shop.id
        )
    )
    if letter is None:
        raise LetterError(f"no letter {letter_id} in shop {shop.id}")
    if letter.posted_on is not None:
        raise LetterError(
            f"letter {letter_id} was already recorded as posted on {letter.posted_on.isoformat()}"
        )
    newer = s.scalar(select(LetterDocument.id).where(LetterDocument.replaces_id == letter.id))
    if newer is not None:
        raise LetterError(f"letter {letter_id} was replaced by letter {newer}: record that one")
    reminder = s.scalar(select(Reminder).where(Reminder.letter_id == letter.id))
    if reminder is None:
        raise LetterError(f"letter {letter_id} belongs to no reminder: nothing to date")
    return shop, letter, reminder


def _check_posted_on(posted_on: date, letter: LetterDocument, today: date, timezone: str) -> None:
    made_on = local_date(letter.created_at, timezone)
    if posted_on > today:
        raise LetterError(f"--on {posted_on.isoformat()}: in the future (today is {today})")
    if posted_on < made_on:
        raise LetterError(
            f"--on {posted_on.isoformat()}: before the letter was made ({made_on.isoformat()})"
        )


def _clean_tracking(tracking: str | None) -> str | None:
    if tracking is None or not tracking.strip():
        return None
    cleaned = tracking.strip()
    if len(cleaned) > TRACKING_MAX or any(ch.isspace() and ch != " " for ch in cleaned):
        raise LetterError(f"--tracking: one line of at most {TRACKING_MAX} characters")
    return cleaned


def _dated_name(filename: str, posted_on: date) -> str:
    stem = filename.removesuffix(".pdf")
    return f"{stem}-posted-{posted_on.isoformat()}.pdf"


def _summary(
    letter: LetterDocument,
    number: str,
    deadline: date | None = None,
    *,
    timezone: str = "UTC",
    step: str | None = None,
) -> LetterSummary:
    return LetterSummary(
        letter.id,
        letter.shop_id,
        number,
        letter.filename,
        len(letter.content),
        letter.created_at,
        posted_on=letter.posted_on,
        tracking=letter.tracking,
        replaces=letter.replaces_id,
        deadline_on=deadline,
        timezone=timezone,
        step=step,
    )
