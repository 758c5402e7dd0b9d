"""verify_webhook / parse_webhook on a real Stripe delivery, signed the way Stripe signs it."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from adapters.stripe import StripeAdapter
from adapters.stripe.normalize import normalize_invoice
from connector.platform import (
    ConnectionContext,
    EventKind,
    InvoiceStatus,
    WebhookParseError,
)
from tests.support.fake_stripe import sign_payload

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "stripe"
SECRET = "whsec_test_0123456789abcdef0123456789abcdef"
RAW = (FIXTURE / "stripe_event_invoice_paid.json").read_bytes()
EVENT = json.loads(RAW)


def _conn(account: str | None = None, secret: str | None = SECRET) -> ConnectionContext:
    credentials: dict[str, Any] = {"api_key": "rk_test_relance"}
    if account:
        credentials["account"] = account
    return ConnectionContext(
        id=7,
        shop_id=1,
        platform="stripe",
        external_account=account or "",
        credentials=credentials,
        webhook_secret=secret,
        api_base=None,
        settings={},
    )


@pytest.fixture
def adapter() -> StripeAdapter:
    return StripeAdapter()


def _headers(body: bytes, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    return {"Stripe-Signature": sign_payload(body, secret, timestamp)}


# -- signatures --------------------------------------------------------------------------------


def test_the_shared_invoice_paid_delivery_verifies_and_parses_to_paid(
    adapter: StripeAdapter,
) -> None:
    conn = _conn()
    headers = _headers(RAW)

    assert adapter.verify_webhook(conn, headers, RAW) is True
    event = adapter.parse_webhook(conn, headers, RAW)

    assert event.kind is EventKind.PAID
    assert event.dedupe_key == "evt_1Q2fklBrSjgsps2Dx0mEXsXv" == EVENT["id"]
    assert event.topic == "invoice.paid"
    assert event.occurred_at == datetime.fromtimestamp(1727211273, tz=UTC)
    assert event.external_invoice_id == "in_1Q2fh8BrSjgsps2DUqQsGLDj"
    assert event.payment_amount is not None and str(event.payment_amount) == "108.00 USD"
    assert event.payment_external_id == "pi_3Q2fhABrSjgsps2D23ouBTWS"  # a 2020 payload has it
    invoice = event.invoice
    assert invoice is not None
    assert invoice.status is InvoiceStatus.PAID
    assert invoice.number == "54B03F60-0003"
    assert invoice.amount_due.amount == Decimal("0.00")
    assert str(invoice.total) == "108.00 USD"
    assert invoice.customer.email == "customer@example.com"
    assert invoice.customer.external_id == "cus_QsYn1aSStYv4tf"
    assert invoice.due_at == datetime.fromtimestamp(1727215199, tz=UTC)
    assert invoice.issued_at == datetime.fromtimestamp(1727211050, tz=UTC)
    assert invoice.updated_at == event.occurred_at  # paid_at 1727211272 < event 1727211273
    assert invoice.payment_url is not None and invoice.payment_url.startswith("https://invoice")


def test_lower_case_header_names_work(adapter: StripeAdapter) -> None:
    headers = {"stripe-signature": sign_payload(RAW, SECRET)}
    assert adapter.verify_webhook(_conn(), headers, RAW) is True


@pytest.mark.parametrize("index", [0, len(RAW) // 2, len(RAW) - 3])
def test_one_changed_byte_fails(adapter: StripeAdapter, index: int) -> None:
    headers = _headers(RAW)
    tampered = bytearray(RAW)
    tampered[index] = ord("X") if tampered[index] != ord("X") else ord("Y")
    assert adapter.verify_webhook(_conn(), headers, bytes(tampered)) is False


def test_a_body_that_is_not_utf8_fails_without_raising(adapter: StripeAdapter) -> None:
    body = RAW[:-3] + b"\xff\xfe}"
    assert adapter.verify_webhook(_conn(), _headers(body), body) is False


def test_wrong_secret_fails(adapter: StripeAdapter) -> None:
    headers = _headers(RAW, secret="whsec_someone_else")
    assert adapter.verify_webhook(_conn(), headers, RAW) is False


def test_reserialized_json_fails(adapter: StripeAdapter) -> None:
    headers = _headers(RAW)
    reserialized = json.dumps(json.loads(RAW)).encode()
    assert json.loads(reserialized) == EVENT and reserialized != RAW
    assert adapter.verify_webhook(_conn(), headers, reserialized) is False


def test_a_timestamp_400_seconds_old_fails(adapter: StripeAdapter) -> None:
    old = _headers(RAW, timestamp=int(time.time()) - 400)
    recent = _headers(RAW, timestamp=int(time.time()) - 200)
    assert adapter.verify_webhook(_conn(), old, RAW) is False
    assert adapter.verify_webhook(_conn(), recent, RAW) is True


def test_a_timestamp_far_in_the_future_fails(adapter: StripeAdapter) -> None:
    future = _headers(RAW, timestamp=int(time.time()) + 400)
    assert adapter.verify_webhook(_conn(), future, RAW) is False


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Stripe-Signature": ""},
        {"Stripe-Signature": "garbage"},
        {"Stripe-Signature": "t=notanumber,v1=abc"},
        {"Stripe-Signature": f"t={int(time.time())}"},
    ],
)
def test_missing_or_unreadable_header_fails(
    adapter: StripeAdapter, headers: dict[str, str]
) -> None:
    assert adapter.verify_webhook(_conn(), headers, RAW) is False


def test_no_secret_on_the_connection_fails(adapter: StripeAdapter) -> None:
    assert adapter.verify_webhook(_conn(secret=None), _headers(RAW), RAW) is False


def test_any_matching_v1_among_several_passes(adapter: StripeAdapter) -> None:
    """During a secret roll Stripe sends one v1 per secret."""
    t = int(time.time())
    good = sign_payload(RAW, SECRET, t).split(",")[1]
    other = sign_payload(RAW, "whsec_old", t).split(",")[1]
    headers = {"Stripe-Signature": f"t={t},{other},{good}"}
    assert adapter.verify_webhook(_conn(), headers, RAW) is True


# -- parsing -----------------------------------------------------------------------------------


def _event(kind: str, obj: dict[str, Any], **extra: Any) -> bytes:
    event = copy.deepcopy(EVENT)
    event.update(type=kind, id=f"evt_{kind.replace('.', '_')}", **extra)
    event["data"] = {"object": obj}
    return json.dumps(event).encode()


def _invoice(**changes: Any) -> dict[str, Any]:
    invoice: dict[str, Any] = copy.deepcopy(EVENT["data"]["object"])
    invoice.update(changes)
    return invoice


def _parse(adapter: StripeAdapter, body: bytes, account: str | None = None) -> Any:
    return adapter.parse_webhook(_conn(account), {}, body)


OPEN = {"status": "open", "amount_paid": 0, "amount_remaining": 10800}


@pytest.mark.parametrize(
    ("kind", "changes", "expected", "status"),
    [
        ("invoice.payment_succeeded", {}, EventKind.PAID, InvoiceStatus.PAID),
        (
            "invoice.paid",
            {"status": "open", "amount_paid": 800, "amount_remaining": 10000},
            EventKind.PARTIALLY_PAID,
            InvoiceStatus.PARTIALLY_PAID,
        ),
        ("invoice.voided", {"status": "void"}, EventKind.VOIDED, InvoiceStatus.VOID),
        (
            "invoice.marked_uncollectible",
            {"status": "uncollectible"},
            EventKind.VOIDED,
            InvoiceStatus.UNCOLLECTIBLE,
        ),
        ("invoice.updated", OPEN, EventKind.UPDATED, InvoiceStatus.OPEN),
        ("invoice.finalized", OPEN, EventKind.UPDATED, InvoiceStatus.OPEN),
        ("invoice.overdue", OPEN, EventKind.UPDATED, InvoiceStatus.OPEN),
    ],
)
def test_invoice_events(
    adapter: StripeAdapter,
    kind: str,
    changes: dict[str, Any],
    expected: EventKind,
    status: InvoiceStatus,
) -> None:
    event = _parse(adapter, _event(kind, _invoice(**changes)))
    assert event.kind is expected
    assert event.invoice is not None and event.invoice.status is status
    assert event.external_invoice_id == "in_1Q2fh8BrSjgsps2DUqQsGLDj"


def test_a_paid_event_carries_the_payment_not_the_running_total(adapter: StripeAdapter) -> None:
    body = json.loads(_event("invoice.paid", _invoice()))
    body["data"]["previous_attributes"] = {"amount_paid": 800, "status": "open"}
    event = _parse(adapter, json.dumps(body).encode())
    assert event.kind is EventKind.PAID
    assert str(event.payment_amount) == "100.00 USD"


@pytest.mark.parametrize(
    "changes",
    [
        {"status": "draft"},
        {"collection_method": "charge_automatically"},
    ],
)
def test_drafts_and_automatic_collection_are_ignored(
    adapter: StripeAdapter, changes: dict[str, Any]
) -> None:
    event = _parse(adapter, _event("invoice.updated", _invoice(**changes)))
    assert event.kind is EventKind.IGNORED and event.invoice is None


@pytest.mark.parametrize(
    ("kind", "obj", "expected", "amount", "payment", "invoice_id"),
    [
        (
            "charge.refunded",
            {
                "id": "ch_1",
                "object": "charge",
                "amount_refunded": 500,
                "currency": "eur",
                "payment_intent": "pi_1",
            },
            EventKind.REFUNDED,
            "5.00 EUR",
            "pi_1",
            None,
        ),
        (
            "refund.created",
            {
                "id": "re_1",
                "object": "refund",
                "amount": 300,
                "currency": "jpy",
                "status": "succeeded",
                "charge": "ch_1",
                "payment_intent": None,
            },
            EventKind.REFUNDED,
            "300 JPY",
            "ch_1",
            None,
        ),
        (
            "refund.updated",
            {
                "id": "re_1",
                "object": "refund",
                "amount": 300,
                "currency": "eur",
                "status": "failed",
            },
            EventKind.IGNORED,
            None,
            None,
            None,
        ),
        (
            "charge.dispute.created",
            {
                "id": "dp_1",
                "object": "dispute",
                "amount": 10800,
                "currency": "usd",
                "charge": "ch_1",
                "payment_intent": "pi_1",
            },
            EventKind.DISPUTED,
            "108.00 USD",
            "pi_1",
            None,
        ),
        (
            "credit_note.created",
            {"id": "cn_1", "object": "credit_note", "invoice": "in_9", "currency": "eur"},
            EventKind.UPDATED,
            None,
            None,
            "in_9",
        ),
        (
            "invoice_payment.paid",
            {
                "id": "inpay_1",
                "object": "invoice_payment",
                "invoice": "in_9",
                "amount_paid": 2500,
                "currency": "eur",
                "payment": {"type": "payment_intent", "payment_intent": "pi_9"},
            },
            EventKind.UPDATED,
            "25.00 EUR",
            "pi_9",
            "in_9",
        ),
        (
            "customer.created",
            {"id": "cus_1", "object": "customer"},
            EventKind.IGNORED,
            None,
            None,
            None,
        ),
    ],
)
def test_payment_side_events(
    adapter: StripeAdapter,
    kind: str,
    obj: dict[str, Any],
    expected: EventKind,
    amount: str | None,
    payment: str | None,
    invoice_id: str | None,
) -> None:
    event = _parse(adapter, _event(kind, obj))
    assert event.kind is expected
    assert (str(event.payment_amount) if event.payment_amount else None) == amount
    assert event.payment_external_id == payment
    assert event.external_invoice_id == invoice_id
    assert event.invoice is None


def test_connect_events_of_another_account_are_ignored(adapter: StripeAdapter) -> None:
    mine = _parse(adapter, _event("invoice.paid", _invoice(), account="acct_A"), "acct_A")
    theirs = _parse(adapter, _event("invoice.paid", _invoice(), account="acct_B"), "acct_A")
    direct = _parse(adapter, _event("invoice.paid", _invoice(), account="acct_B"), None)
    assert mine.kind is EventKind.PAID
    assert theirs.kind is EventKind.IGNORED and theirs.invoice is None
    assert direct.kind is EventKind.IGNORED


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'{"id": "evt_1", "type": "invoice.paid", "created": 1}',
        b'{"id": "evt_1", "type": "invoice.paid", "data": {"object": {}}}',
        json.dumps({**EVENT, "id": None}).encode(),
        _event("invoice.paid", _invoice(currency="zzz")),
        _event("invoice.paid", _invoice(amount_remaining="10")),
        _event("charge.refunded", {"object": "charge", "amount_refunded": 1, "currency": "xx"}),
    ],
)
def test_unreadable_events_raise_webhook_parse_error(adapter: StripeAdapter, body: bytes) -> None:
    with pytest.raises(WebhookParseError):
        _parse(adapter, body)


def test_verification_happens_on_raw_bytes_before_parsing(adapter: StripeAdapter) -> None:
    """A body verify rejects is never one parse would need: the two are independent calls."""
    verify: Callable[..., bool] = adapter.verify_webhook
    assert verify(_conn(), _headers(b"not json"), b"not json") is True
    with pytest.raises(WebhookParseError):
        _parse(adapter, b"not json")


def test_the_invoice_customer_address_is_the_postal_address() -> None:
    invoice: dict[str, Any] = copy.deepcopy(EVENT["data"]["object"])
    assert invoice["customer_address"] is None  # as delivered: no address, none stored
    assert normalize_invoice(invoice).customer.postal_address is None
    # The Address object Stripe freezes on the invoice at finalization.
    invoice["customer_address"] = {
        "city": "Paris",
        "country": "FR",
        "line1": "11 rue Pierre et Marie Curie",
        "line2": None,
        "postal_code": "75005",
        "state": None,
    }
    address = normalize_invoice(invoice).customer.postal_address
    assert address is not None
    assert address.text() == "11 rue Pierre et Marie Curie\n75005 Paris\nFR"
    # An address with every part null (as Stripe sends for a customer without one) is none.
    invoice["customer_address"] = dict.fromkeys(invoice["customer_address"])
    assert normalize_invoice(invoice).customer.postal_address is None
