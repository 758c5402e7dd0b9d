"""A step's meaning lives in its Step row (channel, penalties, new deadline, letter), never in
lists of step names; and no channel is ever recorded as "sent" when nothing went out."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date, timedelta

import pytest
from babel.dates import format_date
from sqlalchemy import select

from connector.dunning.rendering import (
    ReminderRenderer,
    TemplateError,
    sample_context,
    sample_spec,
)
from connector.dunning.runner import DunningRunner
from connector.dunning.sequence import (
    CHANNELS_WITH_TRANSPORT,
    DEFAULT_STEPS,
    StepError,
    check_step,
    ensure_default_sequence,
    sequences_step_specs,
    step_specs,
)
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import (
    Channel,
    Reminder,
    ReminderState,
    Sequence,
    Shop,
    Step,
    StepTemplate,
    Task,
    TaskKind,
)
from tests.engine.conftest import outbox_messages
from tests.support.builders import add_invoices, invoice_by_number, normalized, paris

SHIPPED = ReminderRenderer()
SEQUENCE = tuple(key for key, *_ in DEFAULT_STEPS)
DUE = date(2026, 6, 10)  # Wednesday
FIRST_REMINDER_DAY = date(2026, 6, 11)
SECOND_REMINDER_DAY = date(2026, 6, 17)


def edit_step(services: Services, shop: Shop, key: str, **changes: object) -> None:
    """Change a stored step row directly, as older data or a future editor could leave it."""
    with write_session(services.sessions) as s:
        merged = s.merge(shop)
        sequence = ensure_default_sequence(s, merged)
        [step] = [row for row in sequence.steps if row.key == key]
        for name, value in changes.items():
            setattr(step, name, value)


def reminder_of(services: Services, number: str, key: str) -> Reminder:
    inv = invoice_by_number(services, number)
    with services.sessions() as s:
        found = s.scalar(
            select(Reminder).where(Reminder.invoice_id == inv.id, Reminder.step_key == key)
        )
        assert found is not None
        return found


def tasks(services: Services) -> list[Task]:
    with services.sessions() as s:
        return list(s.scalars(select(Task).order_by(Task.id)))


# ---------------------------------------------------------------- channels


@pytest.mark.parametrize("channel", list(Channel))
def test_a_step_is_saved_only_with_a_channel_the_engine_can_carry(channel: Channel) -> None:
    step = Step(key="nudge", position=0, offset_days=3, channel=channel)
    if channel in CHANNELS_WITH_TRANSPORT:
        check_step(step)
    else:
        with pytest.raises(StepError, match=rf"step 'nudge': channel '{channel.value}'"):
            check_step(step)


def test_sms_has_no_transport_so_it_is_refused() -> None:
    assert Channel.SMS not in CHANNELS_WITH_TRANSPORT
    step = Step(key="reminder_2", position=2, offset_days=7, channel=Channel.SMS)
    with pytest.raises(StepError) as refused:
        check_step(step)
    assert str(refused.value).startswith("step 'reminder_2': channel 'sms' has no transport")


@pytest.mark.parametrize("channel", [Channel.SMS, Channel.TASK, Channel.LETTER])
def test_a_step_without_email_never_records_a_false_sent(
    services: Services,
    shop: Shop,
    make_runner: Callable[..., DunningRunner],
    channel: Channel,
) -> None:
    # reminder_1 stored with this channel (and no letter flag), bypassing check_step.
    edit_step(services, shop, "reminder_1", channel=channel, sends_letter=False)
    add_invoices(
        services, shop, [normalized("F-9", email="zoe@client.example", due_on=DUE, b2b=True)]
    )
    report = make_runner().tick(paris(FIRST_REMINDER_DAY))

    rem = reminder_of(services, "F-9", "reminder_1")
    assert outbox_messages(services) == []  # no email for a step whose channel is not email
    [outcome] = [o for o in report.outcomes if o.step == "reminder_1"]
    opened = [(t.kind, t.invoice_id) for t in tasks(services)]
    inv = invoice_by_number(services, "F-9")
    if channel is Channel.SMS:
        assert rem.state is ReminderState.FAILED
        assert rem.reason == "step 'reminder_1': channel 'sms' has no transport; nothing was sent"
        assert rem.sent_at is None
        assert outcome.outcome == "failed"
        assert opened == [(TaskKind.SEND_FAILED, inv.id)]
    elif channel is Channel.TASK:
        assert rem.state is ReminderState.HANDED_OFF
        assert rem.sent_at is None
        assert outcome.outcome == "handed_off"
        assert opened == [(TaskKind.FOLLOW_UP, inv.id)]
    else:  # a letter step makes its letter whatever the row's letter flag says
        assert rem.state is ReminderState.SENT
        assert rem.letter_id is not None  # the PDF is kept in the store
        assert outcome.outcome == "letter"
        assert opened == [(TaskKind.LETTER_TO_POST, inv.id)]


# ---------------------------------------------------------------- penalties and deadlines


@pytest.mark.parametrize("shown", [True, False], ids=["penalties", "no-penalties"])
@pytest.mark.parametrize("locale", ["fr", "en"])
@pytest.mark.parametrize("step", SEQUENCE)
def test_penalties_follow_the_step_row_in_every_template(
    step: str, locale: str, shown: bool
) -> None:
    spec = dataclasses.replace(sample_spec(step), show_penalties=shown)
    ctx = sample_context(spec, locale, b2b=True)
    [inv] = ctx.invoices
    assert (inv.interest is not None) is shown
    message = SHIPPED.render(ctx)
    # The invoice list's interest line (the legal paragraphs may name interest without amounts).
    label = "Intérêts de retard au taux" if locale == "fr" else "Late-payment interest at the"
    assert (label in message.text) is shown
    if shown:
        assert inv.interest is not None and inv.interest in message.text


def test_the_samples_take_the_deadline_from_the_step_row() -> None:
    # The default final warning's row gives 8 days; the samples used to say none.
    ctx = sample_context("final_warning", "fr")
    assert ctx.new_deadline == format_date(date(2025, 3, 20), "long", locale="fr_FR")
    assert ctx.new_deadline in SHIPPED.render(ctx).text
    no_deadline = dataclasses.replace(sample_spec("reminder_2"), new_deadline_days=None)
    assert sample_context(no_deadline, "fr").new_deadline is None
    assert "cinq jours" not in SHIPPED.render(sample_context(no_deadline, "fr")).text
    # The formal notice states the row's number of days, not a number of its own.
    fortnight = dataclasses.replace(sample_spec("formal_notice"), new_deadline_days=15)
    for locale, phrase in (("fr", "dans un délai de 15 jours, soit"), ("en", "within 15 days,")):
        assert phrase in SHIPPED.render(sample_context(fortnight, locale)).text


def test_template_validation_holds_a_template_to_its_step_row() -> None:
    source = SHIPPED.source("fr/reminder_1")
    SHIPPED.validate("fr/reminder_1", source)  # the default row shows no penalties
    showing = dataclasses.replace(sample_spec("reminder_1"), show_penalties=True)
    SHIPPED.validate("fr/reminder_1", source, steps=[showing])  # and prints them when asked
    silent = source.replace(
        "{{ m.invoice_list(ctx, penalties=ctx.show_penalties) }}", "{{ m.invoice_list(ctx) }}"
    )
    SHIPPED.validate("fr/reminder_1", silent)
    with pytest.raises(TemplateError, match="must state the late interest"):
        SHIPPED.validate("fr/reminder_1", silent, steps=[showing])


def test_the_engine_shows_what_the_row_says_penalties_and_deadline(
    services: Services, shop: Shop, make_runner: Callable[..., DunningRunner]
) -> None:
    edit_step(services, shop, "reminder_1", show_penalties=True, new_deadline_days=3)
    edit_step(services, shop, "reminder_2", show_penalties=False, new_deadline_days=None)
    add_invoices(
        services, shop, [normalized("F-5", email="ada@client.example", due_on=DUE, b2b=True)]
    )
    runner = make_runner()
    runner.tick(paris(FIRST_REMINDER_DAY))
    runner.tick(paris(SECOND_REMINDER_DAY))
    first, second = (str(m["text"]) for m in outbox_messages(services))
    deadline = format_date(FIRST_REMINDER_DAY + timedelta(days=3), "long", locale="fr")
    assert "Indemnité forfaitaire pour frais de recouvrement\u00a0: 40,00" in first
    assert f"au plus tard le {deadline}" in first
    assert "Indemnité forfaitaire pour frais de recouvrement\u00a0:" not in second
    assert "Intérêts de retard" not in second
    assert "au plus tard le" not in second
    assert "cinq jours" not in second  # no deadline of the template's own


def test_the_claims_core_read_of_steps_builds_the_same_specs_as_the_rows(
    services: Services, shop: Shop
) -> None:
    """A claim batch reads its sequences' steps with Core (sequences_step_specs); the specs
    must be exactly those the ORM rows give (step_specs): active steps only, in position order,
    each with its own wording in every language, also for a sequence left with no active step
    and one that has its positions out of id order."""
    with write_session(services.sessions) as s:
        merged = s.merge(shop)
        default = ensure_default_sequence(s, merged)
        default.steps[1].active = False
        default.steps[2].templates.append(
            StepTemplate(shop_id=shop.id, language="fr", subject="Rappel", body="Payez {{ x }}")
        )
        default.steps[2].templates.append(
            StepTemplate(shop_id=shop.id, language="en", subject="Reminder", body="Pay")
        )
        default.steps[4].templates.append(
            StepTemplate(shop_id=shop.id, language="fr", subject="Dernier", body="Avis")
        )
        default.steps[0].position, default.steps[5].position = 9, -1
        silent = Sequence(shop_id=shop.id, name="silent", is_default=False)
        silent.steps.append(
            Step(key="only", position=0, offset_days=3, channel=Channel.EMAIL, active=False)
        )
        s.add(silent)
        s.flush()
        ids = (default.id, silent.id)
    with services.sessions() as s:
        from_rows = {
            seq.id: step_specs(seq)
            for seq in s.scalars(select(Sequence).where(Sequence.id.in_(ids)))
        }
    with services.sessions() as s:
        from_core = sequences_step_specs(s, ids)
    assert from_core == from_rows
    assert from_core[silent.id] == ()
    assert from_core[default.id][0].key == "formal_notice"
    assert [name for name, _ in from_core[default.id][1].templates] == [
        "en/reminder_2",
        "fr/reminder_2",
    ]
