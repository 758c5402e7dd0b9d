"""Out-of-order and late deliveries: every ordering converges to the newest state; a paid
invoice never goes back to open on a stale event; each payment is recorded once."""

from __future__ import annotations

import itertools
import time

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from connector.platform import InvoiceStatus
from connector.services import Services
from connector.store.models import Payment, Shop
from tests.support.builders import invoice_by_number
from tests.support.webhooks import (
    invoice_by_external,
    open_invoice,
    seed_invoices,
    shopify_connection,
    shopify_headers,
    shopify_order,
    stripe_connection,
    stripe_headers,
    stripe_invoice_event,
    stripe_refund_event,
)

T = int(time.time()) - 600


def _payments(svc: Services, invoice_id: int) -> int:
    with svc.sessions() as s:
        return int(
            s.scalar(
                select(func.count()).select_from(Payment).where(Payment.invoice_id == invoice_id)
            )
            or 0
        )


STRIPE_EVENTS = {
    "updated": lambda inv: stripe_invoice_event(
        f"evt_upd_{inv}", inv, created=T + 10, kind="invoice.updated", paid=False
    ),
    "paid": lambda inv: stripe_invoice_event(f"evt_paid_{inv}", inv, created=T + 20),
    "refunded": lambda inv: stripe_refund_event(f"evt_ref_{inv}", inv, created=T + 30),
}


@pytest.mark.parametrize("order", list(itertools.permutations(STRIPE_EVENTS)))
def test_stripe_every_ordering_converges_to_the_newest_state(
    services: Services, shop: Shop, client: FlaskClient, order: tuple[str, ...]
) -> None:
    conn_id = stripe_connection(services, shop.id)
    seed_invoices(services, shop.id, conn_id, [open_invoice("in_O1")])
    for name in order:
        body = STRIPE_EVENTS[name]("in_O1")
        resp = client.post(f"/webhooks/stripe/{conn_id}", data=body, headers=stripe_headers(body))
        assert resp.status_code == 200
    inv = invoice_by_number(services, "in_O1")
    assert inv.status is InvoiceStatus.REFUNDED  # the newest event's state, whatever the order
    assert inv.next_action_at is None
    assert _payments(services, inv.id) <= 1


SHOPIFY_EVENTS = {
    "updated": ("orders/updated", "pending", "2026-06-01T10:00:00+02:00"),
    "paid": ("orders/paid", "paid", "2026-06-02T10:00:00+02:00"),
    "refunded": ("orders/updated", "refunded", "2026-06-03T10:00:00+02:00"),
}


@pytest.mark.parametrize("order", list(itertools.permutations(SHOPIFY_EVENTS)))
def test_shopify_every_ordering_converges_to_the_newest_state(
    services: Services, shop: Shop, client: FlaskClient, order: tuple[str, ...]
) -> None:
    conn_id = shopify_connection(services, shop.id)
    seed_invoices(services, shop.id, conn_id, [open_invoice("4242")])
    for name in order:
        topic, financial, updated_at = SHOPIFY_EVENTS[name]
        body = shopify_order(4242, financial, updated_at)
        headers = shopify_headers(body, topic, f"ev-{name}")
        resp = client.post(f"/webhooks/shopify/{conn_id}", data=body, headers=headers)
        assert resp.status_code == 200, resp.get_json()
    inv = invoice_by_external(services, conn_id, "4242")
    assert inv.status is InvoiceStatus.REFUNDED
    assert inv.next_action_at is None
    assert _payments(services, inv.id) <= 1


def test_a_paid_invoice_never_goes_back_to_open_on_a_stale_event(
    services: Services, shop: Shop, client: FlaskClient
) -> None:
    conn_id = stripe_connection(services, shop.id)
    seed_invoices(services, shop.id, conn_id, [open_invoice("in_P1")])
    paid = stripe_invoice_event("evt_p", "in_P1", created=T + 20)
    stale = stripe_invoice_event(
        "evt_s", "in_P1", created=T + 5, kind="invoice.updated", paid=False
    )
    url = f"/webhooks/stripe/{conn_id}"
    assert client.post(url, data=paid, headers=stripe_headers(paid)).status_code == 200
    resp = client.post(url, data=stale, headers=stripe_headers(stale))
    assert resp.status_code == 200
    inv = invoice_by_number(services, "in_P1")
    assert inv.status is InvoiceStatus.PAID and inv.amount_due_minor == 0
    assert inv.next_action_at is None
    assert _payments(services, inv.id) == 1
    # A newer "open" (e.g. the payment reversed on the platform) does move it: forward only.
    newer = stripe_invoice_event(
        "evt_n", "in_P1", created=T + 40, kind="invoice.updated", paid=False
    )
    assert client.post(url, data=newer, headers=stripe_headers(newer)).status_code == 200
    assert invoice_by_number(services, "in_P1").status is InvoiceStatus.OPEN
