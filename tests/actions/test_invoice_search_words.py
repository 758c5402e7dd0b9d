"""The invoice search finds a customer by any word of their name or company, not only the first
("dubois" finds "Léa Dubois", "port" finds "Brasserie du Port SAS"), case and accents folded, on
both ways the list reads a search (few matches: a UNION; many: a walk of the sort order), and
still never inside a word nor in another shop."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from connector.actions import invoice_list
from connector.actions.invoice_list import ListQuery, Sort, StatusFilter, list_invoices
from connector.platform import NormalizedInvoice
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import Shop
from tests.support.builders import add_invoices, normalized


def _one(number: str, email: str, name: str | None, company: str | None) -> NormalizedInvoice:
    inv = normalized(number, email=email, name=name, due_on=date(2026, 1, 1))
    return replace(inv, customer=replace(inv.customer, company=company))


def _numbers(services: Services, shop: Shop, text: str) -> list[str]:
    query = ListQuery(status=StatusFilter.ALL, search=text, sort=Sort.NUMBER, per_page=200)
    return [
        r.number for r in list_invoices(services.sessions, shop.id, query, datetime.now(UTC)).rows
    ]


@pytest.mark.parametrize("walk_from", [1_000, 0], ids=["few", "many"])
def test_search_finds_any_word_of_a_name_or_company(
    services: Services, shop: Shop, monkeypatch: pytest.MonkeyPatch, walk_from: int
) -> None:
    monkeypatch.setattr(invoice_list, "WALK_FROM", walk_from)
    add_invoices(
        services,
        shop,
        [
            _one("D-1", "lea@demo.example", "Léa Dubois", None),
            _one("D-2", "factures@port.example", None, "Brasserie du Port SAS"),
            _one("D-3", "jean@x.example", "Jean Lefèvre-Dubreuil", None),
            _one("D-4", "bob@x.example", "Bob Laduboisière", None),
        ],
    )
    with write_session(services.sessions) as s:
        other = Shop(name="Other", owner_email="o@other.example")
        s.add(other)
        s.flush()
    add_invoices(services, other, [_one("O-1", "l@o.example", "Léo Dubois", None)])

    assert _numbers(services, shop, "Dubois") == ["D-1"]  # a later word, not inside one
    assert _numbers(services, shop, "DUB") == ["D-1"]
    assert _numbers(services, shop, "port") == ["D-2"]  # company word (and email start)
    assert _numbers(services, shop, "du port") == ["D-2"]
    assert _numbers(services, shop, "lefevre") == ["D-3"]  # accents folded
    assert _numbers(services, shop, "léa") == ["D-1"]  # the first word still
    assert _numbers(services, shop, "ubois") == []  # inside a word: no
    assert _numbers(services, shop, "% d") == []  # wildcards are letters
