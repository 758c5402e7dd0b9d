"""The demo's three platforms: a local Stripe, Shopify and WooCommerce, each holding some of the
demo shop's unpaid invoices, for ``relance demo`` and the first run's "load demo data" to sync
through the real adapters.

The data is a pure function of ``anchor`` (the instant the demo shop was first loaded): the same
ids, numbers, dates and amounts every time the servers start, so a second run's sync finds what
the first one stored and changes nothing. ``paid`` lists the invoices already paid on an earlier
run: the platform says so too, as a real one would.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self

from connector.sandbox.shopify import FakeClock, FakeShopify, make_order
from connector.sandbox.stripe import DEFAULT_API_KEY, FakeStripe, sign_payload
from connector.sandbox.woocommerce import (
    CONSUMER_KEY,
    CONSUMER_SECRET,
    SITE_URL,
    FakeWooCommerce,
)

SHOPIFY_DOMAIN = "boutique-demo.myshopify.com"
SHOPIFY_CLIENT_ID = "relance-demo-app"
SHOPIFY_CLIENT_SECRET = "shpss_relance_demo"
WOO_DUE_META = "_relance_due_date"  # one of the WooCommerce adapter's due-date meta keys


@dataclass(frozen=True, slots=True)
class DemoInvoice:
    platform: str  # "stripe" | "shopify" | "woocommerce"
    number: str
    customer: str
    email: str
    amount: str  # EUR, two decimals
    days_late: int  # negative: not due yet
    company: bool
    street: str


DEMO_INVOICES: tuple[DemoInvoice, ...] = (
    DemoInvoice("stripe", "DEMO-001", "Camille Martin", "camille@demo.example", "89.00", -2,
                False, "1 rue de la République"),
    DemoInvoice("stripe", "DEMO-002", "Atelier Lenoir SARL", "compta@lenoir.example", "1240.00",
                1, True, "2 rue de la République"),
    DemoInvoice("shopify", "DEMO-003", "Hugo Bernard", "hugo@demo.example", "45.50", 7, False,
                "3 rue de la République"),
    DemoInvoice("shopify", "DEMO-004", "Brasserie du Port SAS", "factures@port.example",
                "3200.00", 14, True, "4 rue de la République"),
    DemoInvoice("woocommerce", "DEMO-005", "Léa Dubois", "lea@demo.example", "150.00", 30,
                False, "5 rue de la République"),
)  # fmt: skip
#: The invoice whose payment the demo announces by a signed Stripe ``invoice.paid`` webhook.
PAID_BY_WEBHOOK = "DEMO-002"


def _cents(amount: str) -> int:
    units, _, cents = amount.partition(".")
    return int(units) * 100 + int((cents + "00")[:2])


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


class DemoPlatforms:
    """The three servers on 127.0.0.1, seeded; ``with DemoPlatforms(anchor) as p: …``."""

    def __init__(self, anchor: datetime, *, paid: Collection[str] = ()) -> None:
        self.anchor = anchor
        self.paid = frozenset(paid)
        self.stripe = FakeStripe(api_keys=(DEFAULT_API_KEY,))
        self.shopify = FakeShopify(clock=FakeClock(anchor))
        self.woocommerce = FakeWooCommerce(utc_offset_hours=1)
        self.stripe_ids: dict[str, str] = {}  # number → Stripe invoice id
        self._shopify_token = ""
        self._stack = ExitStack()

    def __enter__(self) -> Self:
        with ExitStack() as started:  # one that fails to start stops the others
            for server in (self.stripe, self.shopify, self.woocommerce):
                started.enter_context(server)
            self._stack = started.pop_all()
        self._shopify_token = self.shopify.issue_token_pair(None)["access_token"]
        for item in DEMO_INVOICES:
            {"stripe": self._stripe, "shopify": self._shopify, "woocommerce": self._woo}[
                item.platform
            ](item)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stack.__exit__(kind, exc, tb)

    # -- what the demo connects with -------------------------------------------------------------

    def api_base(self, platform: str) -> str:
        return {
            "stripe": self.stripe.url,
            "shopify": self.shopify.base_url,
            "woocommerce": self.woocommerce.url,
        }[platform]

    def credentials(self, platform: str) -> dict[str, str | None]:
        every: dict[str, dict[str, str | None]] = {
            "stripe": {"api_key": DEFAULT_API_KEY, "account": None},
            "shopify": {
                "shop": SHOPIFY_DOMAIN,
                "access_token": self._shopify_token,
                "client_id": SHOPIFY_CLIENT_ID,
                "client_secret": SHOPIFY_CLIENT_SECRET,
            },
            "woocommerce": {
                "site_url": SITE_URL,
                "consumer_key": CONSUMER_KEY,
                "consumer_secret": CONSUMER_SECRET,
            },
        }
        return every[platform]

    def stripe_payment(self, number: str, secret: str, paid_at: datetime) -> tuple[bytes, str]:
        """The invoice paid at Stripe: the ``invoice.paid`` event's body as Stripe sends it and
        its ``Stripe-Signature`` header, signed now with the endpoint's ``secret``."""
        event = self.stripe.pay(self.stripe_ids[number], at=int(paid_at.timestamp()))
        body = json.dumps(event).encode()
        return body, sign_payload(body, secret)

    # -- seeding ---------------------------------------------------------------------------------

    def _dates(self, item: DemoInvoice) -> tuple[datetime, datetime]:
        due = self.anchor - timedelta(days=item.days_late)
        return due - timedelta(days=30), due

    def _stripe(self, item: DemoInvoice) -> None:
        issued, _ = self._dates(item)
        customer = self.stripe.add_customer(email=item.email, name=item.customer, locales=["fr"])
        invoice = self.stripe.add_invoice(
            total=_cents(item.amount), customer=customer, created=int(issued.timestamp())
        )
        invoice.update(
            number=item.number,
            customer_address=self._address(item, "line1", "postal_code", "city", "country"),
            customer_tax_ids=[{"type": "eu_vat", "value": "FR40303265045"}] if item.company else [],
        )
        self.stripe_ids[item.number] = invoice["id"]
        if item.number in self.paid:
            self.stripe.pay(invoice["id"], at=int(self.anchor.timestamp()))

    def _shopify(self, item: DemoInvoice) -> None:
        issued, due = self._dates(item)
        order_id = 5_000_000 + int(item.number.rsplit("-", 1)[1])
        order = make_order(
            order_id,
            updated_at=_iso(issued),
            created_at=_iso(issued),
            due_at=_iso(due),
            total=item.amount,
            email=item.email,
            customer_id=order_id,
            company=item.customer if item.company else None,
            locale="fr-FR",
        )
        first, _, last = item.customer.partition(" ")
        order["name"] = item.number
        order["customer"].update(displayName=item.customer, firstName=first, lastName=last)
        order["billingAddress"] = {
            "company": item.customer if item.company else None,
            **self._address(item, "address1", "zip", "city", "countryCodeV2"),
            "address2": None,
        }
        if item.number in self.paid:
            order.update(displayFinancialStatus="PAID", totalOutstandingSet=_zero(order))
        self.shopify.add_orders(order)

    def _woo(self, item: DemoInvoice) -> None:
        issued, due = self._dates(item)
        order = self.woocommerce.add_order(
            status="completed" if item.number in self.paid else "on-hold",
            total=item.amount,
            created=issued.timestamp(),
            modified=issued.timestamp(),
            paid=self.anchor.timestamp() if item.number in self.paid else None,
            email=item.email,
            company=item.customer if item.company else "",
            meta={WOO_DUE_META: due.date().isoformat()},
        )
        first, _, last = item.customer.partition(" ")
        stored = self.woocommerce.orders[order["id"]]
        stored["number"] = item.number
        stored["billing"].update(
            first_name=first,
            last_name=last,
            **self._address(item, "address_1", "postcode", "city", "country"),
            address_2="",
            state="",
        )

    @staticmethod
    def _address(
        item: DemoInvoice, line1: str, postal: str, city: str, country: str
    ) -> dict[str, Any]:
        return {line1: item.street, postal: "69002", city: "Lyon", country: "FR"}


def _zero(order: dict[str, Any]) -> dict[str, Any]:
    money = json.loads(json.dumps(order["totalOutstandingSet"]))
    for bag in money.values():
        bag["amount"] = "0.00"
    return dict(money)
