"""The owner's wording per step and language: checked by rendering (syntax line, mandatory
mentions, the indemnity for businesses only), previewed on a real invoice, used by the engine
through the limited render pool — where a bomb fails its own message and nothing else."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from connector.actions.sequence_preview import preview_invoices, preview_template
from connector.actions.sequences import get_template, reset_template, save_template
from connector.dunning.drafts import DraftError
from connector.runners import dunning_runner
from connector.services import Services
from connector.shops import create_shop
from connector.store.db import write_session
from connector.store.models import Message, MessageState, Shop, Step, StepTemplate
from tests.engine.conftest import outbox_messages
from tests.support.builders import add_invoices, invoice_by_number, normalized, paris

DUE = date(2026, 6, 10)
NOW = paris(DUE + timedelta(days=1))


def _step_id(services: Services, key: str, shop_id: int) -> int:
    with services.sessions() as s:
        from connector.store.models import Sequence

        step = s.scalar(
            select(Step)
            .join(Sequence, Sequence.id == Step.sequence_id)
            .where(Step.key == key, Sequence.shop_id == shop_id)
        )
        assert step is not None
        return step.id


@pytest.fixture
def ready(services: Services, shop: Shop) -> Shop:
    with write_session(services.sessions) as s:
        row = s.get(Shop, shop.id)
        assert row is not None
        row.payment_instructions = "Virement : IBAN FR76 3000 6000 0112 3456 7890 189"
        row.contact_name = "Claire Dubois"
    add_invoices(
        services,
        shop,
        [
            normalized("F-FR", email="fr@client.example", due_on=DUE, locale="fr"),
            normalized("F-B2B", email="pro@acme.example", b2b=True, due_on=DUE, locale="fr"),
        ],
    )
    return shop


def test_the_shipped_wording_saves_and_resets(services: Services, ready: Shop) -> None:
    step_id = _step_id(services, "reminder_1", ready.id)
    shipped = get_template(services, ready.id, step_id, "fr")
    assert not shipped.custom and "{{" in shipped.body
    saved = save_template(
        services, ready.id, step_id, "fr", shipped.subject, shipped.body + "\nMerci !"
    )
    assert saved.custom and get_template(services, ready.id, step_id, "fr").custom
    reset_template(services, ready.id, step_id, "fr")
    assert get_template(services, ready.id, step_id, "fr") == shipped


def test_a_syntax_error_is_refused_with_its_line(services: Services, ready: Shop) -> None:
    step_id = _step_id(services, "reminder_1", ready.id)
    shipped = get_template(services, ready.id, step_id, "fr")
    body = "Bonjour,\n\nLigne deux\nFacture {{ ctx.invoices[0].number }\n" + shipped.body
    with pytest.raises(DraftError) as err:
        save_template(services, ready.id, step_id, "fr", shipped.subject, body)
    assert err.value.place.field == "body" and err.value.place.line == 4
    assert "line 4" in str(err.value)
    with services.sessions() as s:
        assert s.scalar(select(StepTemplate)) is None  # nothing written


def test_a_template_without_the_amount_is_refused_naming_it(
    services: Services, ready: Shop
) -> None:
    step_id = _step_id(services, "reminder_1", ready.id)
    shipped = get_template(services, ready.id, step_id, "en")
    body = (
        "Dear {{ customer.name }},\n\nInvoice {{ ctx.invoices[0].number }} fell due on "
        "{{ ctx.invoices[0].due_on }}.\n\n{{ m.how_to_pay(ctx) }}\n\n{{ m.contact(ctx) }}\n"
    )
    with pytest.raises(DraftError) as err:
        save_template(services, ready.id, step_id, "en", shipped.subject, body)
    assert "amount due" in str(err.value)
    with services.sessions() as s:
        assert s.scalar(select(StepTemplate)) is None


def test_the_indemnity_is_required_for_businesses_and_refused_for_consumers(
    services: Services, ready: Shop
) -> None:
    step_id = _step_id(services, "reminder_2", ready.id)  # shows penalties
    shipped = get_template(services, ready.id, step_id, "en")
    # Printing the indemnity to everyone: refused (consumers must never see it).
    everyone = shipped.body + "\nRecovery costs: {{ ctx.invoices[0].indemnity }}\n"
    with pytest.raises(DraftError) as err:
        save_template(services, ready.id, step_id, "en", shipped.subject, everyone)
    assert "consumer" in str(err.value) and "indemnity" in str(err.value)
    # Leaving out the interest and indemnity for businesses: refused too, naming it.
    without = shipped.body.replace("penalties=ctx.show_penalties", "penalties=False").replace(
        "{{ m.penalty_notice(ctx) }}", ""
    )
    assert without != shipped.body
    with pytest.raises(DraftError) as err:
        save_template(services, ready.id, step_id, "en", shipped.subject, without)
    assert "business customer" in str(err.value)
    assert "late interest" in str(err.value) or "recovery indemnity" in str(err.value)


BOMB = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"


def test_a_bomb_in_the_preview_fails_with_the_limit(services: Services, ready: Shop) -> None:
    step_id = _step_id(services, "reminder_1", ready.id)
    shipped = get_template(services, ready.id, step_id, "fr")
    invoice = next(i for i in preview_invoices(services, ready.id) if not i.b2b)
    with pytest.raises(DraftError) as err:
        preview_template(
            services,
            ready.id,
            step_id,
            invoice.id,
            language="fr",
            subject=shipped.subject,
            body=BOMB + shipped.body,
            now=NOW,
        )
    assert "s of CPU" in str(err.value) or "longer than" in str(err.value)


def test_the_preview_renders_the_draft_on_a_real_invoice(services: Services, ready: Shop) -> None:
    step_id = _step_id(services, "reminder_1", ready.id)
    shipped = get_template(services, ready.id, step_id, "fr")
    samples = preview_invoices(services, ready.id)
    assert {i.b2b for i in samples} == {True, False}
    b2b = next(i for i in samples if i.b2b)
    preview = preview_template(
        services,
        ready.id,
        step_id,
        b2b.id,
        language="fr",
        subject=shipped.subject,
        body="Brouillon du propriétaire.\n\n" + shipped.body,
        now=NOW,
    )
    assert "F-B2B" in preview.subject
    assert preview.text.startswith("Brouillon du propriétaire.")
    assert "Brouillon du propriétaire." in preview.html and preview.problems == ()


def test_a_bomb_the_checks_missed_fails_its_message_only(services: Services, ready: Shop) -> None:
    # A template that bombs only on one real invoice (the samples pass the checks).
    step_id = _step_id(services, "reminder_1", ready.id)
    shipped = get_template(services, ready.id, step_id, "fr")
    sneaky = '{% if ctx.invoices[0].number == "F-FR" %}' + BOMB + "{% endif %}" + shipped.body
    save_template(services, ready.id, step_id, "fr", shipped.subject, sneaky)
    with write_session(services.sessions) as s:
        other = create_shop(s, name="Maison Martin", email="compta@martin.example")
        other.payment_instructions = "IBAN FR76 1111"
    add_invoices(services, other, [normalized("M-1", email="m@martin.example", due_on=DUE)])

    report = dunning_runner(services).tick(NOW)

    assert report.counts().get("failed") == 1
    sent = sorted(str(m["invoices"]) for m in outbox_messages(services))
    assert sent == ["['F-B2B']", "['M-1']"]  # the same shop's other customer, the other shop
    failed = invoice_by_number(services, "F-FR")
    with services.sessions() as s:
        msg = s.scalar(select(Message).where(Message.state == MessageState.FAILED))
        assert msg is not None and msg.customer_id == failed.customer_id
        assert "fr/reminder_1" in (msg.last_error or "")
