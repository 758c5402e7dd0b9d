"""The default sequence of design §5, created for every new shop (the owner edits it later)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from connector.dunning.planner import StepSpec
from connector.store.models import Channel, Sequence, Shop, Step

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


def ensure_default_sequence(session: Session, shop: Shop) -> Sequence:
    existing = session.scalar(
        select(Sequence).where(Sequence.shop_id == shop.id, Sequence.is_default.is_(True))
    )
    if existing is not None:
        return existing
    seq = Sequence(shop_id=shop.id, name=DEFAULT_SEQUENCE_NAME, is_default=True)
    for position, (key, offset, channel, tone, penalties, letter, hands_off, deadline) in enumerate(
        DEFAULT_STEPS
    ):
        seq.steps.append(
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
            )
        )
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
    )


def step_specs(sequence: Sequence) -> tuple[StepSpec, ...]:
    return tuple(spec_of(s) for s in sequence.steps if s.active)
