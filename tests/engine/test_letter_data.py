"""No letter without what a posted letter needs: the creditor's identification and the
debtor's postal address. Missing either, no PDF is made, the email part still goes, and a
task says exactly what to add."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from sqlalchemy import select

from connector.dunning.runner import DunningRunner
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import (
    LetterDocument,
    Reminder,
    ReminderState,
    Shop,
    Task,
    TaskKind,
)
from tests.engine.conftest import outbox_messages
from tests.engine.test_letters import pdf_text
from tests.support.builders import add_invoices, invoice_by_number, normalized, paris

DUE = date(2026, 6, 10)  # Wednesday
FINAL_WARNING_DAY = DUE + timedelta(days=22)  # Thursday 2 July
# The final warning of 2 July announced 10 July: the notice waits for the next business day.
FORMAL_NOTICE_DAY = DUE + timedelta(days=33)  # Monday 13 July


def reminder_of(services: Services, number: str, key: str) -> Reminder:
    inv = invoice_by_number(services, number)
    with services.sessions() as s:
        found = s.scalar(
            select(Reminder).where(Reminder.invoice_id == inv.id, Reminder.step_key == key)
        )
        assert found is not None
        return found


def letter_tasks(services: Services) -> list[str]:
    with services.sessions() as s:
        return list(
            s.scalars(
                select(Task.title)
                .where(Task.kind == TaskKind.LETTER_DATA_MISSING)
                .order_by(Task.id)
            )
        )


def letters(services: Services) -> list[LetterDocument]:
    with services.sessions() as s:
        return list(s.scalars(select(LetterDocument).order_by(LetterDocument.id)))


def unidentify(services: Services, shop: Shop) -> None:
    with write_session(services.sessions) as s:
        merged = s.merge(shop)
        merged.siren = None
        merged.registered_office = None


def test_without_identification_or_address_no_letter_is_made_and_a_task_says_what(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    add_invoices(
        services,
        shop,
        [
            normalized(
                "F-1", email="marie@client.example", due_on=DUE, b2b=True, postal_address=None
            )
        ],
    )
    unidentify(services, shop)  # after add_invoices, whose merge would bring them back
    runner = make_runner()
    runner.tick(paris(FINAL_WARNING_DAY))

    warning = reminder_of(services, "F-1", "final_warning")
    assert warning.state is ReminderState.SENT  # the email part still goes
    assert len(outbox_messages(services)) == 1
    assert warning.letter_id is None and letters(services) == []
    expected = (
        "Invoice F-1: no letter made — add your SIREN and registered office; "
        "add Marie Curie's postal address"
    )
    assert letter_tasks(services) == [expected]

    runner.tick(paris(FORMAL_NOTICE_DAY))
    notice = reminder_of(services, "F-1", "formal_notice")
    assert notice.state is ReminderState.FAILED  # a letter step without its letter is not sent
    assert notice.sent_at is None and notice.reason == expected
    assert letters(services) == []
    assert letter_tasks(services) == [expected, expected]


def test_with_both_the_letter_carries_both_parties_and_the_posting_date(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    add_invoices(
        services, shop, [normalized("F-2", email="marie@client.example", due_on=DUE, b2b=True)]
    )
    make_runner().tick(paris(FINAL_WARNING_DAY))
    [document] = letters(services)
    text = pdf_text(document.content)
    assert "Atelier Dupont SARL" in text and "RCS Paris 732 829 320" in text
    assert "12 rue des Lilas" in text and "75011 Paris" in text
    assert "Marie Curie" in text and "3 avenue Foch" in text and "69006 Lyon" in text
    assert "Paris, le 2 juillet 2026" in text
    assert "Objet : Dernier avertissement avant mise en demeure — facture F-2" in text
    assert letter_tasks(services) == []


def test_an_english_letter_to_a_customer_in_france_carries_its_french_version(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    add_invoices(
        services,
        shop,
        [normalized("F-3", email="jo@client.example", due_on=DUE, b2b=True, locale="en")],
    )
    make_runner().tick(paris(FINAL_WARNING_DAY))
    [document] = letters(services)
    text = pdf_text(document.content)
    assert "Subject: Final warning before formal notice — invoice F-3" in text
    assert "VERSION FRANÇAISE" in text
    assert "Objet : Dernier avertissement avant mise en demeure — facture F-3" in text
