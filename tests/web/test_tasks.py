"""The tasks page: a letter task closed with "posted on <date>, tracking number" lands on the
invoice's timeline as the proof of dispatch; assign, comment and close; a bounced address fixed;
bad input names the field and writes nothing; the nav counts the open tasks."""

from __future__ import annotations

from datetime import date

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from connector.actions.timeline import TimelineKind, invoice_timeline
from connector.mail.outbox import OutboxTransport
from connector.runners import dunning_runner
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import (
    Customer,
    Invoice,
    Message,
    MessageState,
    Shop,
    Task,
    TaskComment,
    TaskKind,
    TaskState,
)
from connector.webhooks.sendgrid import apply_event, parse_event
from tests.evidence.test_dossier import _chase_to_formal_notice
from tests.support.builders import add_invoices, normalized, paris
from tests.support.owner import signed_in
from tests.support.pages import csrf_token


def _task(services: Services, kind: TaskKind) -> Task:
    with services.sessions() as s:
        task = s.scalar(select(Task).where(Task.kind == kind).order_by(Task.id.desc()))
        assert task is not None
        return task


def _post(client: FlaskClient, url: str, **form: str) -> TestResponse:
    token = csrf_token(client.get("/tasks").get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **form})


def test_closing_a_letter_task_with_a_tracking_number_is_the_proof_of_dispatch(
    app: Flask, services: Services, shop: Shop
) -> None:
    _chase_to_formal_notice(services, shop, amount="1200.00", currency="EUR")
    client = signed_in(app, services, shop.id, "owner@dupont.example")
    # The chase posted the formal notice already; the final warning's letter is still to post.
    with services.sessions() as s:
        open_letters = s.scalars(
            select(Task).where(Task.kind == TaskKind.LETTER_TO_POST, Task.state == TaskState.OPEN)
        ).all()
    assert open_letters, "the final warning's letter task should be open"
    letter_task = open_letters[0]
    page = client.get("/tasks").get_data(as_text=True)
    assert letter_task.title in page and f"/tasks/{letter_task.id}/letter.pdf" in page
    assert client.get(f"/tasks/{letter_task.id}/letter.pdf").data.startswith(b"%PDF-")
    before = page.count('class="count"')
    assert before == 1

    bad = _post(client, f"/tasks/{letter_task.id}/posted", posted_on="yesterday", tracking="X")
    assert bad.status_code == 400
    assert "posted on: yesterday is not a date" in bad.get_data(as_text=True)
    future = _post(client, f"/tasks/{letter_task.id}/posted", posted_on="2099-01-01")
    assert future.status_code == 400 and "in the future" in future.get_data(as_text=True)
    with services.sessions() as s:
        still = s.get(Task, letter_task.id)
        assert still is not None and still.state is TaskState.OPEN

    with services.sessions() as s:
        made = s.get(Task, letter_task.id)
        assert made is not None and made.invoice_id is not None
        invoice_id = made.invoice_id
    posted_on = date(2026, 5, 26)
    resp = _post(
        client,
        f"/tasks/{letter_task.id}/posted",
        posted_on=posted_on.isoformat(),
        tracking="1A99887766554",
    )
    assert resp.status_code == 302
    with services.sessions() as s:
        closed = s.get(Task, letter_task.id)
        assert closed is not None and closed.state is TaskState.DONE
        timeline = invoice_timeline(s, shop.id, invoice_id)
        notes = s.scalars(
            select(TaskComment.body).where(TaskComment.task_id == letter_task.id)
        ).all()
    proof = [e for e in timeline if e.kind is TimelineKind.LETTER and e.detail.get("posted_on")]
    assert any(
        e.detail["posted_on"] == "2026-05-26" and e.detail["tracking"] == "1A99887766554"
        for e in proof
    ), [e.title for e in timeline]
    assert notes == ["posted on 2026-05-26, tracking 1A99887766554"]
    again = _post(client, f"/tasks/{letter_task.id}/posted", posted_on="2026-05-26")
    assert again.status_code == 400 and "already closed" in again.get_data(as_text=True)


def test_assign_comment_close_and_bad_input(app: Flask, services: Services, shop: Shop) -> None:
    add_invoices(
        services, shop, [normalized("F-1", email="a@client.example", due_on=date(2026, 6, 1))]
    )
    with write_session(services.sessions) as s:
        inv = s.scalar(select(Invoice))
        assert inv is not None
        from connector.tasks import open_task

        open_task(
            s,
            shop_id=shop.id,
            kind=TaskKind.ESCALATION,
            title="Call Marie Curie",
            dedupe_key="esc",
            invoice_id=inv.id,
        )
    task = _task(services, TaskKind.ESCALATION)
    client = signed_in(app, services, shop.id, "owner@dupont.example")
    closed = client.get("/tasks?state=done").get_data(as_text=True)  # none closed yet
    assert "No closed task yet" in closed and "Nothing to do" not in closed
    assert _post(client, f"/tasks/{task.id}/assign", assignee="  Léa   Martin ").status_code == 302
    assert _post(client, f"/tasks/{task.id}/comment", comment="Left a voicemail").status_code == 302
    empty = _post(client, f"/tasks/{task.id}/comment", comment="   ")
    assert empty.status_code == 400 and "comment: write something" in empty.get_data(as_text=True)
    long = _post(client, f"/tasks/{task.id}/assign", assignee="x" * 300)
    assert long.status_code == 400 and "assignee: at most 255" in long.get_data(as_text=True)
    page = client.get("/tasks").get_data(as_text=True)
    assert "assigned to Léa Martin" in page and "Left a voicemail" in page
    assert _post(client, f"/tasks/{task.id}/close").status_code == 302
    with services.sessions() as s:
        done = s.get(Task, task.id)
        assert done is not None and done.state is TaskState.DONE and done.assignee == "Léa Martin"
        bodies = s.scalars(
            select(TaskComment.body).where(TaskComment.task_id == task.id).order_by(TaskComment.id)
        ).all()
    assert bodies == ["assigned to Léa Martin", "Left a voicemail", "closed"]
    assert 'class="count"' not in client.get("/tasks").get_data(as_text=True)
    assert "Call Marie Curie" in client.get("/tasks?state=done").get_data(as_text=True)


def test_a_bounced_address_fixed_unblocks_the_customer(
    app: Flask, services: Services, shop: Shop
) -> None:
    add_invoices(
        services, shop, [normalized("F-2", email="typo@client.exmaple", due_on=date(2026, 6, 1))]
    )
    dunning_runner(services, transport=OutboxTransport(services.settings.outbox_dir)).tick(
        paris(date(2026, 6, 2))
    )
    with services.sessions() as s:
        msg = s.scalar(select(Message).where(Message.state == MessageState.SENT))
        assert msg is not None
        message_id = msg.id
    bounce = parse_event(
        {
            "sg_event_id": "sg-bounce-1",
            "event": "bounce",
            "email": "typo@client.exmaple",
            "timestamp": 1780400000,
            "relance_message_id": str(message_id),
            "reason": "550 5.1.1 unknown domain",
        }
    )
    with write_session(services.sessions) as s:
        apply_event(s, bounce, paris(date(2026, 6, 2), 11))
    task = _task(services, TaskKind.BOUNCE)
    client = signed_in(app, services, shop.id, "owner@dupont.example")
    page = client.get("/tasks").get_data(as_text=True)
    assert f"/tasks/{task.id}/address" in page and "typo@client.exmaple" in page

    bad = _post(client, f"/tasks/{task.id}/address", email="not an address")
    assert bad.status_code == 400 and "email:" in bad.get_data(as_text=True)
    with services.sessions() as s:
        cust = s.scalar(select(Customer))
        assert cust is not None and cust.email == "typo@client.exmaple"
        assert cust.email_blocked_reason is not None

    ok = _post(client, f"/tasks/{task.id}/address", email="marie@client.example")
    assert ok.status_code == 302
    with services.sessions() as s:
        cust = s.scalar(select(Customer))
        assert cust is not None and cust.email == "marie@client.example"
        assert cust.email_blocked_reason is None
        fixed = s.get(Task, task.id)
        assert fixed is not None and fixed.state is TaskState.DONE
