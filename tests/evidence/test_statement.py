"""A customer's statement of account: their open invoices and the total, as a page, a PDF and
an email sent through the mail transport, kept as a message and named on each invoice's
timeline; another shop's customer is not found."""

from __future__ import annotations

import json
import threading
from datetime import date

from flask import Flask
from sqlalchemy import select

from connector.actions.timeline import TimelineKind, invoice_timeline
from connector.platform import InvoiceStatus
from connector.services import Services
from connector.shops import create_shop
from connector.store.db import write_session
from connector.store.models import Customer, Invoice, Message, MessageKind, MessageState, Shop
from tests.engine.conftest import outbox_messages
from tests.engine.test_letters import pdf_text
from tests.support.builders import add_invoices, normalized
from tests.support.owner import signed_in
from tests.support.pages import csrf_token


def _seed(services: Services, shop: Shop) -> int:
    add_invoices(
        services,
        shop,
        [
            normalized(
                "F-10",
                email="lea@client.example",
                name="Léa Dubois",
                amount="120.00",
                due_on=date(2026, 10, 1),
                customer_id="lea",
            ),
            normalized(
                "F-11",
                email="lea@client.example",
                name="Léa Dubois",
                amount="80.50",
                due_on=date(2026, 11, 15),
                customer_id="lea",
            ),
            normalized(
                "F-12",
                email="lea@client.example",
                name="Léa Dubois",
                amount="999.00",
                due_on=date(2026, 11, 1),
                customer_id="lea",
                status=InvoiceStatus.PAID,
            ),
            normalized("F-20", email="other@client.example", due_on=date(2026, 10, 1)),
        ],
    )
    with services.sessions() as s:
        cid = s.scalar(select(Customer.id).where(Customer.external_id == "lea"))
        assert cid is not None
        return cid


def test_the_statement_lists_open_invoices_and_is_emailed_once_per_request(
    app: Flask, services: Services, shop: Shop
) -> None:
    customer_id = _seed(services, shop)
    client = signed_in(app, services, shop.id, "owner@dupont.example")
    page = client.get(f"/customers/{customer_id}/statement").get_data(as_text=True)
    assert "F-10" in page and "F-11" in page and "F-12" not in page and "F-20" not in page
    assert "200,50" in page  # 120.00 + 80.50

    pdf = client.get(f"/customers/{customer_id}/statement.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = pdf_text(pdf.data)
    assert "F-10" in text and "F-11" in text and "Total restant dû" in text and "200,50" in text

    resp = client.post(f"/customers/{customer_id}/statement", data={"csrf_token": csrf_token(page)})
    assert resp.status_code == 302
    sent = outbox_messages(services)
    assert len(sent) == 1
    mail = sent[0]
    assert mail["to"] == "lea@client.example" or "lea@client.example" in json.dumps(mail)
    assert "Relevé de compte" in str(mail["subject"])
    assert "facture F-10" in str(mail["text"]) and "facture F-11" in str(mail["text"])
    assert "F-12" not in str(mail["text"]) and "Total restant dû : 200,50" in str(mail["text"])
    with services.sessions() as s:
        msg = s.scalar(select(Message).where(Message.kind == MessageKind.STATEMENT))
        assert msg is not None and msg.state is MessageState.SENT
        assert msg.recipient == "lea@client.example" and msg.body_text == mail["text"]
        for number in ("F-10", "F-11", "F-12"):
            inv = s.scalar(select(Invoice).where(Invoice.number == number))
            assert inv is not None
            named = [
                e
                for e in invoice_timeline(s, shop.id, inv.id)
                if e.kind is TimelineKind.MESSAGE and e.detail.get("event") == "statement_sent"
            ]
            assert len(named) == (0 if number == "F-12" else 1), number
            if named:
                assert named[0].detail["message_id"] == msg.id
                assert "owner@dupont.example" in named[0].title


def test_no_open_invoice_means_nothing_sent_and_another_shops_customer_is_404(
    app: Flask, services: Services, shop: Shop
) -> None:
    customer_id = _seed(services, shop)
    with write_session(services.sessions) as s:
        for inv in s.scalars(select(Invoice).where(Invoice.customer_id == customer_id)):
            inv.status, inv.amount_due_minor = InvoiceStatus.PAID, 0
        other = create_shop(s, name="Brasserie Lenoir", email="compta@lenoir.example").id
    client = signed_in(app, services, shop.id, "owner@dupont.example")
    page = client.get(f"/customers/{customer_id}/statement").get_data(as_text=True)
    resp = client.post(f"/customers/{customer_id}/statement", data={"csrf_token": csrf_token(page)})
    assert resp.status_code == 400
    assert "no open invoice: nothing to send" in resp.get_data(as_text=True)
    assert outbox_messages(services) == []
    stranger = signed_in(app, services, other, "b@lenoir.example")
    for url in (f"/customers/{customer_id}/statement", f"/customers/{customer_id}/statement.pdf"):
        assert stranger.get(url).status_code == 404


def test_two_requests_at_once_send_one_statement(
    app: Flask, services: Services, shop: Shop
) -> None:
    """Two clicks (two requests racing) send one statement per customer per day: the second
    is told so, and nothing else is written."""
    customer_id = _seed(services, shop)
    url = f"/customers/{customer_id}/statement"
    clients = [signed_in(app, services, shop.id, f"owner{i}@dupont.example") for i in range(2)]
    tokens = [csrf_token(c.get(url).get_data(as_text=True)) for c in clients]
    start = threading.Barrier(2)
    codes: list[int] = []
    pages: list[str] = []

    def click(i: int) -> None:
        start.wait()
        resp = clients[i].post(url, data={"csrf_token": tokens[i]})
        codes.append(resp.status_code)
        pages.append(resp.get_data(as_text=True))

    threads = [threading.Thread(target=click, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [302, 400]
    assert any("already sent to this customer today" in p for p in pages)
    assert len(outbox_messages(services)) == 1
    with services.sessions() as s:
        rows = s.scalars(select(Message).where(Message.kind == MessageKind.STATEMENT)).all()
        assert len(rows) == 1 and rows[0].state is MessageState.SENT
