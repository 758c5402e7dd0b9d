"""The invoices pages: the list (filters by status, source, aging, sequence, customer, text;
sort; pages; one query for the page whatever its size) and the invoice page, whose every action
goes through a CSRF-protected form to the application layer, is written to the timeline with
the signed-in owner's name, and refuses bad input by naming the field, writing nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event, select

from connector.actions.invoices import InstalmentSpec, set_plan
from connector.actions.sequence_preview import preview_template
from connector.actions.timeline import TimelineKind, invoice_timeline
from connector.domain.dates import long_date
from connector.dunning.sequence import ensure_default_sequence
from connector.platform import InvoiceStatus
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import Instalment, Invoice, Shop
from tests.support.builders import add_invoices, invoice_by_number, normalized
from tests.support.pages import csrf_token
from tests.web.conftest import OWNER

TODAY = datetime.now(UTC).date()


def ago(days: int) -> date:
    return TODAY - timedelta(days=days)


@pytest.fixture
def invoices(services: Services, shop: Shop) -> dict[str, int]:
    add_invoices(
        services,
        shop,
        [
            normalized("F-NOT-DUE", email="ana@client.example", name="Ana", due_on=ago(-10)),
            normalized("F-10", email="bob@client.example", name="Bob", due_on=ago(10)),
            normalized(
                "F-45", email="cy@client.example", name="Cyrille", amount="2400.00", due_on=ago(45)
            ),
            normalized("F-75", email="dee@client.example", name="Dee", due_on=ago(75)),
            normalized("F-120", email="eve@client.example", name="Eve", due_on=ago(120)),
        ],
    )
    return {
        n: invoice_by_number(services, n).id for n in ("F-NOT-DUE", "F-10", "F-45", "F-75", "F-120")
    }


def numbers_on(html: str) -> list[str]:
    return re.findall(r">(F-[A-Z0-9-]+)</a>", html)


def link(html: str, rel: str) -> str:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', html)
    assert found, f"no {rel} link"
    return found.group(1).replace("&amp;", "&")


def test_list_filters_by_aging_status_and_text(
    signed_in: FlaskClient, invoices: dict[str, int]
) -> None:
    page = signed_in.get("/invoices").get_data(as_text=True)
    assert numbers_on(page) == ["F-120", "F-75", "F-45", "F-10", "F-NOT-DUE"]  # oldest due first
    assert "2\u202f400,00\u00a0€" in page  # the Paris shop's currency, in French
    buckets = {
        "not_due": ["F-NOT-DUE"],
        "1-30": ["F-10"],
        "31-60": ["F-45"],
        "61-90": ["F-75"],
        "over_90": ["F-120"],
    }
    for aging, expected in buckets.items():
        html = signed_in.get(f"/invoices?aging={aging}").get_data(as_text=True)
        assert numbers_on(html) == expected, aging
    assert numbers_on(signed_in.get("/invoices?q=cyr").get_data(as_text=True)) == ["F-45"]
    assert numbers_on(signed_in.get("/invoices?q=eve%40client").get_data(as_text=True)) == ["F-120"]
    by_amount = signed_in.get("/invoices?sort=amount&dir=desc").get_data(as_text=True)
    assert numbers_on(by_amount)[0] == "F-45"
    one = signed_in.get("/invoices?per_page=2&aging=").get_data(as_text=True)
    assert numbers_on(one) == ["F-120", "F-75"] and 'rel="prev"' not in one
    two = signed_in.get(link(one, "next")).get_data(as_text=True)
    assert numbers_on(two) == ["F-45", "F-10"]
    assert "per_page=2" in link(two, "next")  # the filters ride along with the position
    three = signed_in.get(link(two, "next")).get_data(as_text=True)
    assert numbers_on(three) == ["F-NOT-DUE"] and 'rel="next"' not in three
    back = signed_in.get(link(three, "prev")).get_data(as_text=True)
    assert numbers_on(back) == ["F-45", "F-10"]


def test_bad_filters_name_the_field(signed_in: FlaskClient, invoices: dict[str, int]) -> None:
    resp = signed_in.get("/invoices?aging=200-300")
    assert resp.status_code == 400
    assert "aging: &#39;200-300&#39; is not a choice" in resp.get_data(as_text=True)
    resp = signed_in.get("/invoices?after=zero")
    assert resp.status_code == 400
    assert "after: not a position in this list" in resp.get_data(as_text=True)


@contextmanager
def counted(services: Services) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    event.listen(services.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(services.engine, "before_cursor_execute", count)


def test_the_list_costs_the_same_queries_whatever_the_page_size(
    signed_in: FlaskClient, services: Services, shop: Shop
) -> None:
    add_invoices(
        services,
        shop,
        [normalized(f"F-{i:03d}", email=f"c{i}@client.example", due_on=ago(i)) for i in range(60)],
    )
    with counted(services) as small:
        assert numbers_on(signed_in.get("/invoices?per_page=5").get_data(as_text=True))
    with counted(services) as large:
        page = signed_in.get("/invoices?per_page=60").get_data(as_text=True)
    assert len(numbers_on(page)) == 60
    assert len(large) == len(small), (small, large)
    invoice_selects = [q for q in large if "FROM invoice" in q]
    assert len(invoice_selects) == 2  # the page and its count


def form_of(html: str) -> str:
    return csrf_token(html)


def post(client: FlaskClient, path: str, invoice_id: int, **data: str) -> str:
    page = client.get(f"/invoices/{invoice_id}").get_data(as_text=True)
    resp = client.post(path, data={"csrf_token": form_of(page), **data}, follow_redirects=True)
    assert resp.status_code == 200, resp.status_code
    return resp.get_data(as_text=True)


def owner_entries(services: Services, shop: Shop, invoice_id: int) -> list[tuple[str, str]]:
    with services.sessions() as s:
        return [
            (e.kind.value, e.title)
            for e in invoice_timeline(s, shop.id, invoice_id)
            if e.actor == OWNER
        ]


def test_mark_paid_by_bank_transfer_through_the_page(
    signed_in: FlaskClient, services: Services, shop: Shop, invoices: dict[str, int]
) -> None:
    inv = invoices["F-45"]
    page = signed_in.get(f"/invoices/{inv}").get_data(as_text=True)
    assert "Invoice F-45" in page and "2\u202f400,00\u00a0€" in page
    html = post(signed_in, f"/invoices/{inv}/pay", inv, source="bank_transfer", confirm="yes")
    assert "received by bank transfer" in html
    after = invoice_by_number(services, "F-45")
    assert (after.status, after.amount_due_minor) == (InvoiceStatus.PAID, 0)
    [(kind, title)] = owner_entries(services, shop, inv)
    assert kind == "payment" and "bank transfer" in title
    assert f"by {OWNER}" in signed_in.get(f"/invoices/{inv}").get_data(as_text=True)


def test_a_payment_without_the_confirmation_or_with_a_bad_amount_changes_nothing(
    signed_in: FlaskClient, services: Services, shop: Shop, invoices: dict[str, int]
) -> None:
    inv = invoices["F-45"]
    html = post(signed_in, f"/invoices/{inv}/pay", inv, source="bank_transfer")
    assert "Confirm: tick the box" in html
    html = post(signed_in, f"/invoices/{inv}/pay", inv, amount="9999", confirm="yes")
    assert "Amount: more than what is due" in html
    html = post(signed_in, f"/invoices/{inv}/pay", inv, amount="12,345", confirm="yes")
    assert "Amount:" in html and "decimals" in html
    html = post(signed_in, f"/invoices/{inv}/pay", inv, source="bitcoin", confirm="yes")
    assert "Source: &#39;bitcoin&#39; is not a choice" in html
    assert invoice_by_number(services, "F-45").amount_due_minor == 240000
    assert owner_entries(services, shop, inv) == []


def test_a_form_without_its_csrf_token_is_refused(
    signed_in: FlaskClient, services: Services, invoices: dict[str, int]
) -> None:
    inv = invoices["F-45"]
    resp = signed_in.post(f"/invoices/{inv}/pay", data={"source": "cheque", "confirm": "yes"})
    assert resp.status_code == 400
    assert invoice_by_number(services, "F-45").status is InvoiceStatus.OPEN


def test_every_action_through_its_page_is_on_the_timeline_with_the_owner(
    signed_in: FlaskClient, services: Services, shop: Shop, invoices: dict[str, int]
) -> None:
    later = (TODAY + timedelta(days=20)).isoformat()
    a, b, c, d = invoices["F-10"], invoices["F-45"], invoices["F-75"], invoices["F-120"]
    post(signed_in, f"/invoices/{a}/pause", a, until=later, reason="on holiday")
    post(signed_in, f"/invoices/{a}/resume", a)
    post(signed_in, f"/invoices/{b}/dispute", b, reason="damaged parcel")
    html = post(
        signed_in,
        f"/invoices/{c}/plan",
        c,
        due_on_1=(TODAY + timedelta(days=10)).isoformat(),
        amount_1="60",
        due_on_2=(TODAY + timedelta(days=40)).isoformat(),
        amount_2="60,00",
    )
    assert "payment plan in 2 instalments" in html
    post(signed_in, f"/invoices/{d}/exclude", d, reason="friend of the family")
    post(signed_in, f"/invoices/{d}/include", d)
    post(signed_in, f"/invoices/{d}/write-off", d, reason="company closed", confirm="yes")
    html = post(signed_in, f"/invoices/{c}/customer", c, excluded="yes", confirm="yes")
    assert "excluded" in html

    assert [k for k, _ in owner_entries(services, shop, a)] == ["pause", "resume"]
    assert [k for k, _ in owner_entries(services, shop, b)] == ["dispute"]
    assert [k for k, _ in owner_entries(services, shop, c)] == ["plan", "action"]
    assert [k for k, _ in owner_entries(services, shop, d)] == ["action", "action", "status"]
    assert invoice_by_number(services, "F-45").pause_reason == "dispute"
    assert invoice_by_number(services, "F-120").status is InvoiceStatus.UNCOLLECTIBLE
    with services.sessions() as s:
        assert len(s.scalars(select(Instalment).where(Instalment.invoice_id == c)).all()) == 2


def test_send_now_through_the_page(
    signed_in: FlaskClient, services: Services, shop: Shop, invoices: dict[str, int]
) -> None:
    inv = invoices["F-10"]
    html = post(signed_in, f"/invoices/{inv}/send-now", inv, override_window="yes", confirm="yes")
    assert "sent now at the owner" in html
    html = post(signed_in, f"/invoices/{inv}/send-now", inv, override_window="yes", confirm="yes")
    assert "already sent a reminder today" in html
    with services.sessions() as s:
        kinds = [e.kind for e in invoice_timeline(s, shop.id, inv)]
    assert kinds.count(TimelineKind.MESSAGE) == 1


def test_bulk_pause_gives_a_result_per_invoice(
    signed_in: FlaskClient, services: Services, shop: Shop, invoices: dict[str, int]
) -> None:
    token = csrf_token(signed_in.get("/invoices").get_data(as_text=True))
    later = (TODAY + timedelta(days=20)).isoformat()
    invoices_to_pause = [invoices["F-10"], invoices["F-45"]]
    post_data = {
        "csrf_token": token,
        "action": "pause",
        "until": later,
        "reason": "owner on holiday",
        "confirm": "yes",
        "invoice_id": [str(i) for i in invoices_to_pause] + ["999999"],
    }
    resp = signed_in.post("/invoices/bulk", data=post_data)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "2 of 3 done" in html and "no invoice 999999 in this shop" in html
    with services.sessions() as s:
        paused = s.scalars(
            select(Invoice.number).where(Invoice.pause_reason == "manual").order_by(Invoice.number)
        ).all()
    assert paused == ["F-10", "F-45"]


def test_another_shops_invoice_is_not_found_through_the_page(
    signed_in: FlaskClient, services: Services, two_shops: tuple[Shop, Shop]
) -> None:
    _ = two_shops
    foreign = invoice_by_number(services, "F-B-001")
    assert signed_in.get(f"/invoices/{foreign.id}").status_code == 404
    token = csrf_token(signed_in.get("/invoices").get_data(as_text=True))
    resp = signed_in.post(
        f"/invoices/{foreign.id}/pay", data={"csrf_token": token, "confirm": "yes"}
    )
    assert resp.status_code == 404
    assert invoice_by_number(services, "F-B-001").status is InvoiceStatus.OPEN
    assert "F-B-001" not in signed_in.get("/invoices?status=all").get_data(as_text=True)


def test_cancel_a_plan_through_the_page_and_in_bulk(
    signed_in: FlaskClient, services: Services, shop: Shop, invoices: dict[str, int]
) -> None:
    a, b = invoices["F-75"], invoices["F-120"]
    for inv in (a, b):
        html = post(
            signed_in,
            f"/invoices/{inv}/plan",
            inv,
            due_on_1=(TODAY + timedelta(days=10)).isoformat(),
            amount_1="120",
        )
        assert "payment plan in 1 instalments" in html
    page = signed_in.get(f"/invoices/{a}").get_data(as_text=True)
    assert 'id="plan-cancel-form"' in page
    html = post(signed_in, f"/invoices/{a}/plan/cancel", a, reason="mistake")
    assert "Confirm: tick the box" in html
    assert invoice_by_number(services, "F-75").plan_due_at is not None  # nothing changed
    html = post(signed_in, f"/invoices/{a}/plan/cancel", a, reason="mistake", confirm="yes")
    assert "payment plan cancelled" in html and 'id="plan-cancel-form"' not in html
    assert [k for k, _ in owner_entries(services, shop, a)] == ["plan", "plan"]
    assert invoice_by_number(services, "F-75").plan_due_at is None

    token = csrf_token(signed_in.get("/invoices").get_data(as_text=True))
    resp = signed_in.post(
        "/invoices/bulk",
        data={
            "csrf_token": token,
            "action": "plan_cancel",
            "confirm": "yes",
            "invoice_id": [str(a), str(b)],
        },
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "1 of 2 done" in html and "invoice F-75 has no payment plan" in html
    assert invoice_by_number(services, "F-120").plan_due_at is None
    with services.sessions() as s:
        assert s.scalars(select(Instalment).where(Instalment.invoice_id.in_([a, b]))).all() == []


def test_the_wording_page_lists_the_instalment_and_an_owners_wording_can_state_it(
    signed_in: FlaskClient, services: Services, shop: Shop, invoices: dict[str, int]
) -> None:
    inv = invoices["F-75"]
    due = TODAY + timedelta(days=10)
    set_plan(
        services,
        shop.id,
        inv,
        [InstalmentSpec(due, "50"), InstalmentSpec(due + timedelta(days=30), "70")],
        actor=OWNER,
    )
    with write_session(services.sessions) as s:
        step_id = ensure_default_sequence(s, s.get_one(Shop, shop.id)).steps[1].id
    page = signed_in.get(f"/sequences/steps/{step_id}/template?lang=fr").get_data(as_text=True)
    assert 'id="template-variables"' in page
    for name in ("inv.instalment.amount", "inv.instalment.due_on", "inv.instalment.balance"):
        assert name in page
    body = (
        "{{ m.greeting(ctx) }}\n{% set inv = ctx.invoices[0] %}"
        "Échéance {{ inv.instalment.position }}/{{ inv.instalment.count }} : "
        "{{ inv.instalment.amount }} au {{ inv.instalment.due_on }} "
        "(solde {{ inv.instalment.balance }}).\n{{ m.how_to_pay(ctx) }}\n{{ m.contact(ctx) }}\n"
    )
    preview = preview_template(
        services,
        shop.id,
        step_id,
        inv,
        language="fr",
        subject="Facture {{ ctx.invoice_numbers }} – {{ ctx.shop.name }}",
        body=body,
    )
    text = " ".join(preview.text.replace("\u202f", " ").replace("\xa0", " ").split())
    assert f"Échéance 1/2 : 50,00 € au {long_date(due, 'fr')} (solde 120,00 €)" in text
    assert preview.problems == ()
