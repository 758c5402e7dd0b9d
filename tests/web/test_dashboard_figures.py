"""The dashboard's figures on a crafted data set, each checked against a hand count; and the
number of statements the dashboard and the tasks page cost, which must not grow with the data."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from flask import Flask
from sqlalchemy import event, select

from connector.actions.dashboard import DSO_CEILING_DAYS, Dso, dashboard
from connector.actions.onboarding import import_csv
from connector.actions.sequence_preview import next_business_day
from connector.actions.sequences import (
    RuleInput,
    StepInput,
    add_rule,
    add_step,
    create_sequence,
    list_sequences,
)
from connector.domain.money import Money
from connector.ledger import add_timeline, set_state
from connector.mail.outbox import OutboxTransport
from connector.platform import InvoiceStatus
from connector.runners import dunning_runner
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import (
    Invoice,
    PaymentSource,
    Reminder,
    ReminderState,
    Shop,
    Step,
    TaskKind,
    TimelineKind,
)
from connector.tasks import open_task
from tests.support.builders import add_invoices, normalized, paris
from tests.support.owner import signed_in

TODAY = date(2026, 11, 30)  # a Monday
NOW = paris(TODAY)


def eur(amount: str) -> Money:
    return Money.of(amount, "EUR")


def _crafted(services: Services, shop: Shop) -> None:
    rows = [
        # number, amount, issued, due, status
        ("A", "100.00", date(2026, 11, 20), date(2026, 12, 5), InvoiceStatus.OPEN),  # not due
        ("B", "200.00", date(2026, 10, 30), date(2026, 11, 29), InvoiceStatus.OPEN),  # 1 day
        ("C", "300.00", date(2026, 10, 1), date(2026, 10, 31), InvoiceStatus.OPEN),  # 30 days
        ("D", "400.00", date(2026, 9, 1), date(2026, 10, 30), InvoiceStatus.OPEN),  # 31 days
        ("E", "500.00", date(2026, 8, 1), date(2026, 9, 1), InvoiceStatus.OPEN),  # 90 days
        ("F", "600.00", date(2026, 7, 1), date(2026, 8, 1), InvoiceStatus.OPEN),  # 121 days
        ("G", "1000.00", date(2026, 11, 1), date(2026, 11, 10), InvoiceStatus.PAID),
        ("U", "700.00", date(2026, 11, 2), date(2026, 11, 2), InvoiceStatus.OPEN),  # USD
    ]
    add_invoices(
        services,
        shop,
        [
            normalized(
                n,
                email=f"{n.lower()}@client.example",
                amount=a,
                currency="USD" if n == "U" else "EUR",
                issued_on=i,
                due_on=d,
                status=st,
            )
            for n, a, i, d, st in rows
        ],
    )


def test_aging_buckets_and_dso_are_exact(services: Services, shop: Shop) -> None:
    _crafted(services, shop)
    board = dashboard(services.sessions, shop.id, now=NOW)
    assert [(b.label, b.amount, b.count) for b in board.buckets] == [
        ("not due", eur("100.00"), 1),
        ("1–30 days", eur("500.00"), 2),
        ("31–60 days", eur("400.00"), 1),
        ("61–90 days", eur("500.00"), 1),
        ("over 90 days", eur("600.00"), 1),
    ]
    assert board.outstanding == eur("2100.00")
    assert board.other_currencies == (Money.of("700.00", "USD"),)
    assert [b.share for b in board.buckets][-1] == Decimal("1.000")
    # Sales issued since 31 October: A 100 + G 1,000 = 1,100 → 2,100 x 30 / 1,100 = 57.3.
    assert board.dso_30 == Dso(30, 57)
    # Since 1 September: A, B, C, D, G = 2,000 → 2,100 x 90 / 2,000 = 94.5, rounded up.
    assert board.dso_90 == Dso(90, 95)
    assert not board.dso_90.beyond_ceiling


def test_steps_paid_within_seven_days_recovered_and_planned(services: Services, shop: Shop) -> None:
    add_invoices(
        services,
        shop,
        [
            normalized("P1", email="p1@client.example", due_on=date(2026, 11, 2)),
            normalized("P2", email="p2@client.example", due_on=date(2026, 11, 2)),
            # The courtesy step (D-2) of this one falls on Tuesday 1 December, the next
            # business day; its reminder_1 (D+1) only on the 4th.
            normalized("Q1", email="q1@client.example", due_on=date(2026, 12, 3)),
        ],
    )
    runner = dunning_runner(services, transport=OutboxTransport(services.settings.outbox_dir))
    runner.tick(paris(date(2026, 11, 3)))  # reminder_1 (D+1) to P1 and P2
    with services.sessions() as s:
        sent = s.scalars(select(Reminder).where(Reminder.state == ReminderState.SENT)).all()
        assert {r.step_key for r in sent} == {"reminder_1"} and len(sent) == 2
    with write_session(services.sessions) as s:  # P1's email opened twice and clicked once
        first = s.scalars(
            select(Reminder).where(Reminder.state == ReminderState.SENT).order_by(Reminder.id)
        ).first()
        assert first is not None
        inv = s.get(Invoice, first.invoice_id)
        assert inv is not None
        for kind in (TimelineKind.OPENED, TimelineKind.OPENED, TimelineKind.CLICKED):
            add_timeline(s, inv, paris(date(2026, 11, 4)), kind, "seen", reminder_id=first.id)
    with write_session(services.sessions) as s:
        for number, day in (("P1", date(2026, 11, 6)), ("P2", date(2026, 11, 20))):
            inv = s.scalar(select(Invoice).where(Invoice.number == number))
            assert inv is not None
            set_state(
                s,
                inv,
                status=InvoiceStatus.PAID,
                amount_due_minor=0,
                now=paris(day),
                source=PaymentSource.MANUAL,
                payment_external_id=f"virement-{number}",
            )
    board = dashboard(services.sessions, shop.id, now=NOW)
    rates = {r.step: (r.sent, r.paid_within, r.percent) for r in board.step_rates}
    assert rates == {"reminder_1": (2, 1, 50)}  # P1 paid 3 days after, P2 17 days after
    assert board.recovered[-1].first_day == date(2026, 11, 1)
    assert board.recovered[-1].amount == eur("240.00")
    assert all(m.amount == eur("0.00") for m in board.recovered[:-1])
    assert board.planned_day == date(2026, 12, 1)
    assert [(p.step, p.invoices) for p in board.planned] == [("courtesy", 1)]
    assert (board.messages_sent, board.opened, board.clicked) == (2, 1, 1)
    assert (board.open_rate, board.click_rate) == (50, 50)


@contextmanager
def counted(services: Services) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(services.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(services.engine, "before_cursor_execute", count)


def _grow(services: Services, shop: Shop, start: int, n: int) -> None:
    add_invoices(
        services,
        shop,
        [
            normalized(
                f"N-{i}",
                email=f"n{i}@client.example",
                due_on=TODAY - timedelta(days=i % 120),
                issued_on=TODAY - timedelta(days=i % 120 + 30),
            )
            for i in range(start, start + n)
        ],
    )
    with write_session(services.sessions) as s:
        ids = s.scalars(select(Invoice.id).where(Invoice.shop_id == shop.id)).all()
        for i in ids[start : start + n]:
            open_task(
                s,
                shop_id=shop.id,
                kind=TaskKind.ESCALATION,
                title="call",
                dedupe_key=f"e{i}",
                invoice_id=i,
            )


def _remind_and_pay(services: Services, shop: Shop) -> None:
    """Every figure's query gets rows: reminders out to every owed invoice, a third paid."""
    runner = dunning_runner(services, transport=OutboxTransport(services.settings.outbox_dir))
    runner.tick(NOW)
    with write_session(services.sessions) as s:
        for inv in s.scalars(select(Invoice).where(Invoice.id % 3 == 0)).all():
            set_state(
                s,
                inv,
                status=InvoiceStatus.PAID,
                amount_due_minor=0,
                now=NOW,
                source=PaymentSource.MANUAL,
                payment_external_id=f"virement-{inv.id}",
            )


def test_the_dashboard_and_tasks_pages_cost_the_same_statements_at_any_size(
    app: Flask, services: Services, shop: Shop
) -> None:
    client = signed_in(app, services, shop.id, "owner@dupont.example")
    costs: dict[str, list[int]] = {"/dashboard": [], "/tasks": []}
    board = None
    for start, n in ((0, 5), (5, 60), (65, 200)):
        _grow(services, shop, start, n)
        if start == 65:  # then 265 invoices, reminders sent, payments: no N+1 anywhere
            _remind_and_pay(services, shop)
        for url, seen in costs.items():
            with counted(services) as statements:
                resp = client.get(url)
            assert resp.status_code == 200, url
            seen.append(len(statements))
        board = dashboard(services.sessions, shop.id)
    assert board is not None and board.step_rates and board.messages_sent  # rows were read
    assert any(m.amount.amount > 0 for m in board.recovered)
    # Sign-in and shop lookups, one statement per figure, the steps and the assignment rules
    # (the tile counts under them), the nav's task count (and BEGINs on SQLite).
    assert len(set(costs["/dashboard"])) == 1 and costs["/dashboard"][0] <= 16, costs
    assert len(set(costs["/tasks"])) == 1 and costs["/tasks"][0] <= 10, costs


def test_steps_falling_due_follow_the_shop_assignment_rules(services: Services, shop: Shop) -> None:
    """A rule sends business customers to a second sequence with its own D+4 step: the tile
    counts what the planner would plan (the sequences page's dry run), under the right step."""
    business = create_sequence(services, shop.id, "Business")  # a copy of the default's steps
    add_step(services, shop.id, business.id, StepInput(offset_days=4), key="b2b_call")
    add_rule(services, shop.id, RuleInput(business.id, b2b=True))
    add_invoices(
        services,
        shop,
        [
            # Consumer, default sequence: courtesy (D-2) on Tuesday 1 December.
            normalized("C1", email="c1@client.example", due_on=date(2026, 12, 3)),
            # Business, "Business" sequence: its copy of courtesy on the 1st too.
            normalized("B1", email="b1@client.example", due_on=date(2026, 12, 3), b2b=True),
            # Business, due Friday 27 November: b2b_call (D+4) on the 1st; under the default
            # sequence nothing would fall due that day (D+1 was the 28th, D+7 is the 4th).
            normalized("B2", email="b2@client.example", due_on=date(2026, 11, 27), b2b=True),
        ],
    )
    with write_session(services.sessions) as s:  # D+1 went out on the 28th
        b2 = s.scalar(select(Invoice).where(Invoice.number == "B2"))
        step = s.scalar(
            select(Step).where(Step.sequence_id == business.id, Step.key == "reminder_1")
        )
        assert b2 is not None and step is not None
        s.add(
            Reminder(
                shop_id=shop.id,
                invoice_id=b2.id,
                step_id=step.id,
                step_key=step.key,
                channel=step.channel,
                state=ReminderState.SENT,
                due_on=date(2026, 11, 28),
                counted_from=date(2026, 11, 27),
                sent_at=paris(date(2026, 11, 28)),
            )
        )
    board = dashboard(services.sessions, shop.id, now=NOW)
    assert board.planned_day == date(2026, 12, 1)
    assert [(p.step, p.invoices) for p in board.planned] == [("courtesy", 2), ("b2b_call", 1)]

    # The sequences page says the same: which sequence governs what, what goes out the 1st.
    governed = {v.name: v.open_invoices for v in list_sequences(services, shop.id)}
    assert governed == {"default": 1, "Business": 2}
    report = next_business_day(services, shop.id, now=NOW)
    going_out = Counter(item.step for m in report.messages for item in m.items)
    assert going_out == {p.step: p.invoices for p in board.planned}
    assert report.due_by_step() == going_out and not report.waiting


def _page(app: Flask, services: Services, shop: Shop) -> str:
    client = signed_in(app, services, shop.id, "owner@dupont.example")
    resp = client.get("/dashboard")
    assert resp.status_code == 200
    return " ".join(re.sub(r"<[^>]+>", " ", resp.get_data(as_text=True)).split())  # the text


def test_dso_beyond_a_year_reads_over_365_days(app: Flask, services: Services, shop: Shop) -> None:
    """Old receivables, few sales in the period: the ratio is huge and says so in words."""
    today = datetime.now(UTC).date()  # the page computes as of the clock
    add_invoices(
        services,
        shop,
        [
            normalized(
                "OLD",
                email="old@client.example",
                amount="5000.00",
                issued_on=today - timedelta(days=700),
                due_on=today - timedelta(days=670),
            ),
            normalized(
                "NEW",
                email="new@client.example",
                amount="10.00",
                issued_on=today - timedelta(days=10),
                due_on=today + timedelta(days=20),
            ),
        ],
    )
    board = dashboard(services.sessions, shop.id)
    assert board.dso_90.days is not None and board.dso_90.days > DSO_CEILING_DAYS
    page = _page(app, services, shop)
    assert f"over {DSO_CEILING_DAYS} days over the last 90 days" in page
    assert "Few sales in the last 90 days compared with what is still owed" in page
    assert f"Over the last 30 days: over {DSO_CEILING_DAYS} days" in page
    assert str(board.dso_90.days) not in page


def test_dso_without_sales_in_the_period_says_so(
    app: Flask, services: Services, shop: Shop
) -> None:
    today = datetime.now(UTC).date()
    add_invoices(
        services,
        shop,
        [
            normalized(
                "OLD",
                email="old@client.example",
                amount="5000.00",
                issued_on=today - timedelta(days=200),
                due_on=today - timedelta(days=170),
            ),
            normalized(  # issued 60 days ago: in the 90-day period, not the 30-day one
                "MID",
                email="mid@client.example",
                amount="3000.00",
                issued_on=today - timedelta(days=60),
                due_on=today - timedelta(days=30),
            ),
        ],
    )
    page = _page(app, services, shop)
    # 8,000 owed x 90 / 3,000 sold = 240 days; nothing issued in the last 30 days.
    assert "240 days over the last 90 days" in page
    assert "Over the last 30 days: not enough sales (no invoice issued in that time)" in page


def test_dso_with_no_sales_at_all(app: Flask, services: Services, shop: Shop) -> None:
    today = datetime.now(UTC).date()
    add_invoices(
        services,
        shop,
        [
            normalized(
                "OLD",
                email="old@client.example",
                issued_on=today - timedelta(days=200),
                due_on=today - timedelta(days=170),
            )
        ],
    )
    page = _page(app, services, shop)
    assert "not enough sales over the last 90 days" in page
    assert "No invoice was issued in the last 90 days" in page


def test_steps_due_count_the_backlog_and_what_waits(services: Services, shop: Shop) -> None:
    """The tile and the sequences page agree on what is due by the next business day when the
    day's steps are not all new ones: an overdue backlog imported today is caught up by its
    latest step (the tile read 0 while the page listed it), and a step that waits for payment
    instructions is due all the same (the page says why it waits). The test above only had
    steps falling due on that very day, each with a payment link."""
    header = "number,customer_email,customer_name,amount,currency,issued_at,due_at,b2b,locale\n"
    # Imported today, due 1 October: its formal notice (D+30) catches it up; no payment link
    # and no payment instructions, so it waits.
    row = "CSV-1,csv@client.example,Paul,300.00,EUR,2026-09-01,2026-10-01,false,fr\n"
    import_csv(services.sessions, shop.id, (header + row).encode(), NOW)
    add_invoices(
        services,
        shop,
        [
            # Due 20 November: its reminder_2 (D+7, the 27th) never went out; D+14 is the 4th.
            normalized("L1", email="l1@client.example", due_on=date(2026, 11, 20)),
            # Courtesy (D-2) on Tuesday 1 December.
            normalized("N1", email="n1@client.example", due_on=date(2026, 12, 3)),
            # Due on the 1st itself: its courtesy can no longer go out before it, reminder_1
            # is the 2nd: nothing due.
            normalized("Z1", email="z1@client.example", due_on=date(2026, 12, 1)),
        ],
    )
    board = dashboard(services.sessions, shop.id, now=NOW)
    assert board.planned_day == date(2026, 12, 1)
    assert {p.step: p.invoices for p in board.planned} == {
        "courtesy": 1,
        "reminder_2": 1,
        "formal_notice": 1,
    }
    day = next_business_day(services, shop.id, now=NOW)
    assert sorted((i.invoice, i.step) for m in day.messages for i in m.items) == [
        ("L1", "reminder_2"),
        ("N1", "courtesy"),
    ]
    assert [(w.invoice, w.step) for w in day.waiting] == [("CSV-1", "formal_notice")]
    assert "no payment instructions" in day.waiting[0].reason
    assert (day.due, day.going_out) == (3, 2)
    assert day.due_by_step() == {p.step: p.invoices for p in board.planned}


def test_steps_due_leave_out_what_a_tick_would_not_look_at(services: Services, shop: Shop) -> None:
    """The tile's shape without assignment rules (the customers never to remind as a small
    set, the sequence read on the invoice's own column, no customer or connection joined):
    it still agrees with the dry run on excluded and erased customers, a paused invoice, a
    step already sent and an invoice pinned to another sequence."""
    pinned = create_sequence(services, shop.id, "Pinned")  # a copy of the default's steps
    add_step(services, shop.id, pinned.id, StepInput(offset_days=4), key="pinned_call")
    add_invoices(
        services,
        shop,
        [
            normalized(n, email=f"{n.lower()}@client.example", due_on=d)
            for n, d in (
                ("N1", date(2026, 12, 3)),  # courtesy (D-2) on Tuesday 1 December
                ("X1", date(2026, 12, 3)),  # its customer is excluded
                ("E1", date(2026, 12, 3)),  # its customer was erased
                ("P1", date(2026, 11, 20)),  # reminder_2 due, but paused until the 5th
                ("S1", date(2026, 11, 20)),  # reminder_2 went out on the 27th
                ("L1", date(2026, 11, 20)),  # reminder_2 never went out
                ("K1", date(2026, 11, 27)),  # pinned: pinned_call (D+4) on the 1st
            )
        ],
    )
    with write_session(services.sessions) as s:
        inv = {i.number: i for i in s.scalars(select(Invoice))}
        inv["X1"].customer.excluded = True
        inv["E1"].customer.erased_at = NOW - timedelta(days=1)
        inv["P1"].paused_until = NOW + timedelta(days=5)
        inv["P1"].pause_reason = "manual"
        inv["K1"].sequence_id = pinned.id
        step = s.scalar(select(Step).where(Step.sequence_id != pinned.id, Step.key == "reminder_2"))
        assert step is not None
        s.add(
            Reminder(
                shop_id=shop.id,
                invoice_id=inv["S1"].id,
                step_id=step.id,
                step_key=step.key,
                channel=step.channel,
                state=ReminderState.SENT,
                due_on=date(2026, 11, 27),
                counted_from=date(2026, 11, 20),
                sent_at=paris(date(2026, 11, 27)),
            )
        )
    board = dashboard(services.sessions, shop.id, now=NOW)
    assert {p.step: p.invoices for p in board.planned} == {
        "courtesy": 1,
        "reminder_2": 1,
        "pinned_call": 1,
    }
    day = next_business_day(services, shop.id, now=NOW)
    assert day.due_by_step() == {p.step: p.invoices for p in board.planned}


def test_steps_due_read_the_invoices_from_the_index_alone(services: Services, shop: Shop) -> None:
    """The tile reads each owed invoice from (shop, status, due_at, next_action_at,
    paused_until, sequence_id, customer_id, id) without its row, the customers never to remind
    from (shop, excluded, erased_at), and joins neither customer nor connection when no rule
    reads them: at 100,000 invoices a table row per invoice doubled its cost."""
    add_invoices(
        services,
        shop,
        [normalized("N1", email="n1@client.example", due_on=date(2026, 12, 3))],
    )
    seen: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(services.engine, "before_cursor_execute", keep)
    try:
        board = dashboard(services.sessions, shop.id, now=NOW)
    finally:
        event.remove(services.engine, "before_cursor_execute", keep)
    assert {p.step: p.invoices for p in board.planned} == {"courtesy": 1}
    [(tile, parameters)] = [
        (st, p) for st, p in seen if "UNION ALL" in st and "FROM reminder" in st
    ]
    with services.engine.connect() as c:
        if c.dialect.name != "sqlite":  # PostgreSQL: what the statement reads, not its plan
            plan = " ".join(str(r[0]) for r in c.exec_driver_sql("EXPLAIN " + tile, parameters))
            assert " on connection" not in plan, plan
            assert not re.search(r"(Hash|Merge) Join|Nested Loop  \(", plan), plan  # anti only
            return
        steps = [str(r[3]) for r in c.exec_driver_sql("EXPLAIN QUERY PLAN " + tile, parameters)]
    reads = [st for st in steps if st.startswith(("SCAN", "SEARCH"))]
    on_invoice = [st for st in reads if " invoice " in st]
    on_customer = [st for st in reads if " customer " in st]
    assert on_invoice and all(
        "COVERING INDEX ix_invoice_shop_status_due_plan" in st for st in on_invoice
    ), steps
    assert on_customer and all(
        "COVERING INDEX ix_customer_shop_unreachable" in st for st in on_customer
    ), steps
    assert not [st for st in reads if " connection " in st], steps
