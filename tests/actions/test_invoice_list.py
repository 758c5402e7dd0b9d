"""The owner's invoice list over many invoices: keyset pages (a cursor on sort key + id) that
never skip nor repeat a row, even when many rows share the sort key, forwards and backwards, in
every sort order; the same statements whatever the page's depth or size; and the text search
(case-insensitive prefixes of the number, the customer's name, company or email)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from functools import partial

import pytest
from sqlalchemy import event

from connector.actions import invoice_list, invoices
from connector.actions.errors import ActionError
from connector.actions.invoice_list import (
    Cursor,
    Direction,
    InvoiceList,
    ListQuery,
    Sort,
    StatusFilter,
    list_invoices,
)
from connector.platform import InvoiceStatus, NormalizedInvoice
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import Shop
from tests.support.builders import add_invoices, normalized

NOW = datetime.now(UTC)
TODAY = NOW.date()
NAMES = ["Zoé", None, "Ana", "ana", "Bob"]  # ties once lowercased, and a customer with no name
STATUSES = [InvoiceStatus.OPEN, InvoiceStatus.PARTIALLY_PAID, InvoiceStatus.PAID]


def _invoice(i: int) -> NormalizedInvoice:
    status = STATUSES[i % 3]
    inv = normalized(
        f"F-{i % 4:02d}-{i:03d}",
        email=f"c{i % 5}@client.example",
        customer_id=f"c{i % 5}",
        name=NAMES[i % 5],
        amount=("50.00", "75.00")[i % 2],
        due_on=TODAY - timedelta(days=i % 3),  # three due dates: ties everywhere
        status=status,
    )
    if status is InvoiceStatus.PARTIALLY_PAID:
        inv = replace(inv, amount_due=inv.total.__class__.of("10.00", "EUR"))
    return inv


@pytest.fixture
def many(services: Services, shop: Shop) -> int:
    add_invoices(services, shop, [_invoice(i) for i in range(37)])
    return 37


def _page(services: Services, shop: Shop, query: ListQuery) -> InvoiceList:
    return list_invoices(services.sessions, shop.id, query, NOW)


def _walk(services: Services, shop: Shop, query: ListQuery) -> list[list[int]]:
    """Every page, following "next" from the first."""
    pages, listing = [], _page(services, shop, query)
    pages.append([r.id for r in listing.rows])
    while listing.next is not None:
        listing = _page(services, shop, replace(query, cursor=listing.next))
        pages.append([r.id for r in listing.rows])
        assert len(pages) < 50, "the pages never end"
    return pages


@pytest.mark.parametrize("sort", list(Sort))
@pytest.mark.parametrize("descending", [False, True])
def test_keyset_pages_cover_every_row_once_in_order(
    services: Services, shop: Shop, many: int, sort: Sort, descending: bool
) -> None:
    query = ListQuery(status=StatusFilter.ALL, sort=sort, descending=descending, per_page=5)
    whole = [r.id for r in _page(services, shop, replace(query, per_page=200)).rows]
    assert len(whole) == many
    pages = _walk(services, shop, query)
    assert [i for p in pages for i in p] == whole  # nothing skipped, nothing repeated
    assert [len(p) for p in pages] == [5] * 7 + [2]

    # Back again with "previous" from the last page: the same pages, in reverse.
    listing = _page(services, shop, query)
    while listing.next is not None:
        listing = _page(services, shop, replace(query, cursor=listing.next))
    back = [[r.id for r in listing.rows]]
    while listing.previous is not None:
        listing = _page(services, shop, replace(query, cursor=listing.previous))
        back.append([r.id for r in listing.rows])
    assert back[::-1] == pages
    assert listing.previous is None  # the first page knows it is the first


def test_cursors_survive_the_url_and_bad_ones_name_the_field(
    services: Services, shop: Shop, many: int
) -> None:
    for sort in Sort:
        listing = _page(services, shop, ListQuery(status=StatusFilter.ALL, sort=sort, per_page=3))
        assert listing.next is not None
        token = listing.next.token()
        assert Cursor.parse(Direction.AFTER, token, sort) == listing.next
    with pytest.raises(ActionError, match=r"^after: not a position in this list"):
        Cursor.parse(Direction.AFTER, "garbage!", Sort.DUE)
    with pytest.raises(ActionError, match=r"^before: not a position in this list"):
        Cursor.parse(Direction.BEFORE, token, Sort.DUE)  # a customer-sorted list's cursor


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


@pytest.mark.parametrize("sort", list(Sort))
def test_a_deep_or_large_page_costs_the_same_statements(
    services: Services, shop: Shop, many: int, sort: Sort
) -> None:
    query = ListQuery(status=StatusFilter.ALL, sort=sort, per_page=2)
    with counted(services) as first:
        listing = _page(services, shop, query)
    for _ in range(10):  # page 11
        assert listing.next is not None
        listing = _page(services, shop, replace(query, cursor=listing.next))
    assert listing.next is not None
    with counted(services) as deep:
        _page(services, shop, replace(query, cursor=listing.next))
    with counted(services) as large:
        _page(services, shop, replace(query, per_page=200))
    assert len(first) == len(deep) == len(large), (first, deep, large)
    assert len([q for q in deep if "FROM invoice" in q]) == 2  # the page and its count


def _numbers(services: Services, shop: Shop, text: str) -> list[str]:
    query = ListQuery(status=StatusFilter.ALL, search=text, sort=Sort.NUMBER, per_page=200)
    return [r.number for r in _page(services, shop, query).rows]


def test_search_matches_prefixes_of_number_name_company_and_email(
    services: Services, shop: Shop
) -> None:
    def one(number: str, email: str, name: str | None, company: str | None) -> NormalizedInvoice:
        inv = normalized(number, email=email, name=name, due_on=date(2026, 1, 1))
        return replace(inv, customer=replace(inv.customer, company=company))

    add_invoices(
        services,
        shop,
        [
            one("F-2026-001", "claire@dupont.example", "Claire Dupont", "Dupont SARL"),
            one("F-2026-002", "bob@martin.example", "Bob Martin", None),
            one("A_1", "x@y.example", None, "Atelier Lumière"),
            one("A-1", "Zed@Y.example", "Zed", None),
        ],
    )
    assert _numbers(services, shop, "f-2026") == ["F-2026-001", "F-2026-002"]  # number prefix
    assert _numbers(services, shop, "F-2026-002") == ["F-2026-002"]
    assert _numbers(services, shop, "CLAI") == ["F-2026-001"]  # name, any case
    assert _numbers(services, shop, "dupont s") == ["F-2026-001"]  # company
    assert _numbers(services, shop, "bob@mar") == ["F-2026-002"]  # email
    assert _numbers(services, shop, "zed@y") == ["A-1"]  # email stored with capitals
    assert _numbers(services, shop, "atelier") == ["A_1"]
    assert _numbers(services, shop, "A_") == ["A_1"]  # "_" and "%" are letters, not wildcards
    assert _numbers(services, shop, "%") == []
    assert _numbers(services, shop, "2026") == []  # a prefix, not anywhere inside
    assert _numbers(services, shop, "nobody") == []


def test_search_stays_in_the_shop(services: Services, shop: Shop, many: int) -> None:
    with write_session(services.sessions) as s:
        other = Shop(name="Other", owner_email="o@other.example")
        s.add(other)
        s.flush()
    add_invoices(services, other, [normalized("F-00-999", email="c0@client.example", due_on=TODAY)])
    assert "F-00-999" not in _numbers(services, shop, "F-00")
    assert _numbers(services, other, "F-00") == ["F-00-999"]


def test_search_folds_case_and_accents_alike_on_both_databases(
    services: Services, shop: Shop
) -> None:
    """SQLite's lower() folds ASCII only: "élodie" missed "Élodie" and "ELODIE" missed both."""
    add_invoices(
        services,
        shop,
        [
            normalized(
                "F-1", email="e@x.example", customer_id="e", name="Élodie Martin", due_on=TODAY
            ),
            normalized(
                "F-2", email="d@x.example", customer_id="d", name="ÉLODIE DURAND", due_on=TODAY
            ),
            normalized(
                "F-3", email="z@x.example", customer_id="z", name="Zoë Ørsted", due_on=TODAY
            ),
            normalized("É-4", email="n@x.example", customer_id="n", name="Noël", due_on=TODAY),
            normalized(
                "F-5", email="eloise@x.example", customer_id="l", name="Eloïse", due_on=TODAY
            ),
        ],
    )
    for text in ("élodie", "ELODIE", "Elodie", "ÉLODIE", "élOdIe"):
        assert _numbers(services, shop, text) == ["F-1", "F-2"], text
    assert _numbers(services, shop, "élodie m") == ["F-1"]
    assert _numbers(services, shop, "elo") == ["F-1", "F-2", "F-5"]
    assert _numbers(services, shop, "zoe ø") == ["F-3"]
    assert _numbers(services, shop, "ZOË") == ["F-3"]
    assert _numbers(services, shop, "e-4") == ["É-4"]  # the number folds too
    assert _numbers(services, shop, "noel") == ["É-4"]
    assert _numbers(services, shop, "eloi") == ["F-5"]


@pytest.mark.parametrize("walk_from", [0, 10_000])
def test_a_search_matching_many_pages_the_same_either_way(
    services: Services,
    shop: Shop,
    many: int,
    walk_from: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Many matches walk the sort order testing each row, few are read from the search indexes:
    the same rows, in the same order, page after page, both ways."""
    expected: dict[tuple[Sort, bool], list[int]] = {}
    for sort in Sort:
        for descending in (False, True):
            full = ListQuery(status=StatusFilter.ALL, search="C", sort=sort, descending=descending)
            expected[(sort, descending)] = [
                r.id for r in _page(services, shop, replace(full, per_page=200)).rows
            ]
    assert all(len(ids) == many for ids in expected.values())  # every email starts with "c"
    monkeypatch.setattr(invoice_list, "WALK_FROM", walk_from)
    for (sort, descending), ids in expected.items():
        query = ListQuery(
            status=StatusFilter.ALL, search="c", sort=sort, descending=descending, per_page=4
        )
        pages = _walk(services, shop, query)
        assert [i for page in pages for i in page] == ids, (sort, descending)
        listing = _page(services, shop, replace(query, search="ana"))
        assert listing.total == 14 and len(listing.rows) == 4  # "Ana" and "ana": 2 in 5


def test_the_pages_days_are_the_shops_and_the_first_pause_day_is_one_the_pause_accepts(
    services: Services, shop: Shop
) -> None:
    """At 00:30 in Paris on 11 June it is still 10 June in UTC: the pages' today (the earliest
    instalment, the latest payment day) is the shop's 11 June. A pause runs until a later day
    (the action refuses today): the pickers' first pause day, 12 June, is one it accepts."""
    add_invoices(services, shop, [normalized("F-TZ", email="tz@client.example", due_on=TODAY)])
    after_midnight_in_paris = datetime(2026, 6, 10, 22, 30, tzinfo=UTC)
    listing = list_invoices(
        services.sessions, shop.id, ListQuery(status=StatusFilter.ALL), after_midnight_in_paris
    )
    page = invoice_list.invoice_page(
        services.sessions, shop.id, listing.rows[0].id, after_midnight_in_paris
    )
    assert listing.today == page.today == date(2026, 6, 11)
    assert listing.first_pause_day == page.first_pause_day == date(2026, 6, 12)
    pause_until = partial(
        invoices.pause,
        services,
        shop.id,
        page.id,
        reason="r",
        actor="o",
        now=after_midnight_in_paris,
    )
    with pytest.raises(ActionError, match="is not after today"):
        pause_until(until=page.today)
    pause_until(until=page.first_pause_day)


def test_an_empty_page_says_whether_the_shop_has_no_invoice_at_all(
    services: Services, shop: Shop
) -> None:
    assert list_invoices(services.sessions, shop.id, ListQuery(), NOW).shop_is_empty
    add_invoices(
        services,
        shop,
        [normalized("F-P", email="p@client.example", due_on=TODAY, status=InvoiceStatus.PAID)],
    )
    owed = list_invoices(services.sessions, shop.id, ListQuery(), NOW)
    assert owed.rows == [] and not owed.shop_is_empty
    assert not list_invoices(
        services.sessions, shop.id, ListQuery(status=StatusFilter.ALL), NOW
    ).shop_is_empty
