"""Every payload the adapters' tests put through a sync also goes through the full mapping
(JSON → NormalizedInvoice, webhooks' and re-checks'): the lean row must be the same, or the
error (tests/adapters/test_rows.py has the variations)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from adapters.shopify import adapter as shopify_adapter
from adapters.shopify.normalize import invoice_from_graphql, row_from_graphql
from adapters.stripe import sync as stripe_sync
from adapters.stripe.normalize import normalize_invoice, row_from_invoice
from adapters.woocommerce import adapter as woo_adapter
from adapters.woocommerce.normalize import normalize_order, row_from_order
from connector.platform import InvoiceRow, invoice_row


def _shadowed(
    lean: Callable[..., InvoiceRow], full: Callable[..., Any]
) -> Callable[..., InvoiceRow]:
    def both(*args: Any, **kwargs: Any) -> InvoiceRow:
        try:
            expected = invoice_row(full(*args, **kwargs))
        except Exception as exc:  # the lean mapping must raise the same
            with pytest.raises(type(exc)) as raised:
                lean(*args, **kwargs)
            assert str(raised.value) == str(exc)
            raise
        row = lean(*args, **kwargs)
        assert row == expected
        return row

    return both


@pytest.fixture(autouse=True)
def rows_match_the_full_mapping(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(
        stripe_sync, "row_from_invoice", _shadowed(row_from_invoice, normalize_invoice)
    )
    monkeypatch.setattr(
        shopify_adapter, "row_from_graphql", _shadowed(row_from_graphql, invoice_from_graphql)
    )
    monkeypatch.setattr(woo_adapter, "row_from_order", _shadowed(row_from_order, normalize_order))
    yield
