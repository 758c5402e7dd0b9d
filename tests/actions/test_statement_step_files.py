"""A statement step travels in the sequences export and comes back with the import; a document
asking for what a statement step cannot do is refused naming the field, nothing written."""

from __future__ import annotations

import pytest

from connector.actions.sequence_files import export_sequence, import_sequence
from connector.actions.sequences import SequenceError, StepInput, add_step, list_sequences
from connector.dunning.sequence import ensure_default_sequence
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import Shop


def _default_id(services: Services, shop: Shop) -> int:
    with write_session(services.sessions) as s:
        return ensure_default_sequence(s, s.merge(shop)).id


def test_the_statement_step_goes_out_and_back_in(services: Services, shop: Shop) -> None:
    seq_id = _default_id(services, shop)
    add_step(services, shop.id, seq_id, StepInput(offset_days=45, content="statement"), key="stmt")
    doc = export_sequence(services, shop.id, seq_id)
    [raw] = [st for st in doc["steps"] if st["key"] == "stmt"]
    assert raw["content"] == "statement" and raw["templates"] == {}
    assert {st["content"] for st in doc["steps"] if st["key"] != "stmt"} == {"reminder"}
    copy = import_sequence(services, shop.id, doc, name="copy")
    [back] = [st for st in copy.steps if st.key == "stmt"]
    assert back.content == "statement" and back.channel == "email"


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"content": "invoice_copy"}, "steps[0].content: 'invoice_copy' is not one of"),
        ({"channel": "letter"}, "steps[0].step 'stmt': channel: a statement of account goes"),
        ({"new_deadline_days": 8}, "steps[0].step 'stmt': new_deadline_days: a statement step"),
    ],
)
def test_a_statement_step_that_cannot_be_is_refused_naming_the_field(
    services: Services, shop: Shop, extra: dict[str, object], error: str
) -> None:
    step = {"key": "stmt", "offset_days": 10, "content": "statement", **extra}
    with pytest.raises(SequenceError) as raised:
        import_sequence(services, shop.id, {"name": "bad", "steps": [step]})
    assert str(raised.value).startswith(error), str(raised.value)
    assert "bad" not in [q.name for q in list_sequences(services, shop.id)]
