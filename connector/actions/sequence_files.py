"""A sequence as one JSON document (its steps and the owner's wording), out and back in.

Import is all-or-nothing: the whole document is checked first — each error names its field, as
``steps[2].offset_days`` — the templates in the limited renderer like the editor's, and only
then is the sequence written, in one transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from connector.actions.sequences import (
    KEY_RE,
    SequenceError,
    SequenceView,
    StepInput,
    apply_step,
    check_language,
    clean_name,
    no_wording,
    own_sequence,
    show_sequence,
)
from connector.dunning.drafts import Draft, DraftError, check_draft
from connector.dunning.planner import StepSpec
from connector.services import Services
from connector.shops import resolve_shop
from connector.store.db import write_session
from connector.store.models import Channel, Sequence, Step, StepContent, StepTemplate

FORMAT = "relance.sequence/1"


def export_sequence(svc: Services, shop_id: int | None, sequence_id: int) -> dict[str, Any]:
    with svc.sessions() as s:
        shop = resolve_shop(s, shop_id)
        seq = own_sequence(s, shop, sequence_id)
        return {
            "format": FORMAT,
            "name": seq.name,
            "steps": [
                {
                    "key": st.key,
                    "offset_days": st.offset_days,
                    "channel": st.channel.value,
                    "tone": st.tone,
                    "show_penalties": st.show_penalties,
                    "sends_letter": st.sends_letter,
                    "hands_off": st.hands_off,
                    "new_deadline_days": st.new_deadline_days,
                    "content": st.content.value,
                    # A statement step's wording (kept from when it was a reminder) is not sent:
                    # not exported, so that the file imports back.
                    "templates": {
                        t.language: {"subject": t.subject, "body": t.body}
                        for t in st.templates
                        if st.content is StepContent.REMINDER
                    },
                }
                for st in seq.steps
                if st.active
            ],
        }


def _field(obj: dict[str, Any], name: str, kind: type | tuple[type, ...], where: str) -> Any:
    if name not in obj:
        raise SequenceError(f"{where}.{name}: missing")
    value = obj[name]
    if (isinstance(value, bool) and kind is int) or not isinstance(value, kind):
        expected = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise SequenceError(f"{where}.{name}: expected {expected}, got {value!r}")
    return value


def _optional(obj: dict[str, Any], name: str, kind: type, where: str, default: Any) -> Any:
    if obj.get(name) is None:
        return default
    return _field(obj, name, kind, where)


def import_sequence(
    svc: Services, shop_id: int | None, doc: Any, *, name: str | None = None
) -> SequenceView:
    """Create a sequence from an exported document (``name`` overrides the document's)."""
    if not isinstance(doc, dict):
        raise SequenceError("document: expected a JSON object")
    if doc.get("format", FORMAT) != FORMAT:
        raise SequenceError(f"format: expected {FORMAT!r}, got {doc.get('format')!r}")
    title = clean_name(name or _field(doc, "name", str, "document").strip())
    steps_doc = _field(doc, "steps", list, "document")
    if not steps_doc:
        raise SequenceError("steps: a sequence needs at least one step")
    rows: list[Step] = []
    drafts: list[tuple[str, Step, Draft]] = []
    for index, raw in enumerate(steps_doc):
        where = f"steps[{index}]"
        if not isinstance(raw, dict):
            raise SequenceError(f"{where}: expected an object")
        key = _field(raw, "key", str, where)
        if not KEY_RE.match(key):
            raise SequenceError(f"{where}.key: lower-case letters, digits and _ (a letter first)")
        if any(r.key == key for r in rows):
            raise SequenceError(f"{where}.key: {key!r} appears twice")
        data = StepInput(
            offset_days=_field(raw, "offset_days", int, where),
            channel=_optional(raw, "channel", str, where, "email"),
            tone=_optional(raw, "tone", str, where, "polite"),
            show_penalties=_optional(raw, "show_penalties", bool, where, False),
            sends_letter=_optional(raw, "sends_letter", bool, where, False),
            hands_off=_optional(raw, "hands_off", bool, where, False),
            new_deadline_days=_optional(raw, "new_deadline_days", int, where, None),
            content=_optional(raw, "content", str, where, StepContent.REMINDER.value),
        )
        step = Step(key=key, position=index, offset_days=0, channel=Channel.EMAIL, active=True)
        try:
            apply_step(step, data, rows)
        except SequenceError as exc:
            raise SequenceError(f"{where}.{exc}") from None
        rows.append(step)
        templates = _optional(raw, "templates", dict, where, {})
        if templates and step.content is StepContent.STATEMENT:
            raise SequenceError(f"{where}.templates: {no_wording(key)}")
        for language, parts in templates.items():
            here = f"{where}.templates.{language}"
            try:
                lang = check_language(language)
            except SequenceError as exc:
                raise SequenceError(f"{here}: {exc}") from None
            if not isinstance(parts, dict):
                raise SequenceError(f"{here}: expected an object with subject and body")
            draft = Draft(
                lang, _field(parts, "subject", str, here), _field(parts, "body", str, here)
            )
            drafts.append((here, step, draft))
    for here, step, draft in drafts:  # every template checked before anything is written
        try:
            check_draft(draft, spec_of_unsaved(step))
        except DraftError as exc:
            raise SequenceError(f"{here}: {exc}") from None
    with write_session(svc.sessions) as s:
        shop = resolve_shop(s, shop_id)
        if s.scalar(select(Sequence.id).where(Sequence.shop_id == shop.id, Sequence.name == title)):
            raise SequenceError(f"name: a sequence named {title!r} already exists")
        seq = Sequence(shop_id=shop.id, name=title, is_default=False)
        for step in rows:
            step.templates = [
                StepTemplate(shop_id=shop.id, language=d.language, subject=d.subject, body=d.body)
                for _, owner, d in drafts
                if owner is step
            ]
            seq.steps.append(step)
        s.add(seq)
        s.flush()
        new_id = seq.id
    return show_sequence(svc, shop_id, new_id)


def spec_of_unsaved(step: Step) -> StepSpec:
    """The spec of a step row not saved yet (id 0; the draft brings its own wording)."""
    return StepSpec(
        id=0,
        key=step.key,
        offset_days=step.offset_days,
        channel=step.channel,
        sends_letter=step.sends_letter,
        hands_off=step.hands_off,
        show_penalties=step.show_penalties,
        new_deadline_days=step.new_deadline_days,
        tone=step.tone,
        content=step.content,
    )
