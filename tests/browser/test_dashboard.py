"""In real Chromium, on the demo shop after its engine ran: the dashboard's chart renders; a
letter task is closed with its posting date and tracking number; the invoice's evidence dossier
is downloaded and its text read back (the messages, their times and the payment, in order).
Screenshots, desktop and phone, under tests/artifacts/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from babel.numbers import format_currency
from sqlalchemy import select

from connector.actions.accounts import create_owner
from connector.actions.timeline import TimelineKind, invoice_timeline
from connector.demo import run_demo
from connector.domain.dates import local_date, long_date
from connector.domain.phrases import FR_VALUES, Value
from connector.ledger import set_state
from connector.platform import InvoiceStatus
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import (
    Invoice,
    PaymentSource,
    Reminder,
    ReminderState,
    Task,
    TaskKind,
    TaskState,
)
from connector.web import create_app
from tests.browser.conftest import screenshot
from tests.engine.test_letters import pdf_text

PARIS = ZoneInfo("Europe/Paris")
PASSWORD = "correct horse battery"
OWNER = "camille@demo.example.org"


def step_fr(key: str) -> str:
    """A step as the French dossier names it (a shipped step by its French name)."""
    return FR_VALUES[Value.STEP].get(key, key)


def _shoot(page: Any, name: str) -> None:
    screenshot(page, name)
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, f"{name}-phone")
    page.set_viewport_size({"width": 1280, "height": 800})


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_dashboard_chart_letter_task_and_dossier(
    page: Any, live_server: Any, services: Services, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    report = run_demo(services, create_app(services=services), now - timedelta(days=20))  # past
    create_owner(
        services.sessions, email=OWNER, password=PASSWORD, now=now, shop_ids=(report.shop_id,)
    )
    base = live_server(create_app(services=services))
    page.goto(base + "/signin")
    page.fill("#email", OWNER)
    page.fill("#password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_selector("nav.main")

    # The dashboard: five aging bars, the demo's money in them.
    page.goto(base + "/dashboard")
    page.wait_for_selector("svg.chart g.bucket", state="attached")
    assert page.locator("svg.chart g.bucket").count() == 5
    widths = [
        float(
            (
                page.locator("svg.chart g.bucket rect.bar").nth(i).get_attribute("width") or "0"
            ).rstrip("%")
        )
        for i in range(5)
    ]
    assert max(widths) == 100.0 and sum(w > 0 for w in widths) >= 2, widths
    longest = page.locator("svg.chart g.bucket rect.bar").nth(widths.index(100.0))
    assert longest.bounding_box()["width"] > 600  # drawn, across the card
    body = page.inner_text("main")
    with services.sessions() as s:
        owed = s.scalars(
            select(Invoice.amount_due_minor).where(
                Invoice.shop_id == report.shop_id,
                Invoice.status.in_((InvoiceStatus.OPEN, InvoiceStatus.PARTIALLY_PAID)),
            )
        ).all()
    outstanding = format_currency(Decimal(sum(owed)) / 100, "EUR", locale="fr_FR")
    assert f"Outstanding: {outstanding}" in body, (outstanding, body[:300])
    _shoot(page, "dashboard-1")

    # A letter to post: record "posted on <date>, tracking number".
    with services.sessions() as s:
        letters = s.scalars(
            select(Task).where(Task.kind == TaskKind.LETTER_TO_POST, Task.state == TaskState.OPEN)
        ).all()

        def chased(t: Task) -> int:
            return len(
                s.scalars(
                    select(Reminder.id).where(
                        Reminder.invoice_id == t.invoice_id, Reminder.state == ReminderState.SENT
                    )
                ).all()
            )

        task = max(letters, key=chased)  # the letter of the invoice with the most messages
        assert task.invoice_id is not None
        invoice_id = task.invoice_id
        number = s.scalar(select(Invoice.number).where(Invoice.id == invoice_id))
    count = page.inner_text("nav.main .count")
    page.goto(base + "/tasks")
    card = page.locator(f"#task-{task.id}")
    assert "Letter" in card.inner_text()
    _shoot(page, "tasks-1-open")
    today = local_date(now, "Europe/Paris")
    card.locator("input[name=posted_on]").fill(today.isoformat())
    card.locator("input[name=tracking]").fill("1A00123456789")
    card.locator("button:text-is('Record the posting')").click()
    page.wait_for_selector("text=Posting recorded")
    assert f"#task-{task.id}" not in page.content()
    assert int(page.inner_text("nav.main .count") or 0) == int(count) - 1
    _shoot(page, "tasks-2-posted")
    with services.sessions() as s:
        posted = [
            e
            for e in invoice_timeline(s, report.shop_id, invoice_id)
            if e.kind is TimelineKind.LETTER and e.detail.get("tracking") == "1A00123456789"
        ]
    assert posted and posted[0].detail["posted_on"] == today.isoformat()

    # The customer pays; the dossier, downloaded from the closed task, tells it all in order.
    with write_session(services.sessions) as s:
        inv = s.get(Invoice, invoice_id)
        assert inv is not None
        set_state(
            s,
            inv,
            status=InvoiceStatus.PAID,
            amount_due_minor=0,
            now=now,
            source=PaymentSource.MANUAL,
            payment_external_id="virement-demo",
        )
    with services.sessions() as s:
        sent = s.scalars(
            select(Reminder)
            .where(Reminder.invoice_id == invoice_id, Reminder.state == ReminderState.SENT)
            .order_by(Reminder.sent_at)
        ).all()
    assert len(sent) >= 2
    page.goto(base + "/tasks?state=done")
    _shoot(page, "tasks-3-done")
    with page.expect_download() as info:
        page.locator(f"#task-{task.id} a:text('evidence dossier (PDF)')").click()
    download = info.value
    assert download.suggested_filename == f"dossier-{number}.pdf"
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    text = pdf_text(target.read_bytes())
    # The demo shop is French: so is its dossier (each headline, then the entry in French, the
    # shipped steps named as a French sequence names them).
    chronology = text[text.index("Chronologie") : text.index("Messages tels qu'envoyés")]
    lines = chronology.splitlines()
    places = []
    for rem in sent:
        assert rem.sent_at is not None
        at = rem.sent_at.astimezone(PARIS)
        stamp = f"{long_date(at.date(), 'fr')} à {at.strftime('%H:%M')}"
        hit = next(
            (
                i
                for i, ln in enumerate(lines[:-1])
                if ln.startswith(stamp) and step_fr(rem.step_key) in lines[i + 1]
            ),
            None,
        )
        assert hit is not None, (stamp, rem.step_key, chronology)
        places.append(chronology.index(lines[hit]))
    paid = chronology.index("paiement reçu (saisie du commerçant)")
    assert places == sorted(places) and places[-1] < paid
    assert "numéro de suivi: 1A00123456789" in chronology
    # Back on the dashboard: this month's bar shows the payment.
    page.goto(base + "/dashboard")
    page.wait_for_selector("svg.months rect.bar", state="attached")
    heights = [
        float(page.locator("svg.months rect.bar").nth(i).get_attribute("height") or 0)
        for i in range(12)
    ]
    assert heights[-1] == 150.0 and not any(heights[:-1]), heights
    assert "This month so far:" in page.inner_text("main")
    _shoot(page, "dashboard-2-paid")
    assert not page.csp_violations, page.csp_violations
