"""The owner's pages are written in English, so are the steps and dates they show — for a French
shop too: a shipped step by its English name ("first reminder", never "reminder_1"), an owner's
step by the key they gave it, a day as "1 June 2026" (never "1er juin 2026") and an instant on
the shop's clock with its zone. The keys stay where machines read them (URLs, forms' values)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from html import unescape
from zoneinfo import ZoneInfo

from flask.testing import FlaskClient
from sqlalchemy import select

from connector.actions.sequences import StepInput, add_step, list_sequences
from connector.dunning.rules import sending_window
from connector.dunning.sequence import ensure_default_sequence
from connector.mail.outbox import OutboxTransport
from connector.runners import dunning_runner
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import Reminder, ReminderState, Shop, TaskKind
from connector.tasks import open_task
from tests.support.builders import add_invoices, invoice_by_number, normalized

FRENCH_MONTHS = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai ",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)
WHEN = re.compile(r"\b\d{1,2} [A-Z][a-z]+ 20\d\d, \d\d:\d\d CES?T\b")


def _default_sequence_id(services: Services, shop: Shop) -> int:
    with write_session(services.sessions) as s:
        ensure_default_sequence(s, s.merge(shop))
    [default] = [seq for seq in list_sequences(services, shop.id) if seq.is_default]
    return default.id


def _text(html: str) -> str:
    return unescape(" ".join(html.replace("<", " <").split()))


def _sent_first_reminder(services: Services, shop: Shop) -> tuple[int, datetime]:
    """An invoice whose first reminder went out on the latest sending day three weeks ago:
    (its id, when it went out)."""
    with services.sessions() as s:
        window = sending_window(s.merge(shop))
    opens = window.opening_on_or_after(datetime.now(UTC).date() - timedelta(days=21))
    due = window.local_date(opens) - timedelta(days=1)
    add_invoices(services, shop, [normalized("F-SENT", email="lea@client.example", due_on=due)])
    dunning_runner(services, transport=OutboxTransport(services.settings.outbox_dir)).tick(opens)
    with services.sessions() as s:
        [sent] = s.scalars(select(Reminder).where(Reminder.state == ReminderState.SENT)).all()
        assert sent.step_key == "reminder_1"
    return invoice_by_number(services, "F-SENT").id, opens


def test_the_sequence_pages_name_the_steps(
    signed_in: FlaskClient, services: Services, shop: Shop
) -> None:
    sequence_id = _default_sequence_id(services, shop)
    add_step(services, shop.id, sequence_id, StepInput(offset_days=40), key="b2b_call")
    page = signed_in.get(f"/sequences/{sequence_id}").get_data(as_text=True)
    for name in (
        "courtesy reminder",
        "first reminder",
        "second reminder",
        "third reminder",
        "final warning",
        "formal notice",
    ):
        assert re.search(rf"<h2>D[+−-]\d+ · {name}</h2>", page), name
    assert "<h2>D+40 · b2b_call</h2>" in page  # the owner's own step: the key they gave it
    for key in ("reminder_1", "final_warning", "formal_notice", "courtesy"):
        assert f"· {key}</h2>" not in page

    [first] = [st for st in list_sequences(services, shop.id)[0].steps if st.key == "reminder_1"]
    editor = signed_in.get(f"/sequences/steps/{first.id}/template?lang=fr")
    html = editor.get_data(as_text=True)
    assert editor.status_code == 200
    assert "<title>Wording of first reminder (fr) — Relance</title>" in html
    assert re.search(r"<h1>first reminder <span", html)


def test_the_invoice_page_names_steps_and_writes_english_dates(
    signed_in: FlaskClient, services: Services, shop: Shop
) -> None:
    invoice_id, sent_at = _sent_first_reminder(services, shop)
    html = signed_in.get(f"/invoices/{invoice_id}").get_data(as_text=True)
    timeline = html.split('id="timeline-h"', 1)[1]
    titles = re.findall(r'<p class="tl-title">([^<]*)</p>', timeline)
    assert "first reminder sent to lea@client.example" in titles
    assert not [t for t in titles if "reminder_1" in t or "courtesy skipped" in t]
    assert any(t.startswith("courtesy reminder skipped") for t in titles)
    # The next step by its name, on a day written in English.
    next_step = html.split('id="next-step"', 1)[1].split("</p>", 1)[0]
    assert re.search(
        r"Next: <strong>(second reminder|third reminder|final warning)</strong> \(\w+\) "
        r"on <strong>\d{1,2} [A-Z][a-z]+ 20\d\d</strong>",
        next_step,
    ), next_step
    # Every instant of the timeline: the shop's wall clock, its zone, the day in English.
    times = re.findall(r"<time [^>]*>([^<]*)</time>", timeline)
    assert times and all(WHEN.fullmatch(t) for t in times), times
    hour = sent_at.astimezone(ZoneInfo(shop.timezone)).strftime("%H:%M")
    assert any(t.endswith(f", {hour} CET") or t.endswith(f", {hour} CEST") for t in times)


def test_a_french_shops_days_read_in_english(
    signed_in: FlaskClient, services: Services, shop: Shop
) -> None:
    assert shop.locale == "fr"
    add_invoices(
        services,
        shop,
        [normalized("F-JUNE", email="marie@client.example", due_on=date(2026, 6, 1))],
    )
    html = signed_in.get(f"/invoices/{invoice_by_number(services, 'F-JUNE').id}").get_data(
        as_text=True
    )
    facts = _text(html.split("<dt>Due</dt>", 1)[1].split("</dd>", 1)[0])
    assert facts.startswith("<dd>1 June 2026 ")
    listing = _text(signed_in.get("/invoices").get_data(as_text=True))
    assert "1 June 2026" in listing
    for page in (html, listing):
        assert "1er juin" not in page and "juin 2026" not in page
    assert '<html lang="en">' in html


def test_the_dashboard_names_the_steps(
    signed_in: FlaskClient, services: Services, shop: Shop
) -> None:
    _sent_first_reminder(services, shop)
    html = signed_in.get("/dashboard").get_data(as_text=True)
    table = html.split("Paid within 7 days after each step", 1)[1].split("</table>", 1)[0]
    assert '<td data-label="Step">first reminder</td>' in table
    assert "reminder_1" not in table


def test_tasks_name_the_step_and_write_days_in_english(
    signed_in: FlaskClient, services: Services, shop: Shop
) -> None:
    add_invoices(
        services, shop, [normalized("F-TASK", email="paul@client.example", due_on=date(2026, 6, 1))]
    )
    inv = invoice_by_number(services, "F-TASK")
    with write_session(services.sessions) as s:
        # As the engine words it when a step's channel has no transport (deliver.py).
        open_task(
            s,
            shop_id=shop.id,
            invoice_id=inv.id,
            kind=TaskKind.SEND_FAILED,
            title="Invoice F-TASK: reminder_2 could not go out — change its channel",
            dedupe_key="words:1",
        )
        open_task(
            s,
            shop_id=shop.id,
            invoice_id=inv.id,
            kind=TaskKind.ESCALATION,
            title="Invoice F-TASK: final warning sent, over to you",
            dedupe_key="words:2",
        )
    html = signed_in.get("/tasks").get_data(as_text=True)
    headings = re.findall(r"<h2>([^<]*)</h2>", html)
    assert "Invoice F-TASK: second reminder could not go out — change its channel" in headings
    assert "Invoice F-TASK: final warning sent, over to you" in headings
    assert "reminder_2" not in html
    opened = re.findall(r"opened ([^<·]*?) ?(?:·|</p>)", html)
    assert len(opened) == 2
    assert all(re.fullmatch(r"\d{1,2} [A-Z][a-z]+ 20\d\d", o.strip()) for o in opened), opened
    assert not [m for m in FRENCH_MONTHS if m in html]
