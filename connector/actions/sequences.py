"""The owner's sequences: several per shop, assignment rules, steps and their wording.

Every function takes the shop explicitly and owns its transaction. An edit that can change what
an invoice is due for (a rule, a step, an offset) wakes the shop's waiting invoices: the next
tick plans them again under the new sequence (connector.dunning.planner: what an invoice already
reached — the furthest offset of any of its reminders — is behind it, so nothing is re-sent and
nothing piles up). Step rows with reminders are never deleted (the evidence points at them):
removing one deactivates it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from connector.dunning.assignment import governing_sequence, rule_spec
from connector.dunning.drafts import Draft, DraftError, check_draft
from connector.dunning.owner_source import split_source
from connector.dunning.rendering import ReminderRenderer, TemplateError
from connector.dunning.sequence import (
    CHANNELS_WITH_TRANSPORT,
    StepError,
    check_step,
    ensure_default_sequence,
    spec_of,
)
from connector.ledger import PLAN_LEAD
from connector.platform import InvoiceStatus
from connector.services import Services
from connector.shops import ShopError, resolve_shop
from connector.store.db import write_session
from connector.store.models import (
    Channel,
    Connection,
    Customer,
    Invoice,
    Reminder,
    Sequence,
    SequenceRule,
    Shop,
    Step,
    StepContent,
    StepTemplate,
)

TONES = ("friendly", "polite", "firmer", "firm", "formal")
#: What a step's email may say (the editor's choices; the row's ``content`` column).
STEP_CONTENTS = tuple(c.value for c in StepContent)
MAX_OFFSET_AFTER = 730  # two years: the consumer prescription (domain.prescription)
#: The shipped wording a new step starts from, per channel of the new step.
BASED_ON_DEFAULT = "reminder_3"
KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_LANG_RE = re.compile(r"^[a-z]{2}$")
#: Waiting invoices are woken to this instant: any tick sees them and plans them again.
WAKE_AT = datetime(2000, 1, 1, tzinfo=UTC)


class SequenceError(ShopError):
    """Bad input or an impossible edit; the message names the field and what to fix."""


class SequenceNotFound(SequenceError):
    """No such sequence, step, rule or invoice in this shop (another shop's ids included)."""


# ---------------------------------------------------------------- views


@dataclass(frozen=True, slots=True)
class StepView:
    id: int
    key: str
    position: int
    offset_days: int
    channel: str
    tone: str
    show_penalties: bool
    sends_letter: bool
    hands_off: bool
    new_deadline_days: int | None
    active: bool
    languages: tuple[str, ...]  # the owner's own wording, by language
    content: str = StepContent.REMINDER.value  # reminder | statement (of account)

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "key": self.key,
            "position": self.position,
            "offset_days": self.offset_days,
            "channel": self.channel,
            "tone": self.tone,
            "show_penalties": self.show_penalties,
            "sends_letter": self.sends_letter,
            "hands_off": self.hands_off,
            "new_deadline_days": self.new_deadline_days,
            "active": self.active,
            "content": self.content,
            "custom_templates": list(self.languages),
        }


@dataclass(frozen=True, slots=True)
class RuleView:
    id: int
    position: int
    sequence_id: int
    sequence_name: str
    b2b: bool | None
    min_amount_minor: int | None
    max_amount_minor: int | None
    currency: str | None
    platform: str | None
    connection_id: int | None
    excluded_emails: tuple[str, ...]

    def describe(self) -> str:
        parts = []
        if self.b2b is not None:
            parts.append("business customers" if self.b2b else "consumers")
        if self.min_amount_minor is not None:
            parts.append(f"amount due ≥ {Decimal(self.min_amount_minor) / 100}")
        if self.max_amount_minor is not None:
            parts.append(f"amount due < {Decimal(self.max_amount_minor) / 100}")
        if self.currency:
            parts.append(f"in {self.currency}")
        if self.platform:
            parts.append(f"from {self.platform}")
        if self.connection_id is not None:
            parts.append(f"connection {self.connection_id}")
        if self.excluded_emails:
            parts.append("except " + ", ".join(self.excluded_emails))
        return " and ".join(parts) or "every invoice"

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "position": self.position,
            "sequence": self.sequence_name,
            "sequence_id": self.sequence_id,
            "b2b": self.b2b,
            "min_amount_minor": self.min_amount_minor,
            "max_amount_minor": self.max_amount_minor,
            "currency": self.currency,
            "platform": self.platform,
            "connection_id": self.connection_id,
            "excluded_emails": list(self.excluded_emails),
            "description": self.describe(),
        }


@dataclass(frozen=True, slots=True)
class SequenceView:
    id: int
    name: str
    is_default: bool
    open_invoices: int
    steps: tuple[StepView, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "default": self.is_default,
            "open_invoices": self.open_invoices,
            "steps": [s.as_dict() for s in self.steps],
        }


def _step_view(step: Step) -> StepView:
    return StepView(
        id=step.id,
        key=step.key,
        position=step.position,
        offset_days=step.offset_days,
        channel=step.channel.value,
        tone=step.tone,
        show_penalties=step.show_penalties,
        sends_letter=step.sends_letter,
        hands_off=step.hands_off,
        new_deadline_days=step.new_deadline_days,
        active=step.active,
        languages=tuple(t.language for t in step.templates),
        content=(step.content or StepContent.REMINDER).value,
    )


def _rule_view(rule: SequenceRule, names: dict[int, str]) -> RuleView:
    spec = rule_spec(rule)
    return RuleView(
        id=rule.id,
        position=rule.position,
        sequence_id=rule.sequence_id,
        sequence_name=names.get(rule.sequence_id, "?"),
        b2b=rule.b2b,
        min_amount_minor=rule.min_amount_minor,
        max_amount_minor=rule.max_amount_minor,
        currency=rule.currency,
        platform=rule.platform,
        connection_id=rule.connection_id,
        excluded_emails=tuple(sorted(spec.excluded_emails)),
    )


# ---------------------------------------------------------------- reading


def _sequences(s: Session, shop: Shop) -> list[Sequence]:
    ensure_default_sequence(s, shop)
    return list(
        s.scalars(
            select(Sequence)
            .where(Sequence.shop_id == shop.id)
            .order_by(Sequence.is_default.desc(), Sequence.name)
        )
    )


def _rules(s: Session, shop: Shop) -> list[SequenceRule]:
    return list(
        s.scalars(
            select(SequenceRule)
            .where(SequenceRule.shop_id == shop.id)
            .order_by(SequenceRule.position, SequenceRule.id)
        )
    )


def open_counts(s: Session, shop: Shop, default_id: int) -> dict[int, int]:
    """How many open invoices each sequence governs: one grouped query, the rules as SQL."""
    governing = governing_sequence([rule_spec(r) for r in _rules(s, shop)], default_id)
    rows = s.execute(
        select(governing, func.count(Invoice.id))
        .select_from(Invoice)
        .join(Customer, Customer.id == Invoice.customer_id)
        .join(Connection, Connection.id == Invoice.connection_id)
        .where(
            Invoice.shop_id == shop.id,
            Invoice.status.in_((InvoiceStatus.OPEN, InvoiceStatus.PARTIALLY_PAID)),
        )
        .group_by(governing)
    ).all()
    return {int(seq_id): int(count) for seq_id, count in rows}


def list_sequences(svc: Services, shop_id: int | None) -> list[SequenceView]:
    with write_session(svc.sessions) as s:  # the default sequence is made on first sight
        shop = resolve_shop(s, shop_id)
        seqs = _sequences(s, shop)
        default_id = next(q.id for q in seqs if q.is_default)
        counts = open_counts(s, shop, default_id)
        return [
            SequenceView(
                q.id,
                q.name,
                q.is_default,
                counts.get(q.id, 0),
                tuple(_step_view(st) for st in q.steps),
            )
            for q in seqs
        ]


def show_sequence(svc: Services, shop_id: int | None, sequence_id: int) -> SequenceView:
    for view in list_sequences(svc, shop_id):
        if view.id == sequence_id:
            return view
    raise SequenceNotFound(f"no sequence {sequence_id} in this shop")


def list_rules(svc: Services, shop_id: int | None) -> list[RuleView]:
    with svc.sessions() as s:
        shop = resolve_shop(s, shop_id)
        rows = s.execute(select(Sequence.id, Sequence.name).where(Sequence.shop_id == shop.id))
        names: dict[int, str] = {seq_id: name for seq_id, name in rows}
        return [_rule_view(r, names) for r in _rules(s, shop)]


def own_sequence(s: Session, shop: Shop, sequence_id: int) -> Sequence:
    seq = s.scalar(select(Sequence).where(Sequence.id == sequence_id, Sequence.shop_id == shop.id))
    if seq is None:
        raise SequenceNotFound(f"no sequence {sequence_id} in this shop")
    return seq


def own_step(s: Session, shop: Shop, step_id: int) -> Step:
    step = s.scalar(
        select(Step)
        .join(Sequence, Sequence.id == Step.sequence_id)
        .where(Step.id == step_id, Sequence.shop_id == shop.id)
    )
    if step is None:
        raise SequenceNotFound(f"no step {step_id} in this shop")
    return step


def wake_invoices(s: Session, shop: Shop) -> None:
    """Plan the shop's waiting invoices again on the next tick (set-based, one statement)."""
    s.execute(
        update(Invoice)
        .where(Invoice.shop_id == shop.id, Invoice.next_action_at.is_not(None))
        .values(next_action_at=WAKE_AT)
        .execution_options(synchronize_session=False)
    )


# ---------------------------------------------------------------- sequences


def clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise SequenceError("name: give the sequence a name")
    if len(name) > 80:
        raise SequenceError("name: at most 80 characters")
    return name


def create_sequence(
    svc: Services, shop_id: int | None, name: str, *, copy_of: int | None = None
) -> SequenceView:
    """A new sequence: a copy of ``copy_of`` (default: the default sequence), steps and wording."""
    name = clean_name(name)
    with write_session(svc.sessions) as s:
        shop = resolve_shop(s, shop_id)
        source = own_sequence(s, shop, copy_of) if copy_of else ensure_default_sequence(s, shop)
        if s.scalar(select(Sequence.id).where(Sequence.shop_id == shop.id, Sequence.name == name)):
            raise SequenceError(f"name: a sequence named {name!r} already exists")
        seq = Sequence(shop_id=shop.id, name=name, is_default=False)
        for step in source.steps:
            if not step.active:
                continue
            copy = _copy_step(step)
            copy.templates = [
                StepTemplate(shop_id=shop.id, language=t.language, subject=t.subject, body=t.body)
                for t in step.templates
            ]
            seq.steps.append(copy)
        s.add(seq)
        s.flush()
        return SequenceView(seq.id, seq.name, False, 0, tuple(_step_view(st) for st in seq.steps))


def _copy_step(step: Step) -> Step:
    return Step(
        key=step.key,
        position=step.position,
        offset_days=step.offset_days,
        channel=step.channel,
        tone=step.tone,
        show_penalties=step.show_penalties,
        sends_letter=step.sends_letter,
        hands_off=step.hands_off,
        new_deadline_days=step.new_deadline_days,
        active=True,
        content=step.content,
    )


def rename_sequence(svc: Services, shop_id: int | None, sequence_id: int, name: str) -> None:
    name = clean_name(name)
    with write_session(svc.sessions) as s:
        shop = resolve_shop(s, shop_id)
        seq = own_sequence(s, shop, sequence_id)
        clash = s.scalar(
            select(Sequence.id).where(
                Sequence.shop_id == shop.id, Sequence.name == name, Sequence.id != seq.id
            )
        )
        if clash:
            raise SequenceError(f"name: a sequence named {name!r} already exists")
        seq.name = name


def delete_sequence(svc: Services, shop_id: int | None, sequence_id: int) -> None:
    """Delete a sequence that never sent anything; its rules go, its invoices follow the rules
    (or the default) from the next tick. One with reminders on record is kept (evidence)."""
    with write_session(svc.sessions) as s:
        shop = resolve_shop(s, shop_id)
        seq = own_sequence(s, shop, sequence_id)
        if seq.is_default:
            raise SequenceError("the default sequence cannot be deleted (it is the fallback)")
        used = s.scalar(
            select(func.count(Reminder.id))
            .join(Step, Step.id == Reminder.step_id)
            .where(Step.sequence_id == seq.id)
        )
        if used:
            raise SequenceError(
                f"sequence {seq.name!r} has {used} reminders on record (the evidence points at "
                "its steps): remove its rules instead, so no invoice follows it any more"
            )
        s.execute(
            update(Invoice)
            .where(Invoice.shop_id == shop.id, Invoice.sequence_id == seq.id)
            .values(sequence_id=None)
        )
        s.delete(seq)
        wake_invoices(s, shop)


# ---------------------------------------------------------------- rules


@dataclass(frozen=True, slots=True)
class RuleInput:
    sequence_id: int
    b2b: bool | None = None
    min_amount: str | None = None  # decimal text in the invoice's currency, e.g. "1000"
    max_amount: str | None = None
    currency: str | None = None
    platform: str | None = None
    connection_id: int | None = None
    excluded_emails: tuple[str, ...] = field(default_factory=tuple)


def _minor(value: str | None, name: str) -> int | None:
    if value is None or not value.strip():
        return None
    try:
        amount = Decimal(value.strip().replace(",", ".").replace(" ", ""))
    except InvalidOperation:
        raise SequenceError(f"{name}: {value!r} is not an amount") from None
    if not amount.is_finite() or amount < 0:
        raise SequenceError(f"{name}: must be a positive amount, not {value}")
    if amount != amount.quantize(Decimal("0.01")):
        raise SequenceError(f"{name}: at most two decimals")
    return int(amount * 100)


PLATFORMS = ("shopify", "woocommerce", "stripe", "csv")


def add_rule(svc: Services, shop_id: int | None, rule: RuleInput) -> RuleView:
    """Append a rule (last in order: the earlier ones win)."""
    low = _minor(rule.min_amount, "min_amount")
    high = _minor(rule.max_amount, "max_amount")
    if low is not None and high is not None and high <= low:
        raise SequenceError("max_amount: must be above min_amount")
    currency = (rule.currency or "").strip().upper() or None
    if currency is not None and not re.fullmatch(r"[A-Z]{3}", currency):
        raise SequenceError(f"currency: {rule.currency!r} is not an ISO code like EUR")
    platform = (rule.platform or "").strip().lower() or None
    if platform is not None and platform not in PLATFORMS:
        raise SequenceError(f"platform: {rule.platform!r} is not one of {', '.join(PLATFORMS)}")
    emails = tuple(sorted({e.strip().lower() for e in rule.excluded_emails if e.strip()}))
    for email in emails:
        if "@" not in email:
            raise SequenceError(f"excluded_emails: {email!r} is not an email address")
    with write_session(svc.sessions) as s:
        shop = resolve_shop(s, shop_id)
        seq = own_sequence(s, shop, rule.sequence_id)
        if rule.connection_id is not None and not s.scalar(
            select(Connection.id).where(
                Connection.id == rule.connection_id, Connection.shop_id == shop.id
            )
        ):
            raise SequenceError(f"connection_id: no connection {rule.connection_id} in this shop")
        last = s.scalar(
            select(func.max(SequenceRule.position)).where(SequenceRule.shop_id == shop.id)
        )
        row = SequenceRule(
            shop_id=shop.id,
            sequence_id=seq.id,
            position=(last or 0) + 1,
            b2b=rule.b2b,
            min_amount_minor=low,
            max_amount_minor=high,
            currency=currency,
            platform=platform,
            connection_id=rule.connection_id,
            excluded_emails="\n".join(emails) or None,
        )
        s.add(row)
        s.flush()
        wake_invoices(s, shop)
        return _rule_view(row, {seq.id: seq.name})


def delete_rule(svc: Services, shop_id: int | None, rule_id: int) -> None:
    with write_session(svc.sessions) as s:
        shop = resolve_shop(s, shop_id)
        row = s.scalar(
            select(SequenceRule).where(SequenceRule.id == rule_id, SequenceRule.shop_id == shop.id)
        )
        if row is None:
            raise SequenceNotFound(f"no rule {rule_id} in this shop")
        s.delete(row)
        wake_invoices(s, shop)


def move_rule(svc: Services, shop_id: int | None, rule_id: int, up: bool) -> None:
    """Swap a rule with the one before (``up``) or after it."""
    with write_session(svc.sessions) as s:
        shop = resolve_shop(s, shop_id)
        rules = _rules(s, shop)
        index = next((i for i, r in enumerate(rules) if r.id == rule_id), None)
        if index is None:
            raise SequenceNotFound(f"no rule {rule_id} in this shop")
        other = index - 1 if up else index + 1
        if 0 <= other < len(rules):
            for position, row in enumerate(rules, start=1):
                row.position = position
            rules[index].position, rules[other].position = (
                rules[other].position,
                rules[index].position,
            )
            wake_invoices(s, shop)


# ---------------------------------------------------------------- steps


@dataclass(frozen=True, slots=True)
class StepInput:
    offset_days: int
    channel: str = "email"
    tone: str = "polite"
    show_penalties: bool = False
    sends_letter: bool = False
    hands_off: bool = False
    new_deadline_days: int | None = None
    content: str = StepContent.REMINDER.value  # statement: the statement of account


def apply_step(step: Step, data: StepInput, siblings: list[Step]) -> None:
    """Validate ``data`` (errors name the field) and write it into ``step``."""
    lead = PLAN_LEAD.days
    if not -lead <= data.offset_days <= MAX_OFFSET_AFTER:
        raise SequenceError(
            f"offset_days: {data.offset_days} is beyond what the planner can see: from "
            f"{-lead} (days before the due date) to {MAX_OFFSET_AFTER} after it"
        )
    try:
        channel = Channel(data.channel)
    except ValueError:
        raise SequenceError(f"channel: {data.channel!r} is not a channel") from None
    if channel not in CHANNELS_WITH_TRANSPORT:
        usable = ", ".join(sorted(c.value for c in CHANNELS_WITH_TRANSPORT))
        raise SequenceError(f"channel: {channel.value!r} has no transport; use one of: {usable}")
    try:
        content = StepContent(data.content)
    except ValueError:
        known = ", ".join(c.value for c in StepContent)
        raise SequenceError(f"content: {data.content!r} is not one of {known}") from None
    if data.tone not in TONES:
        raise SequenceError(f"tone: {data.tone!r} is not one of {', '.join(TONES)}")
    if data.new_deadline_days is not None and not 1 <= data.new_deadline_days <= 90:
        raise SequenceError("new_deadline_days: between 1 and 90 days, or empty")
    for other in siblings:
        if other is not step and other.active and other.offset_days == data.offset_days:
            raise SequenceError(
                f"offset_days: step {other.key!r} already falls on that day "
                f"(D{data.offset_days:+d}); one step per day"
            )
    step.offset_days = data.offset_days
    step.channel = channel
    step.tone = data.tone
    step.show_penalties = data.show_penalties
    step.sends_letter = data.sends_letter or channel is Channel.LETTER
    step.hands_off = data.hands_off
    step.new_deadline_days = data.new_deadline_days
    step.content = content
    try:
        check_step(step)
    except StepError as exc:
        raise SequenceError(str(exc)) from None


def _renumber(steps: list[Step]) -> None:
    for position, step in enumerate(sorted(steps, key=lambda st: (not st.active, st.position))):
        step.position = position


def add_step(
    svc: Services,
    shop_id: int | None,
    sequence_id: int,
    data: StepInput,
    *,
    key: str | None = None,
    based_on: str = BASED_ON_DEFAULT,
) -> StepView:
    """A new step; its wording starts as a copy of the shipped ``based_on`` step's (fr, en),
    stored in its own row so the new step means what its row says."""
    renderer = ReminderRenderer()
    if based_on not in renderer.available_steps():
        raise SequenceError(f"based_on: no shipped wording {based_on!r}")
    with write_session(svc.sessions) as s:
        shop = resolve_shop(s, shop_id)
        seq = own_sequence(s, shop, sequence_id)
        taken = {st.key for st in seq.steps}
        key = (key or "").strip().lower() or next(
            f"step_{n}" for n in range(1, 1000) if f"step_{n}" not in taken
        )
        if not KEY_RE.match(key):
            raise SequenceError("key: lower-case letters, digits and _ (a letter first)")
        if key in taken:
            raise SequenceError(f"key: the sequence already has a step {key!r}")
        step = Step(key=key, position=len(seq.steps), offset_days=0, channel=Channel.EMAIL)
        apply_step(step, data, list(seq.steps))
        # A statement step speaks the statement's own wording: no reminder template to copy.
        copied = () if step.content is StepContent.STATEMENT else ("fr", "en")
        for language in copied:
            subject, body = split_source(renderer.source(f"{language}/{based_on}"))
            step.templates.append(
                StepTemplate(shop_id=shop.id, language=language, subject=subject, body=body)
            )
        seq.steps.append(step)
        s.flush()
        wake_invoices(s, shop)
        return _step_view(step)


def update_step(svc: Services, shop_id: int | None, step_id: int, data: StepInput) -> StepView:
    with write_session(svc.sessions) as s:
        shop = resolve_shop(s, shop_id)
        step = own_step(s, shop, step_id)
        siblings = list(s.scalars(select(Step).where(Step.sequence_id == step.sequence_id)))
        apply_step(step, data, siblings)
        wake_invoices(s, shop)
        return _step_view(step)


def move_step(svc: Services, shop_id: int | None, step_id: int, up: bool) -> None:
    """Swap a step with its neighbour: places and days (the planner orders by day, so a step
    moved up goes out earlier). Reminders already on record keep the day they had."""
    with write_session(svc.sessions) as s:
        shop = resolve_shop(s, shop_id)
        step = own_step(s, shop, step_id)
        steps = sorted(
            s.scalars(
                select(Step).where(Step.sequence_id == step.sequence_id, Step.active.is_(True))
            ),
            key=lambda st: st.offset_days,
        )
        index = steps.index(step)
        other_index = index - 1 if up else index + 1
        if not 0 <= other_index < len(steps):
            return
        other = steps[other_index]
        step.offset_days, other.offset_days = other.offset_days, step.offset_days
        step.position, other.position = other.position, step.position
        wake_invoices(s, shop)


def remove_step(svc: Services, shop_id: int | None, step_id: int) -> str:
    """Delete a step, or deactivate it when reminders point at it (the evidence stays)."""
    with write_session(svc.sessions) as s:
        shop = resolve_shop(s, shop_id)
        step = own_step(s, shop, step_id)
        used = s.scalar(select(func.count(Reminder.id)).where(Reminder.step_id == step.id))
        siblings = list(s.scalars(select(Step).where(Step.sequence_id == step.sequence_id)))
        if len([st for st in siblings if st.active]) <= 1:
            raise SequenceError("a sequence needs at least one step")
        if used:
            step.active = False
            outcome = "deactivated"
        else:
            s.delete(step)
            siblings.remove(step)
            outcome = "deleted"
        _renumber(siblings)
        wake_invoices(s, shop)
        return outcome


# ---------------------------------------------------------------- templates


@dataclass(frozen=True, slots=True)
class TemplateView:
    step_id: int
    step_key: str
    language: str
    subject: str
    body: str
    custom: bool  # False: the shipped wording (what "Reset to default" brings back)


def check_language(language: str) -> str:
    language = (language or "").strip().lower()
    if not _LANG_RE.match(language):
        raise SequenceError(f"language: {language!r} is not a two-letter language code")
    return language


def shipped_template(step_key: str, language: str) -> tuple[str, str]:
    """The shipped subject and body (English for a language we do not ship); ("", "") for a
    step we ship no wording for."""
    renderer = ReminderRenderer()
    try:
        return split_source(renderer.source(renderer.resolve(language, step_key)))
    except TemplateError:
        return "", ""


@dataclass(frozen=True, slots=True)
class StepInSequence:
    step: StepView
    sequence_id: int
    sequence_name: str


def step_summary(svc: Services, shop_id: int | None, step_id: int) -> StepInSequence:
    with svc.sessions() as s:
        shop = resolve_shop(s, shop_id)
        step = own_step(s, shop, step_id)
        seq = s.get(Sequence, step.sequence_id)
        assert seq is not None
        return StepInSequence(_step_view(step), seq.id, seq.name)


def no_wording(step_key: str) -> str:
    """Why a statement step's wording cannot be edited (one message for page, CLI and file)."""
    return (
        f"step {step_key!r} sends the statement of account: it has no wording of its own to "
        "edit (the statement lists the customer's open invoices); make it a reminder step to "
        "give it wording"
    )


def wording_step(s: Session, shop: Shop, step_id: int) -> Step:
    """One of the shop's steps whose wording the owner may read, edit, preview or reset. A
    statement step has none: its message is made from the open invoices
    (connector.dunning.statements), so an editor for it would edit words nobody receives."""
    step = own_step(s, shop, step_id)
    if step.content is StepContent.STATEMENT:
        raise SequenceError(no_wording(step.key))
    return step


def get_template(svc: Services, shop_id: int | None, step_id: int, language: str) -> TemplateView:
    language = check_language(language)
    with svc.sessions() as s:
        shop = resolve_shop(s, shop_id)
        step = wording_step(s, shop, step_id)
        own = next((t for t in step.templates if t.language == language), None)
        if own is not None:
            return TemplateView(step.id, step.key, language, own.subject, own.body, True)
        fallback = next((t for t in step.templates if t.language == "en"), None)
        if fallback is not None and language not in ("fr", "en"):
            return TemplateView(step.id, step.key, language, fallback.subject, fallback.body, False)
        subject, body = shipped_template(step.key, language)
        return TemplateView(step.id, step.key, language, subject, body, False)


def save_template(
    svc: Services, shop_id: int | None, step_id: int, language: str, subject: str, body: str
) -> TemplateView:
    """Check the draft in the limited renderer (syntax with its line, limits, mandatory
    mentions — DraftError), then store it. Nothing is written when it is refused."""
    language = check_language(language)
    draft = Draft(language, subject, body)
    with svc.sessions() as s:  # read, then check with no transaction held
        shop = resolve_shop(s, shop_id)
        spec = spec_of(wording_step(s, shop, step_id))
    check_draft(draft, spec)
    with write_session(svc.sessions) as s:
        shop = resolve_shop(s, shop_id)
        step = wording_step(s, shop, step_id)
        own = next((t for t in step.templates if t.language == language), None)
        if own is None:
            step.templates.append(
                StepTemplate(shop_id=shop.id, language=language, subject=subject, body=body)
            )
        else:
            own.subject, own.body = subject, body
        return TemplateView(step.id, step.key, language, subject, body, True)


def reset_template(svc: Services, shop_id: int | None, step_id: int, language: str) -> None:
    """Back to the shipped wording (a step we ship no wording for keeps its English one)."""
    language = check_language(language)
    with write_session(svc.sessions) as s:
        shop = resolve_shop(s, shop_id)
        step = wording_step(s, shop, step_id)
        own = next((t for t in step.templates if t.language == language), None)
        if own is None:
            return
        if shipped_template(step.key, language) == ("", "") and language == "en":
            raise SequenceError(
                f"step {step.key!r} has no shipped wording: its English template is the fallback"
            )
        step.templates.remove(own)


__all__ = [
    "DraftError",
    "RuleInput",
    "SequenceError",
    "StepInput",
]
