"""`relance demo` and the first run's "load demo data": one demo shop per owner, whose unpaid
invoices come through the real Stripe, Shopify and WooCommerce adapters from local servers that
speak those platforms' wire formats (connector/sandbox), then — on the command line — the real
engine run over the next business days at 10:00 shop time and a signed Stripe ``invoice.paid``
webhook POSTed over HTTP to the app's own webhook endpoint, closing one invoice's sequence.

The demo shop is found again on every run (never a second one). Its platform data is a pure
function of the instant it was first loaded (kept in its connections' settings), so a second
run syncs the same invoices and changes nothing. Its connections are marked ``sandbox``: the
scheduler neither syncs them nor asks their platform before a send (the local servers live only
while the demo runs). The days are simulated in the demo shop only (other shops are never
ticked ahead of time) and mail always goes to the outbox folder (the demo's addresses are not
real). Running it again sends nothing twice: a step goes out once per invoice, as always.
"""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.error import HTTPError

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.serving import WSGIRequestHandler, make_server

from connector.actions.connections import connect
from connector.domain.calendar import SendingWindow, resolve_local
from connector.dunning.rules import sending_window
from connector.mail.outbox import OutboxTransport
from connector.platform import InvoiceStatus
from connector.runners import dunning_runner
from connector.sandbox.demo import PAID_BY_WEBHOOK, DemoPlatforms
from connector.services import Services
from connector.shops import create_shop
from connector.store.db import write_session
from connector.store.models import Connection, Invoice, Membership, Owner, Reminder, Shop
from connector.sync import SANDBOX, sync_connection

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

DEMO_NAME = "Boutique Démo"
DEMO_OWNER = "owner@demo.example"
DEMO_HOUR = time(10, 0)
DEMO_DAYS = 10  # business days simulated: enough for each invoice to move on a step or two
PAID_AFTER_DAY = 3  # the payment webhook arrives that afternoon (before day 4's tick)
PAID_AT = time(15, 0)
PLATFORMS = ("stripe", "shopify", "woocommerce")
SENT_OUTCOMES = ("sent", "letter")
WEBHOOK_TIMEOUT = 10.0  # seconds


@dataclass(frozen=True, slots=True)
class DemoSync:
    platform: str
    connection: int
    invoices: int  # read from the platform by this run's sync
    inserted: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "connection": self.connection,
            "invoices": self.invoices,
            "inserted": self.inserted,
        }


@dataclass(frozen=True, slots=True)
class DemoShop:
    id: int
    name: str
    timezone: str
    currency: str
    created: bool
    syncs: list[DemoSync]


@dataclass(frozen=True, slots=True)
class DemoPayment:
    day: date
    invoice: str
    platform: str
    topic: str
    url: str
    http_status: int
    status: str  # the invoice's status in the store afterwards
    already_paid: bool  # paid by an earlier run: the webhook is the same delivery again

    def as_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "invoice": self.invoice,
            "platform": self.platform,
            "topic": self.topic,
            "url": self.url,
            "http_status": self.http_status,
            "status": self.status,
            "already_paid": self.already_paid,
        }


@dataclass(frozen=True, slots=True)
class DemoSend:
    day: date
    invoice: str
    step: str
    outcome: str  # "sent" (an email) or "letter" (a PDF to post, a task for the owner)
    recipient: str | None
    subject: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "invoice": self.invoice,
            "step": self.step,
            "outcome": self.outcome,
            "recipient": self.recipient,
            "subject": self.subject,
        }


@dataclass(slots=True)
class DemoReport:
    shop_id: int
    created: bool
    timezone: str
    outbox: Path
    syncs: list[DemoSync] = field(default_factory=list)
    days: list[date] = field(default_factory=list)
    sends: list[DemoSend] = field(default_factory=list)
    payment: DemoPayment | None = None
    sign_in: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "shop": self.shop_id,
            "created": self.created,
            "timezone": self.timezone,
            "outbox": str(self.outbox),
            "syncs": [s.as_dict() for s in self.syncs],
            "days": [d.isoformat() for d in self.days],
            "sends": [s.as_dict() for s in self.sends],
            "payment": self.payment.as_dict() if self.payment else None,
            "sign_in": self.sign_in,
        }


def load_demo(svc: Services, owner_email: str, now: datetime) -> DemoShop:
    """The owner's demo shop, made once, its invoices synced from the demo platforms (the web's
    "load demo data"; ``relance demo`` does the same and then runs the days)."""
    with demo_platforms(svc, owner_email, now) as (shop, _):
        return shop


@contextmanager
def demo_platforms(
    svc: Services, owner_email: str, now: datetime
) -> Iterator[tuple[DemoShop, DemoPlatforms]]:
    """Find or create the owner's demo shop, start its three platforms, connect each one (the
    normal connect: webhooks registered, secrets stored encrypted) and sync it through its
    adapter; the platforms answer until the block ends."""
    now = now.astimezone(UTC)
    shop_id, created, anchor, paid = _find_or_create(svc, owner_email, now)
    with DemoPlatforms(anchor, paid=paid) as platforms:
        syncs = [
            _connect_and_sync(svc, shop_id, platforms, name, anchor, now) for name in PLATFORMS
        ]
        with svc.sessions() as s:
            shop = s.get(Shop, shop_id)
            assert shop is not None
            found = DemoShop(shop.id, shop.name, shop.timezone, shop.currency, created, syncs)
        yield found, platforms


def run_demo(
    svc: Services,
    app: WSGIApplication,
    now: datetime | None = None,
    *,
    days: int = DEMO_DAYS,
) -> DemoReport:
    """The demo shop loaded, then ticked at 10:00 on each of the next business days; after the
    ``PAID_AFTER_DAY``-th, its customer pays one invoice at Stripe and the signed webhook is
    POSTed over HTTP to ``app`` (the web app, served on a free local port for the while)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    with demo_platforms(svc, DEMO_OWNER, now) as (shop, platforms):
        window = _window(svc, shop.id)
        outbox = svc.settings.outbox_dir
        runner = dunning_runner(svc, transport=OutboxTransport(outbox))
        report = DemoReport(shop.id, shop.created, window.timezone, outbox, syncs=shop.syncs)
        report.sign_in = _sign_in(svc, shop.id)
        day = window.local_date(now)
        while len(report.days) < days:
            if window.is_allowed_day(day):
                tick = runner.tick(resolve_local(day, DEMO_HOUR, window.tz), shop_id=shop.id)
                done = [
                    (o.invoice, o.step, o.outcome)
                    for o in tick.outcomes
                    if o.outcome in SENT_OUTCOMES and o.step
                ]
                report.days.append(day)
                report.sends += _sends(svc, shop.id, day, done)
                if len(report.days) == min(PAID_AFTER_DAY, days):
                    # The platform's clock is the real one (the sync stored Stripe's own time
                    # of reading): a payment dated before it would be an older state, ignored.
                    paid_at = max(resolve_local(day, PAID_AT, window.tz), datetime.now(UTC))
                    report.payment = _pay_by_webhook(svc, app, shop.id, platforms, day, paid_at)
            day += timedelta(days=1)
    return report


# -- the demo shop -------------------------------------------------------------------------------


def _find_or_create(
    svc: Services, owner_email: str, now: datetime
) -> tuple[int, bool, datetime, set[str]]:
    """The shop, whether it was just made, the instant its platform data hangs on, and the
    numbers of its invoices already paid (the platforms say so too)."""
    with write_session(svc.sessions) as s:
        shop = s.scalar(
            select(Shop)
            .where(Shop.name == DEMO_NAME, Shop.owner_email == owner_email)
            .order_by(Shop.id)
            .limit(1)
        )
        created = shop is None
        if shop is None:
            shop = _new_demo_shop(s, owner_email)
            s.flush()
        anchors = [
            c.settings[SANDBOX]["anchor"]
            for c in s.scalars(select(Connection).where(Connection.shop_id == shop.id))
            if isinstance((c.settings or {}).get(SANDBOX), dict)
        ]
        anchor = datetime.fromisoformat(min(anchors)) if anchors else now
        paid = set(
            s.scalars(
                select(Invoice.number).where(
                    Invoice.shop_id == shop.id, Invoice.status == InvoiceStatus.PAID
                )
            )
        )
        return shop.id, created, anchor, paid


def _new_demo_shop(session: Session, owner_email: str) -> Shop:
    """The demo shop under that owner's email, so two owners never share one, nor the CLI's."""
    shop = create_shop(session, name=DEMO_NAME, email=owner_email, b2b=False)
    shop.payment_instructions = "Virement : IBAN FR76 3000 6000 0112 3456 7890 189"
    # An identification of make-believe (its SIREN passes the check digit, nothing more), so
    # the demo's final warnings and formal notices come with their letters.
    shop.legal_name = f"{DEMO_NAME} SAS"
    shop.legal_form = "SAS au capital de 1 000 €"
    shop.siren = "123456782"
    shop.rcs_city = "Paris"
    shop.registered_office = "1 rue de la Démo\n75002 Paris"
    shop.contact_name = shop.signatory_name = "Camille Démo"
    shop.signatory_role = "Gérante"
    return shop


def _connect_and_sync(
    svc: Services,
    shop_id: int,
    platforms: DemoPlatforms,
    platform: str,
    anchor: datetime,
    now: datetime,
) -> DemoSync:
    connection = connect(
        svc,
        shop_id,
        platform,
        platforms.credentials(platform),
        now,
        api_base=platforms.api_base(platform),
    )
    with write_session(svc.sessions) as s:
        row = s.get(Connection, connection.id)
        assert row is not None
        row.settings = {**(row.settings or {}), SANDBOX: {"anchor": anchor.isoformat()}}
    result = sync_connection(svc, connection.id, now)
    return DemoSync(platform, connection.id, result.invoices, result.inserted)


def _sign_in(svc: Services, shop_id: int) -> str:
    """How to see the demo shop in the browser, signed in as its owner."""
    page = svc.settings.base_url.rstrip("/") + "/"
    with svc.sessions() as s:
        member = s.scalar(
            select(Owner.id)
            .join(Membership, Membership.owner_id == Owner.id)
            .where(Owner.email == DEMO_OWNER, Membership.shop_id == shop_id)
        )
    if member is not None:
        return f"relance serve, then open {page} and sign in as {DEMO_OWNER}"
    return (
        f"relance owner create --email {DEMO_OWNER} --shop {shop_id} (asks for a password), "
        f"then relance serve and open {page}, signed in as {DEMO_OWNER}"
    )


def _window(svc: Services, shop_id: int) -> SendingWindow:
    with svc.sessions() as s:
        shop = s.get(Shop, shop_id)
        assert shop is not None
        return sending_window(shop)


# -- the payment -----------------------------------------------------------------------------------


def _pay_by_webhook(
    svc: Services,
    app: WSGIApplication,
    shop_id: int,
    platforms: DemoPlatforms,
    day: date,
    paid_at: datetime,
) -> DemoPayment:
    """The customer pays at Stripe; Stripe's ``invoice.paid``, signed with the connection's
    webhook secret, goes over HTTP to the app's webhook endpoint, served here for the while."""
    number = PAID_BY_WEBHOOK
    with svc.sessions() as s:
        invoice = s.scalar(
            select(Invoice).where(Invoice.shop_id == shop_id, Invoice.number == number)
        )
        assert invoice is not None, f"{number} did not arrive from Stripe"
        connection = s.get(Connection, invoice.connection_id)
        assert connection is not None and connection.webhook_secret_enc is not None
        already = invoice.status == InvoiceStatus.PAID
        secret = svc.secrets.decrypt(connection.webhook_secret_enc)
    body, signature = platforms.stripe_payment(number, secret, paid_at)
    path = f"/webhooks/stripe/{connection.id}"
    with _serving(app) as origin:
        request = urllib.request.Request(
            origin + path,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Stripe-Signature": signature},
        )
        try:
            with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT) as answer:
                http_status = int(answer.status)
        except HTTPError as refused:
            http_status = refused.code
    with svc.sessions() as s:
        status = s.scalar(select(Invoice.status).where(Invoice.id == invoice.id))
    return DemoPayment(
        day, number, "stripe", "invoice.paid", path, http_status, str(status), already
    )


class _Quiet(WSGIRequestHandler):
    """No access log on the demo's output: it prints the webhook's answer itself."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


@contextmanager
def _serving(app: WSGIApplication) -> Iterator[str]:
    """The web app (pages and webhooks; never the scheduler) on a free local port."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def _sends(
    svc: Services, shop_id: int, day: date, done: list[tuple[str, str, str]]
) -> list[DemoSend]:
    """What went out that day, with the subject and recipient the reminder recorded."""
    found: list[DemoSend] = []
    with svc.sessions() as s:
        for number, step, outcome in done:
            rem = s.scalar(
                select(Reminder)
                .join(Invoice, Invoice.id == Reminder.invoice_id)
                .where(
                    Invoice.shop_id == shop_id,
                    Invoice.number == number,
                    Reminder.step_key == step,
                )
            )
            found.append(
                DemoSend(
                    day,
                    number,
                    step,
                    outcome,
                    rem.recipient if rem else None,
                    rem.subject if rem else None,
                )
            )
    return found
