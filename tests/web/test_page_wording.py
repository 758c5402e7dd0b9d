"""Words a new owner reads on the pages: a sequence's name said once ("Default sequence", never
"default default"), the invoice card's "Default sequence.", flashes that start as sentences,
and platforms spelt as their makers spell them ("WooCommerce")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html import unescape
from zoneinfo import ZoneInfo

from flask.testing import FlaskClient

from connector.actions.sequences import list_sequences
from connector.dunning.sequence import ensure_default_sequence
from connector.platform import InvoiceStatus
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import Shop
from tests.support.builders import add_invoices, invoice_by_number, normalized
from tests.support.pages import csrf_token
from tests.support.webhooks import make_connection

TODAY = datetime.now(UTC).date()


def test_the_default_sequence_is_named_once(
    signed_in: FlaskClient, services: Services, shop: Shop
) -> None:
    with write_session(services.sessions) as s:
        ensure_default_sequence(s, s.merge(shop))
    [default] = [seq for seq in list_sequences(services, shop.id) if seq.is_default]
    page = signed_in.get(f"/sequences/{default.id}").get_data(as_text=True)
    assert "<h1>Default sequence</h1>" in page
    assert "default default" not in " ".join(page.replace("<", " <").split()).lower()
    listing = signed_in.get("/sequences").get_data(as_text=True)
    assert ">Default sequence</a>" in listing and 'class="badge">default<' not in listing

    add_invoices(services, shop, [normalized("F-1", email="a@client.example", due_on=TODAY)])
    inv = signed_in.get(f"/invoices/{invoice_by_number(services, 'F-1').id}").get_data(as_text=True)
    assert "<p><strong>Default sequence</strong>.</p>" in inv
    assert "Sequence <strong>default</strong>" not in inv


def test_a_flash_starts_with_a_capital_letter(
    signed_in: FlaskClient, services: Services, shop: Shop
) -> None:
    add_invoices(
        services, shop, [normalized("F-2", email="b@client.example", due_on=TODAY - timedelta(3))]
    )
    invoice_id = invoice_by_number(services, "F-2").id
    page = signed_in.get(f"/invoices/{invoice_id}").get_data(as_text=True)
    resp = signed_in.post(
        f"/invoices/{invoice_id}/pay",
        data={"csrf_token": csrf_token(page)},
        follow_redirects=True,
    )
    html = resp.get_data(as_text=True)
    assert 'role="alert">Confirm: tick the box' in html
    assert ">confirm:" not in html


def test_woocommerce_is_spelt_woocommerce_on_the_home_page(
    signed_in: FlaskClient, services: Services, shop: Shop
) -> None:
    make_connection(services, shop.id, "woocommerce", external_account="https://shop.example")
    html = signed_in.get("/").get_data(as_text=True)
    assert "<strong>WooCommerce</strong>" in html
    assert "Woocommerce" not in html


def test_the_search_says_what_it_matches(
    signed_in: FlaskClient, services: Services, shop: Shop
) -> None:
    add_invoices(
        services,
        shop,
        [normalized("F-3", email="lea@client.example", name="Léa Dubois", due_on=TODAY)],
    )
    html = signed_in.get("/invoices?q=Dubois&status=all").get_data(as_text=True)
    assert ">F-3</a>" in html
    assert 'placeholder="Start of a number, name, company or email"' in html
    empty = signed_in.get("/invoices?q=zzz&status=all").get_data(as_text=True)
    assert "No invoice matches “zzz” with these filters." in empty
    assert "or of any word of a customer's name or company" in unescape(empty)


def test_a_new_shops_invoice_list_says_how_invoices_arrive(
    signed_in: FlaskClient, services: Services, shop: Shop
) -> None:
    """A new owner opening Invoices is told how to add some, not that filters match nothing;
    once the shop has invoices but none owed, the list says so and how to see the others."""
    empty = unescape(signed_in.get("/invoices").get_data(as_text=True))
    assert "No invoices yet." in empty
    assert "Bring in your invoices</a>: upload a CSV or connect a platform." in empty
    assert "matches these filters" not in empty
    add_invoices(
        services,
        shop,
        [normalized("F-9", email="p@client.example", due_on=TODAY, status=InvoiceStatus.PAID)],
    )
    paid_only = unescape(signed_in.get("/invoices").get_data(as_text=True))
    assert "No owed invoice matches these filters." in paid_only
    assert "Status “all” also shows paid and closed invoices." in paid_only
    assert "No invoices yet." not in paid_only
    assert ">F-9</a>" in signed_in.get("/invoices?status=all").get_data(as_text=True)


def test_the_invoice_pages_dates_follow_the_shops_day(
    signed_in: FlaskClient, services: Services, shop: Shop
) -> None:
    add_invoices(services, shop, [normalized("F-D", email="d@client.example", due_on=TODAY)])
    invoice = invoice_by_number(services, "F-D")
    html = signed_in.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    today = datetime.now(ZoneInfo(shop.timezone)).date()
    local_today, tomorrow = today.isoformat(), (today + timedelta(days=1)).isoformat()
    # A pause runs until a later day (the action refuses today): its earliest day is tomorrow.
    assert f'id="pause-until" name="until" min="{tomorrow}"' in html
    assert f'name="received_on" max="{local_today}"' in html
    assert f'name="due_on_1" min="{local_today}"' in html
    listing = signed_in.get("/invoices").get_data(as_text=True)
    assert f'id="b-until" name="until" min="{tomorrow}"' in listing
