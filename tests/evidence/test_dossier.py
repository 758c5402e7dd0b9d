"""The evidence dossier of an invoice chased to its formal notice, then paid by a webhook: the
PDF tells it in order, the zip carries the raw messages and the webhook body as stored, and the
injonction pack computes the claim to a date as a lawyer would by hand."""

from __future__ import annotations

import email
import email.policy
import io
import time
import zipfile
from datetime import date, timedelta
from decimal import Decimal

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from connector.actions.dossier import NoFormalNotice, NotInShop, dossier, injonction
from connector.actions.letters import record_posting
from connector.domain.money import Money
from connector.domain.phrases import step_name
from connector.mail.outbox import OutboxTransport
from connector.platform import InvoiceStatus
from connector.runners import dunning_runner
from connector.services import Services
from connector.shops import create_shop
from connector.store.db import write_session
from connector.store.models import Invoice, LetterDocument, Reminder, ReminderState, Shop
from tests.engine.test_letters import pdf_text
from tests.support.builders import normalized, paris
from tests.support.webhooks import (
    seed_invoices,
    stripe_connection,
    stripe_headers,
    stripe_invoice_event,
)

DUE = date(2026, 5, 2)


def _chase_to_formal_notice(
    services: Services,
    shop: Shop,
    amount: str = "108.00",
    currency: str = "USD",
    *,
    post: bool = True,
) -> int:
    """A B2B Stripe invoice due on 2 May, ticked every morning until its formal notice letter
    was made; the letter recorded as posted with a tracking number unless ``post`` is False.
    Returns the connection id."""
    conn = stripe_connection(services, shop.id)
    item = normalized(
        "in_D1", email="dora@client.example", due_on=DUE, b2b=True, amount=amount, currency=currency
    )
    seed_invoices(services, shop.id, conn, [item])
    runner = dunning_runner(services, transport=OutboxTransport(services.settings.outbox_dir))
    day = DUE - timedelta(days=3)
    while day < date(2026, 8, 1):
        runner.tick(paris(day))
        with services.sessions() as s:
            notice = s.scalar(
                select(Reminder).where(
                    Reminder.step_key == "formal_notice", Reminder.state == ReminderState.SENT
                )
            )
        if notice is not None:
            break
        day += timedelta(days=1)
    assert notice is not None and notice.letter_id is not None, "no formal notice went out"
    with services.sessions() as s:
        letter = s.get(LetterDocument, notice.letter_id)
        assert letter is not None
        made = letter.created_at
    if not post:
        return conn
    record_posting(
        services, shop.id, notice.letter_id, paris(day).date(), "1A23456789012", now=made
    )
    return conn


def _invoice(services: Services) -> Invoice:
    with services.sessions() as s:
        inv = s.scalar(select(Invoice).where(Invoice.number == "in_D1"))
        assert inv is not None
        return inv


def test_the_dossier_tells_messages_letter_and_payment_in_order(
    services: Services, shop: Shop, client: FlaskClient
) -> None:
    shop.locale = "en"  # an English shop's dossier (a French one: test_dossier_language)
    with write_session(services.sessions) as s:
        s.merge(shop)
    conn = _chase_to_formal_notice(services, shop)
    body = stripe_invoice_event("evt_paid_D1", "in_D1", created=int(time.time()))
    resp = client.post(f"/webhooks/stripe/{conn}", data=body, headers=stripe_headers(body))
    assert resp.status_code == 200
    inv = _invoice(services)
    assert inv.status is InvoiceStatus.PAID

    pdf = dossier(services, shop.id, invoice_id=inv.id)
    assert pdf.content.startswith(b"%PDF-") and pdf.filename == "dossier-in_D1.pdf"
    text = pdf_text(pdf.content)
    with services.sessions() as s:
        sent = s.scalars(
            select(Reminder)
            .where(Reminder.invoice_id == inv.id, Reminder.state == ReminderState.SENT)
            .order_by(Reminder.sent_at)
        ).all()
    assert [r.step_key for r in sent][-1] == "formal_notice" and len(sent) >= 3
    chronology = text[text.index("Chronology") : text.index("Messages as sent")]
    positions = []
    for rem in sent:
        assert rem.sent_at is not None
        stamp = rem.sent_at.astimezone(paris(DUE).tzinfo).strftime("%Y-%m-%d")
        name = step_name(rem.step_key, "en")  # an English dossier names the step
        title = (
            f"{name} letter made"
            if rem.channel.value == "letter"
            else f"{name} sent to {rem.recipient}"
        )
        line = next(
            (ln for ln in chronology.splitlines() if stamp in ln and title in ln),
            None,
        )
        assert line is not None, f"{rem.step_key} of {stamp} missing from the chronology"
        positions.append(chronology.index(line))
        if rem.provider_message_id:
            assert f"provider id: {rem.provider_message_id}" in chronology
    posted = chronology.index("letter posted on")
    paid = chronology.index("payment received (webhook)")
    amount = " ".join(Money.of("108.00", "USD").format("en_US").split())
    assert f"amount: {amount}" in " ".join(chronology[paid:].split())
    webhook = chronology.index("Stripe webhook invoice.paid: applied")
    assert positions == sorted(positions) and positions[-1] < posted < webhook < paid
    assert "tracking number: 1A23456789012" in chronology
    assert "Evidence dossier" in text

    bundle = dossier(services, shop.id, invoice_id=inv.id, as_zip=True)
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as zf:
        names = zf.namelist()
        assert "dossier-in_D1.pdf" in names
        emls = sorted(n for n in names if n.startswith("messages/") and n.endswith(".eml"))
        emailed = [r for r in sent if r.channel.value == "email"]
        assert len(emls) == len(emailed) >= 2
        first = email.message_from_bytes(zf.read(emls[0]), policy=email.policy.default)
        assert first["Subject"] == emailed[0].subject
        assert first["To"] == emailed[0].recipient
        assert first["X-Provider-Message-Id"] == emailed[0].provider_message_id
        text_part = first.get_body(("plain",))
        assert text_part is not None and text_part.get_content().strip() == (
            (emailed[0].body_text or "").strip()
        )
        hooks = [n for n in names if n.startswith("webhooks/")]
        assert len(hooks) == 1 and zf.read(hooks[0]) == body
        assert any(n.startswith("letters/") for n in names)


def test_the_injonction_pack_computes_interest_and_indemnity_to_a_date(
    services: Services, shop: Shop
) -> None:
    _chase_to_formal_notice(services, shop, amount="1200.00", currency="EUR")
    inv = _invoice(services)
    with pytest.raises(NoFormalNotice):  # a second invoice without a formal notice
        seed = normalized("in_D2", email="e@client.example", due_on=DUE, b2b=True)
        from tests.support.builders import add_invoices

        add_invoices(services, shop, [seed])
        other = services.sessions().scalar(select(Invoice.id).where(Invoice.number == "in_D2"))
        injonction(services, shop.id, invoice_id=other, on=date(2026, 7, 15))
    # 200.00 paid on account: 1,000.00 still due.
    with write_session(services.sessions) as s:
        from connector.ledger import set_state
        from connector.store.models import PaymentSource

        row = s.get(Invoice, inv.id)
        assert row is not None
        set_state(
            s,
            row,
            status=InvoiceStatus.PARTIALLY_PAID,
            amount_due_minor=100000,
            now=paris(date(2026, 7, 2)),
            source=PaymentSource.MANUAL,
            payment_external_id="virement-1",
        )
    pack, claim = injonction(services, shop.id, invoice_id=inv.id, on=date(2026, 7, 15))
    # By hand: 1,000.00 x 12.15 % (ECB 2.15 + 10) — 3 May to 30 June, 59 days: 19.64;
    # 1 to 15 July, 15 days: 4.99; 24.63 of interest and the 40.00 indemnity: 1,064.63.
    assert claim.principal == Money.of("1000.00", "EUR")
    assert [(ln.days, ln.amount.amount) for ln in claim.interest_lines] == [
        (59, Decimal("19.64")),
        (15, Decimal("4.99")),
    ]
    assert claim.interest == Money.of("24.63", "EUR")
    assert claim.indemnity == Money.of("40.00", "EUR")
    assert claim.total == Money.of("1064.63", "EUR")
    text = pdf_text(pack.content)
    for expected in (
        "1. Le demandeur",
        "2. Le défendeur",
        "3. La somme réclamée",
        "4. Le fondement",
        "5. Pièces jointes",
    ):
        assert expected in text
    order = [text.index(h) for h in ("1. Le demandeur", "2. Le défendeur", "3. La somme")]
    assert order == sorted(order)
    assert "59 jours au taux de 12,15 %" in text
    assert "Mise en demeure établie par lettre le" in text and "Courriel « " in text
    assert "Paiement partiel reçu le 2 juillet 2026 : 200,00" in text
    assert "Lettre postée le" in text and "n° de suivi 1A23456789012" in text


def test_another_shops_invoice_is_not_found(services: Services, shop: Shop) -> None:
    _chase_to_formal_notice(services, shop)
    inv = _invoice(services)
    with write_session(services.sessions) as s:
        other = create_shop(s, name="Brasserie Lenoir", email="compta@lenoir.example").id
    with pytest.raises(NotInShop):
        dossier(services, other, invoice_id=inv.id)
    with pytest.raises(NotInShop):
        injonction(services, other, invoice_id=inv.id, on=date(2026, 7, 15))
