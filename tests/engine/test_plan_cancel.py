"""Cancelling a payment plan through the engine: the reminder a tick is sending for it is
cancelled in the owner's transaction (never sent, never claimed as sent), the invoice goes back
to its sequence from today with no pile-up (only the latest due step goes out), and the
timeline says who cancelled it. And a reminder under a plan asks for the instalment, not for
the whole invoice. SQLite and PostgreSQL; mail through the outbox or the real SendGrid client
to a local SendGrid."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import date

import pytest
from sqlalchemy import func, select, update

from connector.actions import invoices as actions
from connector.actions.dossier import dossier
from connector.actions.errors import ActionError
from connector.actions.invoice_base import ActionResult
from connector.actions.schedule import next_step
from connector.actions.timeline import TimelineKind, invoice_timeline
from connector.dunning.runner import DunningRunner
from connector.mail.base import MailTransport
from connector.mail.sendgrid import SendGridTransport
from connector.runners import dunning_runner
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import (
    Instalment,
    Invoice,
    OwnerAction,
    PaymentSource,
    ReminderState,
    Shop,
)
from tests.engine.conftest import on_a_plan, outbox_messages, steps
from tests.engine.test_exactly_once import NOW, seed
from tests.engine.test_letters import pdf_text
from tests.support.builders import add_invoices, invoice_by_number, normalized, paris
from tests.support.fake_sendgrid import FakeSendGrid
from tests.support.statements import counting

MESSAGES = 100

DUE = date(2026, 6, 10)  # a Wednesday; reminder_1 on the 11th, reminder_2 the 17th, _3 the 24th
OWNER = "claire@dupont.example"


def test_cancelling_a_plan_goes_back_to_the_sequence_from_today_without_a_pile_up(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    runner = make_runner()
    inv = on_a_plan(services, shop, runner)
    runner.tick(paris(date(2026, 6, 18), 10))  # reminder_2 (D+7) waits for the plan
    assert steps(services, "F-1") == {
        "courtesy": ReminderState.SKIPPED,
        "reminder_1": ReminderState.SENT,
    }
    # Friday 26 June: the customer asks to stop the plan. reminder_2 (17th) and reminder_3
    # (24th) of the invoice's own schedule have both passed.
    now = paris(date(2026, 6, 26), 9)
    done = actions.cancel_plan(
        services, shop.id, inv.id, actor=OWNER, reason="the customer asked to stop", now=now
    )
    assert done.action is OwnerAction.PLAN_CANCEL
    assert done.detail["reason"] == "the customer asked to stop"
    assert [i["due_on"] for i in done.detail["instalments"]] == [
        "2026-07-01",
        "2026-08-03",
        "2026-09-01",
    ]
    with services.sessions() as s:
        fresh = s.get(Invoice, inv.id)
        assert fresh is not None
        assert fresh.plan_due_at is None and fresh.next_action_at == now  # planned again now
        assert s.scalar(select(func.count()).select_from(Instalment)) == 0
        planned = next_step(s, shop, fresh, fresh.customer, now)
        timeline = invoice_timeline(s, shop.id, inv.id)
    # The next reminder: the latest step due on the invoice's own schedule, today (not before).
    assert (planned.key, planned.on) == ("reminder_3", date(2026, 6, 26))
    assert planned.note == ""
    (cancelled,) = [e for e in timeline if e.detail.get("action") == "plan_cancel"]
    assert cancelled.kind is TimelineKind.PLAN and cancelled.actor == OWNER
    assert "payment plan cancelled" in cancelled.title

    runner.tick(paris(date(2026, 6, 26), 10))
    after = steps(services, "F-1")
    assert after["reminder_2"] is ReminderState.SKIPPED  # passed: never a pile-up
    assert after["reminder_3"] is ReminderState.SENT
    sent = outbox_messages(services)
    assert [m["step"] for m in sent] == ["reminder_1", "reminder_3"]
    assert "120,00" in str(sent[-1]["text"]) and "échéancier" not in str(sent[-1]["text"])


def test_cancelling_a_plan_after_instalment_reminders_resumes_where_the_invoice_stood(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    """reminder_2 went out for the plan's first instalment (24 June + 7 = 1 July, the invoice's
    own D+21). Cancelled on 2 July, the invoice is back at the step its own due date has reached
    once reminder_2's deadline has passed (7 July = D+27): the final warning (D+21), reminder_3
    (D+14) passed over and recorded as skipped — one message, never the formal notice (D+30)
    it was not led to. Read as a day, 1 July put reminder_3 and the final warning behind the
    invoice: the next step was the formal notice, on 10 July."""
    runner = make_runner()
    add_invoices(services, shop, [normalized("F-1", email="ada@client.example", due_on=DUE)])
    runner.tick(paris(date(2026, 6, 11), 10))  # reminder_1 sent
    inv = invoice_by_number(services, "F-1")
    actions.set_plan(
        services,
        shop.id,
        inv.id,
        [
            actions.InstalmentSpec(date(2026, 6, 24), "60.00"),
            actions.InstalmentSpec(date(2026, 7, 24), "60.00"),
        ],
        actor=OWNER,
        now=paris(date(2026, 6, 11), 16),
    )
    runner.tick(paris(date(2026, 7, 1), 10))  # reminder_2 of the first instalment
    assert [m["step"] for m in outbox_messages(services)] == ["reminder_1", "reminder_2"]
    actions.cancel_plan(services, shop.id, inv.id, actor=OWNER, now=paris(date(2026, 7, 2), 9))

    for day in (3, 6):  # before reminder_2's deadline (6 July) has passed: nothing
        runner.tick(paris(date(2026, 7, day), 10))
    assert [m["step"] for m in outbox_messages(services)] == ["reminder_1", "reminder_2"]
    now = paris(date(2026, 7, 7), 10)
    with services.sessions() as s:
        fresh = s.get(Invoice, inv.id)
        assert fresh is not None
        planned = next_step(s, shop, fresh, fresh.customer, now)
    assert (planned.key, planned.on) == ("final_warning", date(2026, 7, 7))  # the page agrees

    runner.tick(now)
    after = steps(services, "F-1")
    assert after["reminder_3"] is ReminderState.SKIPPED
    assert after["final_warning"] is ReminderState.SENT
    assert "formal_notice" not in after
    assert [m["step"] for m in outbox_messages(services)] == [
        "reminder_1",
        "reminder_2",
        "final_warning",
    ]


def test_cancelling_a_plan_while_a_tick_is_sending_its_reminder_sends_nothing(
    services: Services, shop: Shop, sendgrid: tuple[FakeSendGrid, MailTransport]
) -> None:
    """The tick has claimed reminder_2 of July's instalment and is about to send it; the owner
    cancels the plan right then (another connection, another thread). The pending reminder is
    cancelled in the owner's transaction: the mail API is never called, and nothing says it
    went out."""
    fake, transport = sendgrid
    committed: list[ActionResult] = []
    invoice_id: list[int] = []

    def cancel() -> None:
        committed.append(
            actions.cancel_plan(
                services, shop.id, invoice_id[0], actor=OWNER, now=paris(date(2026, 7, 8), 10)
            )
        )

    def owner_cancels_now(connection_id: int, external_id: str) -> None:
        worker = threading.Thread(target=cancel)
        worker.start()
        worker.join()

    quiet = dunning_runner(services, transport=transport)
    invoice_id.append(on_a_plan(services, shop, quiet).id)
    assert len(fake.accepted) == 1  # reminder_1
    runner = dunning_runner(services, transport=transport, status_checker=owner_cancels_now)
    runner.tick(paris(date(2026, 7, 8), 10))  # D+7 of July's instalment: reminder_2

    assert committed, "the plan was cancelled during the tick"
    assert len(fake.accepted) == 1  # nothing more reached the mail API
    assert steps(services, "F-1")["reminder_2"] is ReminderState.CANCELLED
    assert committed[0].detail["reminders_cancelled"] == 1
    with services.sessions() as s:
        timeline = invoice_timeline(s, shop.id, invoice_id[0])
    kinds = [(e.kind, e.actor) for e in timeline]
    assert (TimelineKind.PLAN, OWNER) in kinds  # agreed, then cancelled, both by the owner
    (stopped,) = [e for e in timeline if e.kind is TimelineKind.CANCELLED]
    assert stopped.detail["step"] == "reminder_2"


def test_only_a_plan_can_be_cancelled_and_nothing_is_written_otherwise(
    services: Services, shop: Shop
) -> None:
    add_invoices(services, shop, [normalized("F-1", email="ada@client.example", due_on=DUE)])
    inv = invoice_by_number(services, "F-1")
    with pytest.raises(ActionError, match="has no payment plan"):
        actions.cancel_plan(services, shop.id, inv.id, actor=OWNER, now=paris(DUE, 10))
    with pytest.raises(ActionError, match="actor"):
        actions.cancel_plan(services, shop.id, inv.id, actor=" ", now=paris(DUE, 10))
    with services.sessions() as s:
        assert invoice_timeline(s, shop.id, inv.id)[-1].kind is not TimelineKind.PLAN


WORDING = {
    "fr": (
        "échéance 2 sur 3 : 40,00 € au 3 août 2026",
        "dont l'échéance de 40,00 € était due le 3 août 2026",
        "solde restant dû sur la facture : 80,00 €",
        "échéance : 10 juin 2026",
        "120,00",
    ),
    "en": (
        "instalment 2 of 3: €40.00 due on 3 August 2026",
        "whose instalment of €40.00 was due on 3 August 2026",
        "balance still due on the invoice: €80.00",
        "due date: 10 June 2026",
        "120.00",
    ),
}


@pytest.mark.parametrize("locale", sorted(WORDING))
def test_a_reminder_under_a_plan_asks_for_the_instalment_not_the_invoice(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner], locale: str
) -> None:
    """July's instalment paid, August's missed: reminder_2 states August's 40 € and its day,
    and the 80 € still due on the invoice — never the invoice's 120 € total nor its due date,
    in the customer's language."""
    runner = make_runner()
    inv = on_a_plan(services, shop, runner, locale)
    actions.record_payment(
        services,
        shop.id,
        inv.id,
        source=PaymentSource.BANK_TRANSFER,
        amount="40.00",
        actor=OWNER,
        now=paris(date(2026, 7, 2), 11),
    )
    runner.tick(paris(date(2026, 8, 10), 10))  # D+7 of August's instalment
    sent = outbox_messages(services)
    assert [m["step"] for m in sent] == ["reminder_1", "reminder_2"]
    text = " ".join(str(sent[-1]["text"]).replace("\u202f", " ").replace("\xa0", " ").split())
    html = str(sent[-1]["html"])
    line, intro, balance, invoice_due, total = WORDING[locale]
    assert line in text and intro in text and balance in text
    assert invoice_due not in text and total not in text
    assert "3 août 2026" in html if locale == "fr" else "3 August 2026" in html
    assert total not in html


def test_instalment_reminders_cost_one_statement_per_message_more(services: Services) -> None:
    """100 customers, each invoice on a plan whose one instalment fell due with the invoice:
    the plans are read with the batch's other facts (one query), so the whole tick keeps the
    budget of a tick without plans: 8 statements and 0.2 commits per message (read after the
    batch's session had closed, the instalment changed the context under lock and every
    message went the one-by-one way: 35 statements per message)."""
    seed(services, MESSAGES)
    with write_session(services.sessions) as s:
        rows = s.execute(select(Invoice.id, Invoice.shop_id, Invoice.due_at)).all()
        for invoice_id, shop_id, due_at in rows:
            s.add(
                Instalment(
                    shop_id=shop_id,
                    invoice_id=invoice_id,
                    position=1,
                    due_at=due_at,
                    amount_minor=12000,
                    currency="EUR",
                    paid_minor=0,
                    created_at=due_at,
                )
            )
        s.execute(update(Invoice).values(plan_due_at=Invoice.due_at))
    with FakeSendGrid() as fake:
        runner = dunning_runner(services, transport=SendGridTransport("SG.t", fake.url))
        with counting(services.engine) as counted:
            report = runner.tick(NOW)
        bodies = [str(m.body) for m in fake.accepted]
    assert report.counts() == {"sent": MESSAGES, "skipped": MESSAGES}
    assert len(bodies) == MESSAGES and all("échéance 1 sur 1" in b for b in bodies)
    statements, commits = counted.per(MESSAGES)
    top = Counter(counted.texts).most_common(8)
    assert statements <= 8, (statements, top)
    assert commits <= 0.2, (commits, top)


def test_a_french_dossier_says_the_cancelled_plan_in_french(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    """The cancel writes a coded sentence: the French dossier says it in French, like the
    plan it ends (not "payment plan cancelled … back to the sequence")."""
    shop.locale = "fr"
    with write_session(services.sessions) as s:
        s.merge(shop)
    inv = on_a_plan(services, shop, make_runner())
    now = paris(date(2026, 6, 26), 9)
    actions.cancel_plan(services, shop.id, inv.id, actor=OWNER, now=now)
    actions.set_plan(
        services,
        shop.id,
        inv.id,
        [actions.InstalmentSpec(date(2026, 7, 3), "120.00")],
        actor=OWNER,
        now=now,
    )
    actions.cancel_plan(services, shop.id, inv.id, actor=OWNER, reason="à sa demande", now=now)
    text = " ".join(
        pdf_text(dossier(services, shop.id, invoice_id=inv.id).content)
        .replace("\u202f", " ")
        .replace("\xa0", " ")
        .split()
    )
    assert "échéancier en 3 versements" in text, text
    assert (
        "échéancier annulé (versements impayés : 3 sur 3) : retour à la séquence de relances"
        in text
    ), text
    assert "retour à la séquence de relances (à sa demande)" in text
    assert "payment plan" not in text and "back to the sequence" not in text
