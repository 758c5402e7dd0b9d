"""The default sequence of design §5, created for every new shop (the owner edits it later).

A Step row is the one place a step's meaning lives (channel, penalties shown, new deadline,
letter, hand-off); the engine and the templates read it from there, never from step names.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from connector.dunning.owner_source import compose_source
from connector.dunning.planner import StepSpec
from connector.store.idset import among
from connector.store.models import Channel, Sequence, Shop, Step, StepContent, StepTemplate

DEFAULT_SEQUENCE_NAME = "default"

# key, offset, channel, tone, show_penalties, sends_letter, hands_off, new_deadline_days
DEFAULT_STEPS: tuple[tuple[str, int, Channel, str, bool, bool, bool, int | None], ...] = (
    ("courtesy", -2, Channel.EMAIL, "friendly", False, False, False, None),
    ("reminder_1", 1, Channel.EMAIL, "polite", False, False, False, None),
    ("reminder_2", 7, Channel.EMAIL, "firmer", True, False, False, 5),
    ("reminder_3", 14, Channel.EMAIL, "firm", True, False, False, None),
    ("final_warning", 21, Channel.EMAIL, "firm", True, True, False, 8),
    ("formal_notice", 30, Channel.LETTER, "formal", True, True, False, 8),
)

#: The note after payment: not a Step row (nothing to configure), but a template like one.
THANK_YOU_STEP = StepSpec(
    id=0, key="thank_you", offset_days=0, channel=Channel.EMAIL, tone="friendly", asks_payment=False
)

#: Channels the engine can carry out: email (mail transport), letter (a PDF and a task to post
#: it), task (a person does the step). Any other channel is refused when a step is saved.
CHANNELS_WITH_TRANSPORT = frozenset({Channel.EMAIL, Channel.LETTER, Channel.TASK})


class StepError(ValueError):
    """A step that cannot be saved; the message names the step and what to fix."""


def check_step(step: Step) -> None:
    """Refuse a step the engine could not carry out (the editor and the defaults both call it)."""
    if step.channel not in CHANNELS_WITH_TRANSPORT:
        usable = ", ".join(sorted(c.value for c in CHANNELS_WITH_TRANSPORT))
        raise StepError(
            f"step {step.key!r}: channel {step.channel.value!r} has no transport "
            f"(nothing could be sent); use one of: {usable}"
        )
    if step.content is StepContent.STATEMENT:
        _check_statement_step(step)
    if step.new_deadline_days is not None and step.new_deadline_days <= 0:
        raise StepError(
            f"step {step.key!r}: new_deadline_days must be a positive number of days, "
            f"not {step.new_deadline_days}"
        )


def _check_statement_step(step: Step) -> None:
    """A statement step sends the statement of account, nothing else: by email, with no
    deadline, penalties, letter or hand-off of its own (the statement says none of them)."""
    if step.channel is not Channel.EMAIL:
        raise StepError(
            f"step {step.key!r}: channel: a statement of account goes by email, "
            f"not {step.channel.value!r}"
        )
    extras = {
        "new_deadline_days": step.new_deadline_days is not None,
        "show_penalties": bool(step.show_penalties),
        "sends_letter": bool(step.sends_letter),
        "hands_off": bool(step.hands_off),
    }
    for name, present in extras.items():
        if present:
            raise StepError(
                f"step {step.key!r}: {name}: a statement step only sends the statement of "
                "account; leave it unset"
            )


def default_step_rows() -> list[Step]:
    """The default sequence as (unsaved) Step rows."""
    return [
        Step(
            key=key,
            position=position,
            offset_days=offset,
            channel=channel,
            tone=tone,
            show_penalties=penalties,
            sends_letter=letter,
            hands_off=hands_off,
            new_deadline_days=deadline,
            active=True,
        )
        for position, (key, offset, channel, tone, penalties, letter, hands_off, deadline) in (
            enumerate(DEFAULT_STEPS)
        )
    ]


def ensure_default_sequence(session: Session, shop: Shop) -> Sequence:
    existing = session.scalar(
        select(Sequence).where(Sequence.shop_id == shop.id, Sequence.is_default.is_(True))
    )
    if existing is not None:
        return existing
    seq = Sequence(shop_id=shop.id, name=DEFAULT_SEQUENCE_NAME, is_default=True)
    for step in default_step_rows():
        check_step(step)
        seq.steps.append(step)
    session.add(seq)
    session.flush()
    return seq


def spec_of(step: Step) -> StepSpec:
    return StepSpec(
        id=step.id,
        key=step.key,
        offset_days=step.offset_days,
        channel=step.channel,
        sends_letter=step.sends_letter,
        hands_off=step.hands_off,
        show_penalties=step.show_penalties,
        new_deadline_days=step.new_deadline_days,
        tone=step.tone,
        content=step.content or StepContent.REMINDER,  # unsaved rows: the column default
        templates=owner_templates(step),
    )


def owner_templates(step: Step) -> tuple[tuple[str, str], ...]:
    """The step's own wording, as sandbox templates named ``<language>/<key>``."""
    return tuple(
        (f"{t.language}/{step.key}", compose_source(t.language, t.subject, t.body))
        for t in step.templates
    )


def default_step_specs() -> tuple[StepSpec, ...]:
    """The default sequence as specs (ids 0: not stored), for previews and template checks."""
    return tuple(replace(spec_of(step), id=0) for step in default_step_rows())


def step_specs(sequence: Sequence) -> tuple[StepSpec, ...]:
    return tuple(spec_of(s) for s in sequence.steps if s.active)


def sequences_step_specs(
    session: Session, sequence_ids: Collection[int]
) -> dict[int, tuple[StepSpec, ...]]:
    """The active steps of each existing sequence of ``sequence_ids``, as :func:`step_specs`
    builds them from the ORM rows, read with two Core queries (steps, then their wording).

    Why: a claim batch spans many shops and reads their steps again for every batch (an owner's
    edit must reach the customers not yet reached); as ORM rows that was about eight objects
    built per message sent, only to be copied into specs."""
    if not sequence_ids:
        return {}
    ids = sorted(sequence_ids)
    rows = (
        session.execute(
            select(
                Sequence.id.label("sequence_id"),
                Step.id,
                Step.key,
                Step.offset_days,
                Step.channel,
                Step.sends_letter,
                Step.hands_off,
                Step.show_penalties,
                Step.new_deadline_days,
                Step.tone,
                Step.content,
            )
            .outerjoin(Step, and_(Step.sequence_id == Sequence.id, Step.active.is_(True)))
            .where(among(session, Sequence.id, ids))
            .order_by(Sequence.id, Step.position)
        )
        .tuples()
        .all()
    )
    wording: dict[int, list[tuple[str, str]]] = {}
    if any(row[1] is not None for row in rows):
        for step_id, key, language, subject, body in session.execute(
            select(
                StepTemplate.step_id,
                Step.key,
                StepTemplate.language,
                StepTemplate.subject,
                StepTemplate.body,
            )
            .join(Step, Step.id == StepTemplate.step_id)
            .where(among(session, Step.sequence_id, ids), Step.active.is_(True))
            .order_by(StepTemplate.step_id, StepTemplate.language)
        ).tuples():
            wording.setdefault(step_id, []).append(
                (f"{language}/{key}", compose_source(language, subject, body))
            )
    specs: dict[int, list[StepSpec]] = {}
    for seq_id, step_id, key, offset, channel, letter, handoff, penalties, days, tone, what in rows:
        steps = specs.setdefault(seq_id, [])
        if step_id is None:  # a sequence without an active step
            continue
        steps.append(
            StepSpec(
                step_id,
                key,
                offset,
                channel,
                sends_letter=letter,
                hands_off=handoff,
                show_penalties=penalties,
                new_deadline_days=days,
                tone=tone,
                content=what or StepContent.REMINDER,
                templates=tuple(wording.get(step_id, ())),
            )
        )
    return {seq_id: tuple(steps) for seq_id, steps in specs.items()}
