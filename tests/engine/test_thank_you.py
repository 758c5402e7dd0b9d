"""The optional thank-you after payment, on SQLite and PostgreSQL: recorded with the payment
(transactional outbox), one per invoice ever, sent once whatever the races and crashes, and
re-checked under the invoice lock right before the mail call."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from connector.dunning.claims import Claimer, due_customer_ids
from connector.dunning.runner import DunningRunner
from connector.dunning.thank_you import ThankYouOptions, ThankYouSender
from connector.ledger import apply_platform_state, lock_invoice, set_state
from connector.mail.base import DeliveryResult, MailTransport, OutgoingMail
from connector.mail.outbox import OutboxTransport
from connector.platform import InvoiceStatus
from connector.privacy import erase_customers
from connector.scheduler import build_scheduler, send_thank_yous
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import (
    Channel,
    Customer,
    Invoice,
    Message,
    MessageKind,
    MessageState,
    PaymentSource,
    Reminder,
    ReminderState,
    Shop,
    Task,
    TaskKind,
    TimelineEntry,
    TimelineKind,
)
from tests.engine.conftest import outbox_messages
from tests.support.builders import add_invoices, invoice_by_number, normalized, paris

DUE = date(2026, 6, 10)  # Wednesday
CHASED = paris(date(2026, 6, 11))  # reminder_1 goes out (the courtesy step is skipped)
PAID_AT = paris(date(2026, 6, 12), 15)


@pytest.fixture
def thanking_shop(services: Services, shop: Shop) -> Shop:
    with write_session(services.sessions) as s:
        row = s.get(Shop, shop.id)
        assert row is not None
        row.thank_you_enabled = True
        row.sender_name = "Atelier Dupont (compta)"
        row.sender_email = "factures@dupont.example"
        row.contact_email = "bonjour@dupont.example"
    return row


def chase(
    services: Services,
    shop: Shop,
    make_runner: Callable[..., DunningRunner],
    *numbers: str,
    locale: str = "fr",
) -> None:
    """Invoices (one customer each) that got their first reminder."""
    add_invoices(
        services,
        shop,
        [
            normalized(n, email=f"{n.lower()}@client.example", due_on=DUE, locale=locale)
            for n in numbers
        ],
    )
    assert make_runner().tick(CHASED).counts() == {"sent": len(numbers), "skipped": len(numbers)}


def set_invoice(
    services: Services,
    number: str,
    status: InvoiceStatus,
    at: datetime = PAID_AT,
    *,
    amount_due_minor: int = 0,
) -> None:
    """What a payment (refund, reopening) webhook does: the ledger, under the invoice lock."""
    inv_id = invoice_by_number(services, number).id
    with write_session(services.sessions) as s:
        inv = lock_invoice(s, inv_id)
        assert inv is not None
        set_state(
            s,
            inv,
            status=status,
            amount_due_minor=amount_due_minor,
            now=at,
            source=PaymentSource.WEBHOOK,
            payment_external_id=f"evt_{status.value}_{at.isoformat()}",
        )


def pay(services: Services, number: str, at: datetime = PAID_AT) -> None:
    set_invoice(services, number, InvoiceStatus.PAID, at)


def thank_yous(services: Services) -> list[Message]:
    with services.sessions() as s:
        return list(
            s.scalars(
                select(Message)
                .where(Message.kind == MessageKind.THANK_YOU)
                .order_by(Message.invoice_id)
            )
        )


def mailed_thanks(services: Services) -> list[dict[str, object]]:
    return [m for m in outbox_messages(services) if m["step"] == "thank_you"]


def timeline(services: Services, number: str) -> list[tuple[TimelineKind, str]]:
    inv = invoice_by_number(services, number)
    with services.sessions() as s:
        return [
            (t.kind, t.summary)
            for t in s.scalars(
                select(TimelineEntry)
                .where(TimelineEntry.invoice_id == inv.id)
                .order_by(TimelineEntry.id)
            )
        ]


def sender(
    services: Services,
    transport: MailTransport,
    clock: Callable[[], datetime] | None = None,
    **options: object,
) -> ThankYouSender:
    return ThankYouSender(
        services.sessions,
        transport,
        options=ThankYouOptions(**options),  # type: ignore[arg-type]
        clock=clock or (lambda: datetime.now(UTC)),
    )


class CountingTransport:
    """Counts mail calls per message id (the outbox itself dedupes by file name)."""

    def __init__(self, inner: MailTransport, latency: float = 0.0) -> None:
        self.inner = inner
        self.latency = latency
        self.calls: Counter[int] = Counter()
        self._lock = threading.Lock()

    def send(self, mail: OutgoingMail) -> DeliveryResult:
        with self._lock:
            self.calls[mail.message_id] += 1
        time.sleep(self.latency)
        return self.inner.send(mail)


class WorkerKilled(BaseException):
    """The process dies inside the mail call: nothing after it runs."""


class DyingTransport:
    def send(self, mail: OutgoingMail) -> DeliveryResult:
        raise WorkerKilled


# -- who gets one ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("fr", "Nous vous confirmons la bonne réception de votre règlement pour la facture F-1"),
        ("en", "We confirm that we have received your payment for invoice F-1"),
    ],
)
def test_chased_invoice_paid_gets_exactly_one_thank_you_in_its_language(
    services: Services,
    thanking_shop: Shop,
    make_runner: Callable[..., DunningRunner],
    outbox: OutboxTransport,
    locale: str,
    expected: str,
) -> None:
    chase(services, thanking_shop, make_runner, "F-1", locale=locale)
    pay(services, "F-1")
    # Recorded with the payment, sent by nobody yet.
    [pending] = thank_yous(services)
    assert pending.state is MessageState.PENDING
    assert pending.invoice_id == invoice_by_number(services, "F-1").id
    assert mailed_thanks(services) == []

    outcomes = sender(services, outbox).run(PAID_AT + timedelta(minutes=1))
    assert [(o.invoice, o.step, o.outcome) for o in outcomes] == [("F-1", "thank_you", "sent")]
    [mail] = mailed_thanks(services)
    assert mail["to"] == "f-1@client.example"
    assert mail["from"] == "factures@dupont.example"
    assert mail["from_name"] == "Atelier Dupont (compta)"
    assert mail["reply_to"] == "bonjour@dupont.example"
    assert mail["invoice"] == "F-1" and mail["reminder_ids"] == []
    assert "F-1" in str(mail["subject"]) and "Atelier Dupont" in str(mail["subject"])
    assert expected in str(mail["text"])
    assert "Marie Curie" in str(mail["text"]) and "bonjour@dupont.example" in str(mail["text"])
    assert f'lang="{locale}"' in str(mail["html"])
    [sent] = thank_yous(services)
    assert sent.state is MessageState.SENT and sent.sent_at is not None
    assert sent.subject == mail["subject"] and sent.recipient == "f-1@client.example"
    assert (TimelineKind.THANK_YOU_SENT, "thank-you sent to f-1@client.example") in timeline(
        services, "F-1"
    )
    # Later runs and ticks: nothing more.
    assert sender(services, outbox).run(PAID_AT + timedelta(hours=1)) == []
    make_runner().tick(PAID_AT + timedelta(days=1))
    assert len(mailed_thanks(services)) == 1


def test_recorded_in_the_payments_transaction(
    services: Services, thanking_shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    """The payment and its thank-you commit or roll back together."""
    chase(services, thanking_shop, make_runner, "F-1")
    inv_id = invoice_by_number(services, "F-1").id
    with services.sessions() as s:
        inv = lock_invoice(s, inv_id)
        assert inv is not None
        set_state(
            s,
            inv,
            status=InvoiceStatus.PAID,
            amount_due_minor=0,
            now=PAID_AT,
            source=PaymentSource.WEBHOOK,
            payment_external_id="evt_1",
        )
        s.flush()
        assert s.scalar(select(func.count()).where(Message.kind == MessageKind.THANK_YOU)) == 1
        s.rollback()
    assert thank_yous(services) == []
    assert invoice_by_number(services, "F-1").status is InvoiceStatus.OPEN


def test_a_shop_that_did_not_turn_them_on_thanks_nobody(
    services: Services,
    shop: Shop,
    make_runner: Callable[..., DunningRunner],
    outbox: OutboxTransport,
) -> None:
    chase(services, shop, make_runner, "F-1")
    pay(services, "F-1")
    assert thank_yous(services) == []
    assert sender(services, outbox).run(PAID_AT) == []
    assert mailed_thanks(services) == []


@pytest.mark.parametrize("history", ["never_reminded", "reminder_cancelled_before_send"])
def test_an_invoice_never_chased_gets_no_thank_you(
    services: Services,
    thanking_shop: Shop,
    make_runner: Callable[..., DunningRunner],
    outbox: OutboxTransport,
    history: str,
) -> None:
    add_invoices(services, thanking_shop, [normalized("F-1", email="a@client.example", due_on=DUE)])
    if history == "reminder_cancelled_before_send":
        with write_session(services.sessions) as s:  # claimed, then the payment cancels it
            ids = due_customer_ids(s, CHASED, 10, skip_locked=False)
            Claimer(s, worker="w", lease_until=CHASED + timedelta(minutes=5)).claim_customers(
                ids, CHASED, skip_locked=False
            )
    pay(services, "F-1")
    with services.sessions() as s:
        states = set(s.scalars(select(Reminder.state)))
    assert ReminderState.SENT not in states
    assert thank_yous(services) == []
    make_runner().tick(PAID_AT + timedelta(minutes=5))
    assert outbox_messages(services) == []


@pytest.mark.parametrize("condition", ["blocked", "erased", "excluded"])
def test_a_customer_we_may_not_email_gets_no_thank_you(
    services: Services,
    thanking_shop: Shop,
    make_runner: Callable[..., DunningRunner],
    condition: str,
) -> None:
    chase(services, thanking_shop, make_runner, "F-1")
    with write_session(services.sessions) as s:
        customer = s.scalars(select(Customer)).one()
        if condition == "blocked":  # what a SendGrid bounce does
            customer.email_blocked_reason = "bounce: 550 no such user"
        elif condition == "erased":
            erase_customers(s, thanking_shop.id, [customer], CHASED)
        else:
            customer.excluded = True
    pay(services, "F-1")
    assert thank_yous(services) == []


# -- one per invoice, ever ---------------------------------------------------------------------


@pytest.mark.parametrize("send_between", [True, False], ids=["sent_between", "still_pending"])
@pytest.mark.parametrize("back_to", [InvoiceStatus.REFUNDED, InvoiceStatus.OPEN])
def test_paid_twice_is_still_one_thank_you(
    services: Services,
    thanking_shop: Shop,
    make_runner: Callable[..., DunningRunner],
    outbox: OutboxTransport,
    back_to: InvoiceStatus,
    send_between: bool,
) -> None:
    """paid → refunded (or reopened) → paid again: the second payment records nothing new.
    The first payment comes by webhook, the later states by sync (the platform's view)."""
    chase(services, thanking_shop, make_runner, "F-1")
    pay(services, "F-1")
    if send_between:
        sender(services, outbox).run(PAID_AT)
    owed = back_to.is_owed
    for status, hours in ((back_to, 1), (InvoiceStatus.PAID, 2)):
        item = normalized(
            "F-1",
            email="f-1@client.example",
            due_on=DUE,
            status=status,
            updated_at=PAID_AT + timedelta(hours=hours),
        )
        with write_session(services.sessions) as s:
            inv = lock_invoice(s, invoice_by_number(services, "F-1").id)
            shop_row = s.get(Shop, thanking_shop.id)
            assert inv is not None and shop_row is not None
            outcome = apply_platform_state(s, inv, item, item.updated_at, shop=shop_row)
            assert outcome in ("updated", "closed")
    assert invoice_by_number(services, "F-1").status is InvoiceStatus.PAID
    if owed:  # reopened then paid again: a second owed → PAID transition did happen
        kinds = [k for k, _ in timeline(services, "F-1")]
        assert kinds.count(TimelineKind.PAID) == 2
    assert len(thank_yous(services)) == 1
    sender(services, outbox).run(PAID_AT + timedelta(hours=3))
    assert len(mailed_thanks(services)) == 1
    [row] = thank_yous(services)
    assert row.state is MessageState.SENT


def test_the_database_refuses_a_second_thank_you_for_an_invoice(
    services: Services, thanking_shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    chase(services, thanking_shop, make_runner, "F-1")
    pay(services, "F-1")
    [first] = thank_yous(services)
    with pytest.raises(IntegrityError), write_session(services.sessions) as s:
        s.add(
            Message(
                shop_id=first.shop_id,
                customer_id=first.customer_id,
                kind=MessageKind.THANK_YOU,
                invoice_id=first.invoice_id,
                channel=Channel.EMAIL,
                local_day=first.local_day + timedelta(days=3),
                state=MessageState.PENDING,
            )
        )


# -- re-checked at send time -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("refunded", "invoice no longer paid (refunded)"),
        ("reopened", "invoice no longer paid (open)"),
        ("bounced", "email address blocked"),
        ("erased", "customer erased"),
        ("turned_off", "thank-you messages turned off"),
    ],
)
def test_what_changed_between_the_payment_and_the_send_cancels_it(
    services: Services,
    thanking_shop: Shop,
    make_runner: Callable[..., DunningRunner],
    outbox: OutboxTransport,
    change: str,
    reason: str,
) -> None:
    chase(services, thanking_shop, make_runner, "F-1")
    pay(services, "F-1")
    later = PAID_AT + timedelta(minutes=10)
    if change == "refunded":
        set_invoice(services, "F-1", InvoiceStatus.REFUNDED, later)
    elif change == "reopened":
        set_invoice(services, "F-1", InvoiceStatus.OPEN, later, amount_due_minor=12000)
    else:
        with write_session(services.sessions) as s:
            customer = s.scalars(select(Customer)).one()
            if change == "bounced":
                customer.email_blocked_reason = "bounce: 550 no such user"
            elif change == "erased":
                erase_customers(s, thanking_shop.id, [customer], later)
            else:
                shop_row = s.get(Shop, thanking_shop.id)
                assert shop_row is not None
                shop_row.thank_you_enabled = False
    counting = CountingTransport(outbox)
    outcomes = sender(services, counting).run(later + timedelta(minutes=1))
    assert [(o.step, o.outcome, o.reason) for o in outcomes] == [("thank_you", "cancelled", reason)]
    assert counting.calls == Counter()
    assert mailed_thanks(services) == []
    [row] = thank_yous(services)
    assert row.state is MessageState.CANCELLED and row.last_error == reason
    assert (TimelineKind.THANK_YOU_CANCELLED, f"thank-you cancelled: {reason}") in timeline(
        services, "F-1"
    )
    assert sender(services, counting).run(later + timedelta(hours=1)) == []
    assert counting.calls == Counter()


# -- exactly once ------------------------------------------------------------------------------


def test_a_crash_after_sending_is_never_resent(
    services: Services,
    thanking_shop: Shop,
    make_runner: Callable[..., DunningRunner],
    outbox: OutboxTransport,
) -> None:
    chase(services, thanking_shop, make_runner, "F-1")
    pay(services, "F-1")
    start = datetime.now(UTC) - timedelta(minutes=10)  # its send lease is over by now
    with pytest.raises(WorkerKilled):
        sender(services, DyingTransport(), clock=lambda: start).run(PAID_AT)
    [row] = thank_yous(services)
    assert row.state is MessageState.SENDING and row.attempts == 1

    counting = CountingTransport(outbox)
    # Another worker while the dead one's lease runs: nothing to take.
    assert (
        sender(services, counting, clock=lambda: start + timedelta(seconds=30)).run(PAID_AT) == []
    )
    assert thank_yous(services)[0].state is MessageState.SENDING
    # Past the send lease (the tick, real clock): UNKNOWN, raised to the owner, never resent.
    # The reminder reaper leaves it to the thank-you sender, which tells what it was.
    report = make_runner(transport=counting).tick(PAID_AT + timedelta(hours=1))
    assert [(o.invoice, o.step, o.outcome) for o in report.outcomes] == [
        ("F-1", "thank_you", "unknown")
    ]
    assert sender(services, counting).run(PAID_AT + timedelta(days=1)) == []
    assert counting.calls == Counter()
    assert mailed_thanks(services) == []
    [row] = thank_yous(services)
    assert row.state is MessageState.UNKNOWN
    with services.sessions() as s:
        [task] = s.scalars(select(Task)).all()
    assert task.kind is TaskKind.UNKNOWN_OUTCOME and "thank-you for invoice F-1" in task.title
    assert TimelineKind.THANK_YOU_UNKNOWN in [k for k, _ in timeline(services, "F-1")]


def test_a_claim_whose_lease_ran_out_is_taken_over_and_sent_once(
    services: Services,
    thanking_shop: Shop,
    make_runner: Callable[..., DunningRunner],
    outbox: OutboxTransport,
) -> None:
    """Worker A claims and stalls before the mail call; B takes over after A's claim lease;
    A's late attempt finds it is no longer its own."""
    chase(services, thanking_shop, make_runner, "F-1")
    pay(services, "F-1")
    start = datetime.now(UTC)
    counting = CountingTransport(outbox)
    a = sender(services, counting, clock=lambda: start)
    b = sender(services, counting, clock=lambda: start + timedelta(minutes=6))
    [mid] = a.claim("worker-a")
    assert a.claim("worker-a2") == []  # claimed: no one else while the lease runs
    assert b.claim("worker-b") == [mid]
    assert a.deliver(mid, "worker-a", PAID_AT) == []
    assert [o.outcome for o in b.deliver(mid, "worker-b", PAID_AT)] == ["sent"]
    assert a.claim("worker-a") == [] and b.claim("worker-b") == []
    assert counting.calls == Counter({mid: 1})


def test_an_expired_thank_you_claim_is_not_the_reminder_engines(
    services: Services,
    thanking_shop: Shop,
    make_runner: Callable[..., DunningRunner],
    outbox: OutboxTransport,
) -> None:
    """The tick's reminder reaper takes over expired reminder claims only: an expired
    thank-you claim goes back to the thank-you sender (here the tick's own), and out once."""
    chase(services, thanking_shop, make_runner, "F-1")
    pay(services, "F-1")
    stalled = sender(services, outbox, clock=lambda: datetime.now(UTC) - timedelta(minutes=10))
    [mid] = stalled.claim("worker-a")
    counting = CountingTransport(outbox)
    report = make_runner(transport=counting).tick(PAID_AT)
    assert [(o.step, o.outcome) for o in report.outcomes] == [("thank_you", "sent")]
    assert counting.calls == Counter({mid: 1})
    assert thank_yous(services)[0].state is MessageState.SENT


def test_two_concurrent_senders_send_each_thank_you_once(
    services: Services,
    thanking_shop: Shop,
    make_runner: Callable[..., DunningRunner],
    outbox: OutboxTransport,
) -> None:
    numbers = [f"F-{i}" for i in range(8)]
    chase(services, thanking_shop, make_runner, *numbers)
    for n in numbers:
        pay(services, n)
    counting = CountingTransport(outbox, latency=0.02)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait()
            sender(services, counting, batch=1, concurrency=2).run(PAID_AT)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    rows = thank_yous(services)
    assert len(rows) == 8 and {r.state for r in rows} == {MessageState.SENT}
    assert counting.calls == Counter({r.id: 1 for r in rows})
    assert sorted(str(m["invoice"]) for m in mailed_thanks(services)) == sorted(numbers)


# -- living next to the reminders --------------------------------------------------------------


@pytest.mark.parametrize("first", ["thank_you", "reminder"])
def test_a_thank_you_and_a_reminder_the_same_day_do_not_block_each_other(
    services: Services,
    thanking_shop: Shop,
    make_runner: Callable[..., DunningRunner],
    outbox: OutboxTransport,
    first: str,
) -> None:
    """One customer: F-1 chased and paid on the day F-2's courtesy reminder falls due."""
    email = "marie@client.example"
    add_invoices(
        services,
        thanking_shop,
        [
            normalized("F-1", email=email, due_on=DUE),
            normalized("F-2", email=email, due_on=date(2026, 6, 17)),
        ],
    )
    runner = make_runner()
    assert runner.tick(CHASED).counts() == {"sent": 1, "skipped": 1}  # F-1's reminder_1
    day = date(2026, 6, 15)  # Monday: F-2's courtesy (D-2)
    if first == "thank_you":
        pay(services, "F-1", paris(day, 8))
        assert sender(services, outbox).run(paris(day, 8, 5))[0].outcome == "sent"
        report = runner.tick(paris(day, 10))
    else:
        report = runner.tick(paris(day, 10))
        pay(services, "F-1", paris(day, 11))
        assert sender(services, outbox).run(paris(day, 11, 5))[0].outcome == "sent"
    assert [(o.invoice, o.step, o.outcome) for o in report.outcomes] == [
        ("F-2", "courtesy", "sent")
    ]
    sent = [(m["step"], m["invoice"]) for m in outbox_messages(services)]
    assert sorted(sent) == [("courtesy", "F-2"), ("reminder_1", "F-1"), ("thank_you", "F-1")]
    with services.sessions() as s:
        days = s.execute(
            select(Message.kind, Message.local_day).where(Message.local_day == day)
        ).all()
    assert sorted(k.value for k, _ in days) == ["reminder", "thank_you"]


def test_the_tick_sends_the_thank_you_of_a_payment_its_recheck_found(
    services: Services,
    thanking_shop: Shop,
    make_runner: Callable[..., DunningRunner],
) -> None:
    chase(services, thanking_shop, make_runner, "F-1")
    paid = normalized(
        "F-1",
        email="f-1@client.example",
        due_on=DUE,
        status=InvoiceStatus.PAID,
        updated_at=paris(date(2026, 6, 17), 8),
    )
    report = make_runner(status_checker=lambda _c, _e: paid).tick(paris(date(2026, 6, 17)))
    assert [(o.invoice, o.step, o.outcome) for o in report.outcomes] == [
        ("F-1", "thank_you", "sent")
    ]
    assert [m["step"] for m in outbox_messages(services)] == ["reminder_1", "thank_you"]
    with services.sessions() as s:
        reminder_2 = s.scalar(select(Reminder).where(Reminder.step_key == "reminder_2"))
    assert reminder_2 is not None and reminder_2.state is ReminderState.CANCELLED


def test_the_worker_runs_a_thank_you_job(
    services: Services, thanking_shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    assert "thank_you" in {j.id for j in build_scheduler(services, blocking=False).get_jobs()}
    chase(services, thanking_shop, make_runner, "F-1")
    pay(services, "F-1", datetime.now(UTC))
    send_thank_yous(services)
    assert [m["invoice"] for m in mailed_thanks(services)] == ["F-1"]
    with services.sessions() as s:
        inv = s.scalar(select(Invoice).where(Invoice.number == "F-1"))
        assert inv is not None and inv.status is InvoiceStatus.PAID
