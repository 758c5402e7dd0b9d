"""A formal notice is dated when it is posted, and its deadline counts from receipt (issue 9,
item 3): the posting delay is a shop setting; recording the posting is an owner action that
makes a new, dated version of the PDF and keeps the one it replaces as it was."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from connector.actions import settings
from connector.actions.letters import LetterError, list_letters, record_posting
from connector.actions.settings import SendingSettings
from connector.cli import cli
from connector.dunning.runner import DunningRunner
from connector.services import Services
from connector.shops import ShopError, create_shop
from connector.store.db import write_session
from connector.store.models import (
    LetterDocument,
    Reminder,
    Shop,
    Task,
    TaskKind,
    TaskState,
    TimelineEntry,
    TimelineKind,
)
from tests.engine.test_letters import pdf_text
from tests.support.builders import add_invoices, normalized, paris

NOTICE_DAY = date(2026, 6, 1)  # D+30 of an invoice due on 2 May: the formal notice's day


def _formal_notice(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> LetterDocument:
    invoice = normalized("F-31", email="d@client.example", due_on=date(2026, 5, 2), b2b=True)
    add_invoices(services, shop, [invoice])
    make_runner().tick(paris(NOTICE_DAY))
    with services.sessions() as s:
        reminder = s.scalar(select(Reminder).where(Reminder.step_key == "formal_notice"))
        assert reminder is not None and reminder.letter_id is not None
        letter = s.get(LetterDocument, reminder.letter_id)
        assert letter is not None
        return letter


def test_the_letter_counts_its_deadline_from_receipt(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    letter = _formal_notice(services, shop, make_runner)
    text = pdf_text(letter.content)
    # Dated the day it is made (its planned posting); 8 days from receipt, 2 days after.
    assert "1er juin 2026" in text
    assert "11 juin 2026" in text and "9 juin 2026" not in text
    with services.sessions() as s:
        reminder = s.scalar(select(Reminder).where(Reminder.step_key == "formal_notice"))
        assert reminder is not None and reminder.deadline_on == date(2026, 6, 11)


def test_recording_the_posting_dates_a_new_version_and_keeps_the_first(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    draft = _formal_notice(services, shop, make_runner)
    settings.update_sending(services, shop.id, SendingSettings(posting_delay="3"), NOTICE_DAY)
    dated = record_posting(
        services,
        shop.id,
        draft.id,
        date(2026, 6, 4),
        " 1A 234 567 8901 2 ",
        now=paris(date(2026, 6, 5)),
    )
    assert dated.id != draft.id and dated.replaces == draft.id
    assert dated.posted_on == date(2026, 6, 4) and dated.tracking == "1A 234 567 8901 2"
    assert dated.deadline_on == date(2026, 6, 15)  # 4 June + 3 days' posting + 8 days
    with services.sessions() as s:
        first = s.get(LetterDocument, draft.id)
        new = s.get(LetterDocument, dated.id)
        assert first is not None and new is not None
        assert first.content == draft.content and first.posted_on is None  # evidence kept
        text = pdf_text(new.content)
        assert "4 juin 2026" in text and "15 juin 2026" in text
        assert "1er juin 2026" not in text and "11 juin 2026" not in text
        reminder = s.scalar(select(Reminder).where(Reminder.step_key == "formal_notice"))
        assert reminder is not None
        assert reminder.letter_id == new.id and reminder.deadline_on == date(2026, 6, 15)
        task = s.scalar(select(Task).where(Task.kind == TaskKind.LETTER_TO_POST))
        assert task is not None and task.letter_id == new.id and task.state is TaskState.DONE
        posted = s.scalars(
            select(TimelineEntry.summary).where(TimelineEntry.kind == TimelineKind.LETTER_POSTED)
        ).all()
        assert posted == [
            "formal_notice letter posted on 2026-06-04 (tracking 1A 234 567 8901 2); "
            "deadline 2026-06-15"
        ]
    assert {row.id for row in list_letters(services, shop.id)} == {draft.id, dated.id}


@pytest.mark.parametrize(
    ("posted_on", "message"),
    [
        (date(2026, 6, 9), "--on 2026-06-09: in the future"),
        (date(2026, 5, 29), "--on 2026-05-29: before the letter was made (2026-06-01)"),
    ],
)
def test_a_posting_date_that_cannot_be_true_is_refused(
    services: Services,
    shop: Shop,
    make_runner: Callable[..., DunningRunner],
    posted_on: date,
    message: str,
) -> None:
    draft = _formal_notice(services, shop, make_runner)
    with pytest.raises(LetterError, match=re.escape(message)):
        record_posting(services, shop.id, draft.id, posted_on, now=paris(date(2026, 6, 5)))
    with services.sessions() as s:
        assert (
            s.scalar(select(LetterDocument).where(LetterDocument.replaces_id.is_not(None))) is None
        )


def test_a_letter_is_posted_once_and_only_in_its_own_shop(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    draft = _formal_notice(services, shop, make_runner)
    with write_session(services.sessions) as s:
        other = create_shop(s, name="Autre", email="autre@shop.example")
        other_id = other.id
    with pytest.raises(LetterError, match=f"no letter {draft.id} in shop {other_id}"):
        record_posting(services, other_id, draft.id, NOTICE_DAY, now=paris(NOTICE_DAY, 15))
    dated = record_posting(services, shop.id, draft.id, NOTICE_DAY, now=paris(NOTICE_DAY, 15))
    with pytest.raises(LetterError, match=f"replaced by letter {dated.id}"):
        record_posting(services, shop.id, draft.id, NOTICE_DAY, now=paris(NOTICE_DAY, 16))
    with pytest.raises(LetterError, match="already recorded as posted on 2026-06-01"):
        record_posting(services, shop.id, dated.id, NOTICE_DAY, now=paris(NOTICE_DAY, 16))


@pytest.mark.parametrize("days", [-1, 16])
def test_the_posting_delay_is_between_0_and_15_days(
    services: Services, shop: Shop, days: int
) -> None:
    with pytest.raises(ShopError, match=r"posting_delay: (cannot be negative|between 0 and 15)"):
        settings.update_sending(
            services, shop.id, SendingSettings(posting_delay=str(days)), NOTICE_DAY
        )
    with services.sessions() as s:
        stored = s.get(Shop, shop.id)
        assert stored is not None and stored.letter_posting_delay_days == 2


IBAN = "Virement : IBAN FR76 3000 6000 0112 3456 7890 189"  # payment messages need a way to pay
CSV = (  # with the postal address a letter needs
    "number,customer_email,customer_name,amount,currency,issued_at,due_at,b2b,locale,"
    "address_line1,postal_code,city,country\n"
    "F-100,lea@client.example,Léa Dubois,150.00,EUR,2026-04-01,2026-05-01,true,fr,"
    "3 avenue Foch,69006,Lyon,FR\n"
)
IDENTITY = ("--legal-name", "Atelier", "--legal-form", "SARL", "--siren", "732829320")
IDENTITY += ("--rcs-city", "Paris", "--signatory-name", "Léa Martin", "--signatory-role", "Gérante")
OFFICE = ("--address", "12 rue des Lilas\n75011 Paris")


def test_cli_sets_the_delay_and_records_a_posting(env: dict[str, str], tmp_path: Path) -> None:
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(cli, list(args), env=env, catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    assert run("db", "upgrade")[0] == 0
    assert run("shop", "create", "--name", "Atelier", "--email", "a@shop.example")[0] == 0
    code, out, err = run(
        "shop", "set", "1", "--posting-delay", "4", "--payment-instructions", IBAN, "--json",
        *IDENTITY, *OFFICE,
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["posting_delay_days"] == 4
    code, _, err = run("shop", "set", "1", "--posting-delay", "40")
    assert code == 1 and "--posting-delay: between 0 and 15 (got 40)" in err
    assert err.strip().count("\n") == 0
    csv_file = tmp_path / "invoices.csv"
    csv_file.write_text(CSV)
    assert run("invoices", "import", str(csv_file), "--shop", "1")[0] == 0
    assert run("tick", "--now", "2026-06-02T10:00:00+02:00")[0] == 0
    (letter,) = json.loads(run("letters", "list", "--json")[1])
    code, out, err = run(
        "letters", "posted", str(letter["id"]), "--on", "2026-06-02", "--tracking", "RR1", "--json"
    )
    assert code == 0, err
    dated = json.loads(out)
    assert dated["posted_on"] == "2026-06-02" and dated["tracking"] == "RR1"
    assert dated["replaces"] == letter["id"]
    assert dated["deadline"] == "2026-06-14"  # 2 June + 4 days' posting + 8 days
    code, _, err = run("letters", "posted", str(letter["id"]), "--on", "2026-06-02")
    assert code == 1 and f"replaced by letter {dated['id']}" in err
    code, _, err = run("letters", "posted", str(dated["id"]), "--on", "2 June")
    assert code == 2 and "--on" in err
