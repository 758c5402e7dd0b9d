"""The dashboard's figures on a crafted data set, each checked against a hand count; and the
number of statements the dashboard and the tasks page cost, which must not grow with the data."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from flask import Flask
from sqlalchemy import event, select

from connector.actions.dashboard import dashboard
from connector.domain.money import Money
from connector.ledger import set_state
from connector.mail.outbox import OutboxTransport
from connector.platform import InvoiceStatus
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import Invoice, PaymentSource, Reminder, ReminderState, Shop, TaskKind
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
    assert board.dso_30 == 57
    # Since 1 September: A, B, C, D, G = 2,000 → 2,100 x 90 / 2,000 = 94.5, rounded up.
    assert board.dso_90 == 95


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
    runner = services.runner(transport=OutboxTransport(services.settings.outbox_dir))
    runner.tick(paris(date(2026, 11, 3)))  # reminder_1 (D+1) to P1 and P2
    with services.sessions() as s:
        sent = s.scalars(select(Reminder).where(Reminder.state == ReminderState.SENT)).all()
        assert {r.step_key for r in sent} == {"reminder_1"} and len(sent) == 2
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
    assert board.messages_sent == 2 and board.opened == 0


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


def test_the_dashboard_and_tasks_pages_cost_the_same_statements_at_any_size(
    app: Flask, services: Services, shop: Shop
) -> None:
    client = signed_in(app, services, shop.id, "owner@dupont.example")
    costs: dict[str, list[int]] = {"/dashboard": [], "/tasks": []}
    for start, n in ((0, 5), (5, 60)):
        _grow(services, shop, start, n)
        for url, seen in costs.items():
            with counted(services) as statements:
                resp = client.get(url)
            assert resp.status_code == 200, url
            seen.append(len(statements))
    # Sign-in and shop lookups, one statement per figure, the nav's task count (and BEGINs).
    assert costs["/dashboard"][0] == costs["/dashboard"][1] <= 14, costs
    assert costs["/tasks"][0] == costs["/tasks"][1] <= 10, costs
