"""The ledger's customer upsert: new customers inserted, changed ones updated, unchanged ones
left alone, and an erased customer's personal data never brought back by a later sync."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime

from sqlalchemy import select

from connector.mail.outbox import OutboxTransport
from connector.runners import dunning_runner
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import Customer, Shop, Task, TaskKind
from tests.support.builders import add_invoices, normalized, paris

DUE = date(2026, 6, 10)


def customers(svc: Services) -> dict[str, Customer]:
    with svc.sessions() as s:
        return {c.external_id: c for c in s.scalars(select(Customer))}


def test_new_changed_and_unchanged_customers(services: Services, shop: Shop) -> None:
    first = normalized("F-1", email="a@client.example", customer_id="c-a", due_on=DUE)
    other = normalized("F-2", email="b@client.example", customer_id="c-b", due_on=DUE)
    add_invoices(services, shop, [first, other])
    before = customers(services)
    assert {k: (c.email, c.name) for k, c in before.items()} == {
        "c-a": ("a@client.example", "Marie Curie"),
        "c-b": ("b@client.example", "Marie Curie"),
    }
    renamed = replace(
        first,
        updated_at=datetime(2021, 1, 1, tzinfo=UTC),
        customer=replace(first.customer, name="Marie Skłodowska-Curie", email="m@client.example"),
    )
    add_invoices(services, shop, [renamed, other])
    after = customers(services)
    assert (after["c-a"].email, after["c-a"].name) == ("m@client.example", "Marie Skłodowska-Curie")
    assert after["c-a"].id == before["c-a"].id  # updated in place, not a second row
    assert after["c-b"].updated_at == before["c-b"].updated_at  # unchanged: not written


def test_an_erased_customer_is_never_resurrected(services: Services, shop: Shop) -> None:
    item = normalized("F-1", email="a@client.example", customer_id="c-a", due_on=DUE)
    add_invoices(services, shop, [item])
    with write_session(services.sessions) as s:
        cust = s.scalar(select(Customer).where(Customer.external_id == "c-a"))
        assert cust is not None
        cust.email = cust.name = cust.company = cust.phone = None
        cust.erased_at = datetime(2026, 1, 1, tzinfo=UTC)
    resynced = replace(
        item,
        updated_at=datetime(2021, 1, 1, tzinfo=UTC),
        customer=replace(item.customer, locale="en", is_b2b=True),
    )
    add_invoices(services, shop, [resynced])
    cust = customers(services)["c-a"]
    assert (cust.email, cust.name, cust.company, cust.phone) == (None, None, None, None)
    assert (cust.locale, cust.is_b2b) == ("en", True)  # what is not personal still follows


def test_two_payments_under_one_platform_id_are_both_recorded(
    services: Services, shop: Shop
) -> None:
    """One PaymentIntent can carry two partial payments of an invoice: the second must not be
    refused as a duplicate (the unique key would fail the apply and leave the invoice owed)."""
    from connector.ledger import lock_invoice, set_state
    from connector.platform import InvoiceStatus
    from connector.store.models import Invoice, Payment, PaymentSource

    add_invoices(
        services, shop, [normalized("F-P", email="p@client.example", amount="100.00", due_on=DUE)]
    )
    now = datetime(2026, 6, 1, tzinfo=UTC)
    for left, status in ((6000, InvoiceStatus.PARTIALLY_PAID), (0, InvoiceStatus.PAID)):
        with write_session(services.sessions) as s:
            invoice_id = s.scalar(select(Invoice.id).where(Invoice.external_id == "F-P"))
            assert invoice_id is not None
            inv = lock_invoice(s, invoice_id)
            assert inv is not None
            set_state(
                s,
                inv,
                status=status,
                amount_due_minor=left,
                now=now,
                source=PaymentSource.WEBHOOK,
                payment_external_id="pi_same",
            )
    with services.sessions() as s:
        paid = sorted((p.external_id, p.amount_minor) for p in s.scalars(select(Payment)))
        inv = s.scalar(select(Invoice).where(Invoice.external_id == "F-P"))
    assert paid == [("pi_same", 4000), ("pi_same#2", 6000)]
    assert inv is not None and inv.status is InvoiceStatus.PAID


def invalid_email_tasks(svc: Services) -> list[Task]:
    with svc.sessions() as s:
        return list(s.scalars(select(Task).where(Task.kind == TaskKind.INVALID_EMAIL)))


def test_an_address_the_provider_refuses_blocks_email_and_asks_the_owner(
    services: Services, shop: Shop
) -> None:
    """The sync never fails on it: the customer is stored, no email is attempted, one task."""
    bad = normalized("F-1", email="jéan@exemple.fr", customer_id="c-j", due_on=DUE)
    good = normalized("F-2", email="b@client.example", customer_id="c-b", due_on=DUE)
    add_invoices(services, shop, [bad, good])
    stored = customers(services)
    assert stored["c-j"].email == "jéan@exemple.fr"  # kept as the platform has it, to be fixed
    reason = stored["c-j"].email_blocked_reason or ""
    assert reason.startswith("invalid address: non-ASCII character 'é'")
    assert stored["c-b"].email_blocked_reason is None
    [task] = invalid_email_tasks(services)
    assert task.customer_id == stored["c-j"].id and "jéan@exemple.fr" in (task.detail or "")
    add_invoices(services, shop, [replace(bad, updated_at=datetime(2021, 1, 1, tzinfo=UTC))])
    assert len(invalid_email_tasks(services)) == 1  # one task per customer, however many syncs

    report = dunning_runner(services, transport=OutboxTransport(services.settings.outbox_dir)).tick(
        paris(date(2026, 6, 11))
    )
    sent_to = [json.loads(p.read_text())["to"] for p in services.settings.outbox_dir.glob("*")]
    assert sent_to == ["b@client.example"]
    assert report.counts()["sent"] == 1

    fixed = replace(
        bad,
        updated_at=datetime(2022, 1, 1, tzinfo=UTC),
        customer=replace(bad.customer, email="jean@exemple.fr"),
    )
    add_invoices(services, shop, [fixed])
    assert customers(services)["c-j"].email_blocked_reason is None  # the platform fixed it

    # A bounce is the provider's word on a real address: a new address doesn't lift it.
    with write_session(services.sessions) as s:
        cust = s.scalar(select(Customer).where(Customer.external_id == "c-j"))
        assert cust is not None
        cust.email_blocked_reason = "bounce: 550 no such user"
    moved = replace(
        fixed,
        updated_at=datetime(2023, 1, 1, tzinfo=UTC),
        customer=replace(fixed.customer, email="jean2@exemple.fr"),
    )
    add_invoices(services, shop, [moved])
    assert customers(services)["c-j"].email_blocked_reason == "bounce: 550 no such user"
