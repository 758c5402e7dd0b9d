"""Signed webhook deliveries built the way each platform builds them, and the store state they
act on (connections with encrypted secrets, invoices through the ledger)."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from connector.ingest import upsert_invoices
from connector.platform import InvoiceStatus, NormalizedInvoice
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import Connection, Invoice, Shop
from tests.support.builders import normalized

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
STRIPE_EVENT = json.loads((FIXTURES / "stripe" / "stripe_event_invoice_paid.json").read_bytes())
SHOPIFY_ORDER = json.loads(
    (FIXTURES / "shopify" / "shopify_orders_webhook_test_notification_2019.json").read_bytes()
)
SENDGRID_VECTOR = json.loads(
    (FIXTURES / "sendgrid" / "sendgrid_event_webhook_signed_vector.json").read_text()
)
SENDGRID_BATCH = json.loads(
    (FIXTURES / "sendgrid" / "sendgrid_event_webhook_batch.json").read_text()
)

STRIPE_SECRET = "whsec_relance_test_a"
SHOPIFY_APP_SECRET = "shpss_relance_app_secret"
SHOPIFY_DOMAIN = "atelier-dupont.myshopify.com"
SHOPIFY_SHOP_ID = 690933842  # the canned body's shop (in its order_status_url)


# -- store -------------------------------------------------------------------------------------


def make_connection(
    svc: Services,
    shop_id: int,
    platform: str,
    *,
    secret: str | None = None,
    credentials: dict[str, Any] | None = None,
    external_account: str = "",
) -> int:
    with write_session(svc.sessions) as s:
        conn = Connection(
            shop_id=shop_id,
            platform=platform,
            external_account=external_account,
            credentials_enc=svc.secrets.encrypt_json(credentials or {}),
            webhook_secret_enc=svc.secrets.encrypt(secret) if secret else None,
        )
        s.add(conn)
        s.flush()
        return conn.id


def stripe_connection(svc: Services, shop_id: int, secret: str = STRIPE_SECRET) -> int:
    return make_connection(
        svc, shop_id, "stripe", secret=secret, credentials={"api_key": "rk_test_relance"}
    )


def shopify_connection(
    svc: Services,
    shop_id: int,
    domain: str = SHOPIFY_DOMAIN,
    secret: str = SHOPIFY_APP_SECRET,
    *,
    shopify_shop_id: int | None = None,
    api_base: str | None = None,
    access_token: str = "shpat_x",
) -> int:
    """A Shopify connection; ``shopify_shop_id`` as stored once the webhooks are registered."""
    credentials: dict[str, Any] = {
        "shop": domain,
        "access_token": access_token,
        "client_secret": secret,
    }
    if shopify_shop_id is not None:
        credentials["shop_id"] = str(shopify_shop_id)
    conn_id = make_connection(
        svc, shop_id, "shopify", credentials=credentials, external_account=domain
    )
    if api_base is not None:
        with write_session(svc.sessions) as s:
            row = s.get(Connection, conn_id)
            assert row is not None
            row.api_base = api_base
    return conn_id


def seed_invoices(
    svc: Services, shop_id: int, connection_id: int, items: Sequence[NormalizedInvoice]
) -> None:
    with write_session(svc.sessions) as s:
        shop = s.get(Shop, shop_id)
        conn = s.get(Connection, connection_id)
        assert shop is not None and conn is not None
        for start in range(0, len(items), 500):
            upsert_invoices(
                s, shop, conn, list(items[start : start + 500]), datetime(2020, 1, 1, tzinfo=UTC)
            )


def open_invoice(
    external_id: str,
    *,
    email: str = "marie@client.example",
    amount: str = "108.00",
    currency: str = "USD",
    due_on: date = date(2026, 6, 10),
) -> NormalizedInvoice:
    return normalized(
        external_id,
        email=email,
        amount=amount,
        currency=currency,
        due_on=due_on,
        status=InvoiceStatus.OPEN,
    )


# -- Stripe ------------------------------------------------------------------------------------


def stripe_invoice_event(
    event_id: str,
    invoice_id: str,
    *,
    created: int,
    kind: str = "invoice.paid",
    paid: bool = True,
) -> bytes:
    """A real invoice.paid delivery (shared fixture) re-targeted at one of our invoices."""
    event = copy.deepcopy(STRIPE_EVENT)
    obj = event["data"]["object"]
    event.update(id=event_id, type=kind, created=created)
    obj.update(id=invoice_id, number=invoice_id, created=created - 3600)
    obj["status_transitions"] = {
        "finalized_at": created - 3500,
        "marked_uncollectible_at": None,
        "paid_at": created if paid else None,
        "voided_at": None,
    }
    if paid:
        obj.update(status="paid", amount_paid=10800, amount_remaining=0)
    else:
        obj.update(status="open", amount_paid=0, amount_remaining=10800)
    return json.dumps(event).encode()


def stripe_refund_event(event_id: str, invoice_id: str, *, created: int) -> bytes:
    """charge.refunded as pre-2025 API versions send it (``charge.invoice`` set)."""
    event = copy.deepcopy(STRIPE_EVENT)
    event.update(id=event_id, type="charge.refunded", created=created)
    event["data"] = {
        "object": {
            "id": f"ch_{event_id}",
            "object": "charge",
            "amount": 10800,
            "amount_refunded": 10800,
            "currency": "usd",
            "invoice": invoice_id,
            "payment_intent": f"pi_{invoice_id}",
            "refunded": True,
        }
    }
    return json.dumps(event).encode()


def stripe_dispute_event(event_id: str, invoice_id: str, *, created: int) -> bytes:
    event = copy.deepcopy(STRIPE_EVENT)
    event.update(id=event_id, type="charge.dispute.created", created=created)
    event["data"] = {
        "object": {
            "id": f"dp_{event_id}",
            "object": "dispute",
            "amount": 10800,
            "currency": "usd",
            "charge": f"ch_{invoice_id}",
            "payment_intent": f"pi_{invoice_id}",
        }
    }
    return json.dumps(event).encode()


def stripe_headers(
    body: bytes, secret: str = STRIPE_SECRET, t: int | None = None
) -> dict[str, str]:
    ts = int(time.time()) if t is None else t
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={ts},v1={mac}", "Content-Type": "application/json"}


# -- Shopify -----------------------------------------------------------------------------------


def shopify_order(
    order_id: int,
    financial_status: str,
    updated_at: str,
    *,
    domain: str = SHOPIFY_DOMAIN,
    shopify_shop_id: int = SHOPIFY_SHOP_ID,
) -> bytes:
    """The canned orders/* body, as one of our orders at one version, in the shop ``domain``."""
    body = copy.deepcopy(SHOPIFY_ORDER)
    body.update(
        order_status_url=f"https://{domain}/{shopify_shop_id}/orders/{order_id:x}/authenticate?key=k",
        id=order_id,
        financial_status=financial_status,
        updated_at=updated_at,
        cancelled_at=None,
        cancel_reason=None,
        total_price="108.00",
        subtotal_price="108.00",
        currency="USD",
    )
    return json.dumps(body).encode()


def shopify_headers(
    body: bytes,
    topic: str,
    event_id: str,
    *,
    secret: str = SHOPIFY_APP_SECRET,
    domain: str = SHOPIFY_DOMAIN,
) -> dict[str, str]:
    mac = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    return {
        "X-Shopify-Hmac-Sha256": mac,
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": domain,
        "X-Shopify-Event-Id": event_id,
        "X-Shopify-Webhook-Id": f"wh-{event_id}",
        "X-Shopify-API-Version": "2026-10",
        "Content-Type": "application/json",
    }


# -- SendGrid ----------------------------------------------------------------------------------


class SendGridSigner:
    """A P-256 key pair: signs batches exactly as SendGrid does (ECDSA over timestamp + body)."""

    def __init__(self) -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        der = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public_key_b64 = base64.b64encode(der).decode()

    def headers(self, body: bytes, timestamp: str | None = None) -> dict[str, str]:
        ts = timestamp or str(int(time.time()))
        signature = self._key.sign(ts.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": ts,
            "Content-Type": "application/json",
        }


def invoice_by_external(svc: Services, connection_id: int, external_id: str) -> Invoice:
    from sqlalchemy import select

    with svc.sessions() as s:
        inv = s.scalar(
            select(Invoice).where(
                Invoice.connection_id == connection_id, Invoice.external_id == external_id
            )
        )
        assert inv is not None
        return inv
