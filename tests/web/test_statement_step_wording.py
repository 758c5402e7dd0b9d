"""A statement step has no wording of its own (its message lists the customer's open invoices):
the wording editor refuses it in the action layer — read, save, reset, preview, and a sequence
file bringing wording for it — with one clear message, and the page opened by URL goes back to
the sequence saying why (never a 500, never an editor for words nobody receives). Nothing is
written."""

from __future__ import annotations

from datetime import date
from html import unescape

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from connector.actions.sequence_files import export_sequence, import_sequence
from connector.actions.sequence_preview import preview_template
from connector.actions.sequences import (
    SequenceError,
    StepInput,
    add_step,
    get_template,
    reset_template,
    save_template,
    update_step,
)
from connector.dunning.sequence import ensure_default_sequence
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import Shop, Step, StepTemplate
from tests.support.builders import add_invoices, invoice_by_number, normalized
from tests.support.pages import csrf_token

OWNER = "claire@dupont.example"
PASSWORD = "correct horse battery"
REFUSED = "step 'stmt' sends the statement of account: it has no wording of its own to edit"


def statement_step(services: Services, shop: Shop) -> tuple[int, int]:
    """(sequence, step): a D+45 statement step added to the default sequence."""
    with write_session(services.sessions) as s:
        seq_id = ensure_default_sequence(s, s.merge(shop)).id
    add_step(services, shop.id, seq_id, StepInput(offset_days=45, content="statement"), key="stmt")
    with services.sessions() as s:
        step_id = s.scalar(select(Step.id).where(Step.key == "stmt"))
    assert step_id is not None
    return seq_id, step_id


def wording_rows(services: Services) -> int:
    with services.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(StepTemplate)) or 0)


def test_every_wording_action_refuses_a_statement_step(services: Services, shop: Shop) -> None:
    _, step_id = statement_step(services, shop)
    add_invoices(
        services, shop, [normalized("F-1", email="lea@client.example", due_on=date(2026, 6, 10))]
    )
    invoice_id = invoice_by_number(services, "F-1").id
    attempts = {
        "read": lambda: get_template(services, shop.id, step_id, "fr"),
        "save": lambda: save_template(services, shop.id, step_id, "fr", "Objet", "Corps"),
        "reset": lambda: reset_template(services, shop.id, step_id, "fr"),
        "preview": lambda: preview_template(
            services, shop.id, step_id, invoice_id, language="fr", subject="a", body="b"
        ),
    }
    for name, attempt in attempts.items():
        with pytest.raises(SequenceError) as refused:
            attempt()
        assert str(refused.value).startswith(REFUSED), name
    assert wording_rows(services) == 0


def test_a_sequence_file_with_wording_for_a_statement_step_is_refused_naming_it(
    services: Services, shop: Shop
) -> None:
    step = {
        "key": "stmt",
        "offset_days": 10,
        "content": "statement",
        "templates": {"fr": {"subject": "Relevé", "body": "{{ invoice.number }}"}},
    }
    with pytest.raises(SequenceError) as refused:
        import_sequence(services, shop.id, {"name": "bad", "steps": [step]})
    assert str(refused.value).startswith(f"steps[0].templates: {REFUSED}")
    assert wording_rows(services) == 0


def test_wording_kept_from_a_reminder_turned_statement_is_not_exported(
    services: Services, shop: Shop
) -> None:
    """A reminder step with the owner's wording, then made a statement step: the file says
    what the step sends (no wording), so it imports back."""
    with write_session(services.sessions) as s:
        seq = ensure_default_sequence(s, s.merge(shop))
        step_id = next(st.id for st in seq.steps if st.key == "reminder_3")
        seq_id = seq.id
    view = get_template(services, shop.id, step_id, "fr")
    save_template(services, shop.id, step_id, "fr", view.subject, view.body)
    update_step(services, shop.id, step_id, StepInput(offset_days=14, content="statement"))
    doc = export_sequence(services, shop.id, seq_id)
    [raw] = [st for st in doc["steps"] if st["key"] == "reminder_3"]
    assert raw["content"] == "statement" and raw["templates"] == {}
    import_sequence(services, shop.id, doc, name="copy")


def test_the_editor_opened_by_url_goes_back_to_the_sequence_saying_why(
    signed_in: FlaskClient, services: Services, shop: Shop
) -> None:
    client = signed_in
    seq_id, step_id = statement_step(services, shop)

    resp = client.get(f"/sequences/steps/{step_id}/template?lang=fr")
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith(f"/sequences/{seq_id}")
    page = unescape(client.get(resp.headers["Location"]).get_data(as_text=True))
    assert "S" + REFUSED[1:] in page  # the flash starts as a sentence

    token = csrf_token(page)
    resp = client.post(
        f"/sequences/steps/{step_id}/template?lang=fr",
        data={"csrf_token": token, "subject": "Objet", "body": "Corps"},
    )
    assert resp.status_code == 302
    assert wording_rows(services) == 0
