"""fetch_status, register_webhooks and discovery: the stripe library against the local Stripe."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from decimal import Decimal
from importlib.metadata import EntryPoint, entry_points

import pytest
import stripe.params

import connector.platform as platform_module
from adapters.stripe import StripeAdapter, settings
from connector.platform import (
    ENTRY_POINT_GROUP,
    AdapterAuthError,
    AdapterMalformedResponse,
    AdapterRateLimited,
    ConnectionContext,
    InvoiceStatus,
    PlatformAdapter,
    UnregistersWebhooks,
    load_adapters,
)
from tests.adapters.stripe.conftest import DAY, T0, Clock, Sleeps
from tests.support.fake_stripe import FakeStripe
from tests.support.scripted_fake import Reply

# -- fetch_status ------------------------------------------------------------------------------


def test_fetch_status_reads_one_invoice(
    fake: FakeStripe, adapter: StripeAdapter, conn: ConnectionContext, clock: Clock
) -> None:
    customer = fake.add_customer(email="paul@example.fr", name="Paul", locales=["fr-FR", "en"])
    inv = fake.add_invoice(created=T0 - DAY, currency="eur", total=12000, customer=customer)
    fake.pay(inv["id"], at=T0 - 100, amount=2000)
    clock.advance(5)

    got = adapter.fetch_status(conn, inv["id"])

    assert got is not None
    assert got.status is InvoiceStatus.PARTIALLY_PAID
    assert got.amount_due.amount == Decimal("100.00") and got.total.amount == Decimal("120.00")
    assert got.customer.locale == "fr"
    assert got.customer.email == "paul@example.fr"
    assert got.updated_at.timestamp() == T0 + 5  # Stripe's Date when it answered
    (call,) = fake.requests
    assert call.method == "GET" and call.path == f"/v1/invoices/{inv['id']}"
    assert call.params == {"expand": ["customer"]}


def test_fetch_status_sees_a_payment(
    fake: FakeStripe, adapter: StripeAdapter, conn: ConnectionContext
) -> None:
    inv = fake.add_invoice(created=T0 - DAY)
    fake.pay(inv["id"], at=T0 - 10)
    got = adapter.fetch_status(conn, inv["id"])
    assert got is not None and got.status is InvoiceStatus.PAID and not got.status.is_owed


def test_fetch_status_of_an_unknown_invoice_is_none(
    fake: FakeStripe, adapter: StripeAdapter, conn: ConnectionContext
) -> None:
    assert adapter.fetch_status(conn, "in_doesnotexist") is None
    assert adapter.fetch_status(conn, "in_../../v1/events") is None  # one path segment
    assert [r.path for r in fake.requests] == [
        "/v1/invoices/in_doesnotexist",
        "/v1/invoices/in_..%2F..%2Fv1%2Fevents",
    ]


def test_fetch_status_of_another_connected_account_is_none(
    fake: FakeStripe, adapter: StripeAdapter, make_conn: Callable[..., ConnectionContext]
) -> None:
    inv = fake.add_invoice(created=T0 - DAY, account="acct_B")
    assert adapter.fetch_status(make_conn(account="acct_A"), inv["id"]) is None
    assert adapter.fetch_status(make_conn(account="acct_B"), inv["id"]) is not None


def test_fetch_status_errors(
    fake: FakeStripe,
    adapter: StripeAdapter,
    conn: ConnectionContext,
    make_conn: Callable[..., ConnectionContext],
    sleeps: Sleeps,
) -> None:
    inv = fake.add_invoice(created=T0 - DAY)
    route = "/v1/invoices/{invoice}"
    with pytest.raises(AdapterAuthError):
        adapter.fetch_status(make_conn(api_key="sk_wrong"), inv["id"])
    fake.script("GET", route, [Reply(429)] * 10)
    with pytest.raises(AdapterRateLimited):
        adapter.fetch_status(conn, inv["id"])
    fake.heal()
    fake.script("GET", route, [Reply(200, body=b"{truncated")])
    with pytest.raises(AdapterMalformedResponse):
        adapter.fetch_status(conn, inv["id"])
    fake.script("GET", route, [Reply(200, body={"id": inv["id"], "object": "invoice"})])
    with pytest.raises(AdapterMalformedResponse):
        adapter.fetch_status(conn, inv["id"])
    draft = fake.add_invoice(created=T0 - DAY, status="draft")
    with pytest.raises(AdapterMalformedResponse):
        adapter.fetch_status(conn, draft["id"])


def test_no_api_key_is_an_auth_error(
    fake: FakeStripe, adapter: StripeAdapter, make_conn: Callable[..., ConnectionContext]
) -> None:
    with pytest.raises(AdapterAuthError):
        adapter.fetch_status(make_conn(api_key=""), "in_1")
    assert fake.requests == []


# -- register_webhooks -------------------------------------------------------------------------


def _sdk_event_names() -> set[str]:
    annotation = stripe.params.WebhookEndpointCreateParams.__annotations__["enabled_events"]
    (literal,) = typing.get_args(annotation)
    return set(typing.get_args(literal))


def test_register_webhooks_returns_the_secret(
    fake: FakeStripe, adapter: StripeAdapter, conn: ConnectionContext
) -> None:
    registration = adapter.register_webhooks(conn, "https://relance.example.com/")

    (endpoint,) = fake.webhook_endpoints.values()
    assert registration.secret == endpoint["secret"] and registration.secret.startswith("whsec_")
    assert registration.external_ids == [endpoint["id"]]
    (create,) = fake.calls("POST", "/v1/webhook_endpoints")
    assert create.params["url"] == "https://relance.example.com/webhooks/stripe/7"
    assert create.params["enabled_events"] == list(settings.WEBHOOK_EVENTS)
    assert create.params["api_version"] == settings.API_VERSION
    assert create.params["connect"] == "false"
    assert "stripe-account" not in create.headers


def test_registered_and_synced_events_exist_in_the_sdk() -> None:
    names = _sdk_event_names()
    assert "invoice.paid" in names and len(names) > 100
    assert set(settings.WEBHOOK_EVENTS) <= names
    assert set(settings.SYNC_EVENT_TYPES) <= names
    assert len(settings.SYNC_EVENT_TYPES) <= 20  # GET /v1/events takes at most 20 types


def test_register_webhooks_for_a_connected_account(
    fake: FakeStripe, adapter: StripeAdapter, make_conn: Callable[..., ConnectionContext]
) -> None:
    registration = adapter.register_webhooks(make_conn(account="acct_1C"), "https://r.example")
    (create,) = fake.calls("POST", "/v1/webhook_endpoints")
    assert create.params["connect"] == "true"
    # a Connect endpoint belongs to the platform: no Stripe-Account header
    assert "stripe-account" not in create.headers
    assert registration.secret


def test_registering_again_replaces_the_endpoint(
    fake: FakeStripe, adapter: StripeAdapter, conn: ConnectionContext
) -> None:
    other = adapter.register_webhooks(dataclasses.replace(conn, id=8), "https://r.example")
    first = adapter.register_webhooks(conn, "https://r.example")
    second = adapter.register_webhooks(conn, "https://r.example")

    assert first.secret != second.secret
    assert set(fake.webhook_endpoints) == {other.external_ids[0], second.external_ids[0]}
    assert [r.path for r in fake.calls("DELETE", "/v1/webhook_endpoints", prefix=True)] == [
        f"/v1/webhook_endpoints/{first.external_ids[0]}"
    ]


def test_registration_survives_a_failed_cleanup(
    fake: FakeStripe, adapter: StripeAdapter, conn: ConnectionContext
) -> None:
    fake.script("GET", "/v1/webhook_endpoints", [Reply(500)])
    registration = adapter.register_webhooks(conn, "https://r.example")
    assert registration.secret == fake.webhook_endpoints[registration.external_ids[0]]["secret"]


def test_unregister_webhooks_deletes_the_endpoint(
    fake: FakeStripe, adapter: StripeAdapter, conn: ConnectionContext
) -> None:
    registration = adapter.register_webhooks(conn, "https://r.example")
    assert isinstance(adapter, UnregistersWebhooks)
    adapter.unregister_webhooks(conn, registration.external_ids)
    assert fake.webhook_endpoints == {}
    adapter.unregister_webhooks(conn, registration.external_ids)  # already gone (404): fine


# -- discovery ---------------------------------------------------------------------------------


def test_the_entry_point_names_the_adapter() -> None:
    (ep,) = entry_points(group=ENTRY_POINT_GROUP, name="stripe")
    assert ep.value == "adapters.stripe:StripeAdapter"
    assert ep.load() is StripeAdapter


def test_load_adapters_discovers_stripe(monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the core's own loader; only the stripe entry point is offered, so another
    adapter that is not importable yet cannot hide this one."""
    (ep,) = entry_points(group=ENTRY_POINT_GROUP, name="stripe")

    def only_stripe(*, group: str) -> list[EntryPoint]:
        return [ep] if group == ENTRY_POINT_GROUP else []

    monkeypatch.setattr(platform_module, "entry_points", only_stripe)
    adapter = load_adapters()["stripe"]
    assert isinstance(adapter, StripeAdapter) and isinstance(adapter, PlatformAdapter)
    assert adapter.platform == "stripe"
    fields = {f.name: f for f in adapter.credential_fields}
    assert fields["api_key"].secret and fields["api_key"].required
    assert fields["account"].is_account and not fields["account"].required
