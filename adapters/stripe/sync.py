"""Incremental, resumable sync of owed Stripe invoices (see ``cursor.py`` for the cursor).

A pass is fixed to the window ``(since, until]`` with ``until = now - SETTLE_SECONDS``:

* full pass (no watermark yet, or one older than Stripe's 30-day event retention): every
  ``status=open`` + ``collection_method=send_invoice`` invoice created up to ``until``;
* incremental pass: the same list restricted to ``created`` in the window, then
  ``GET /v1/events`` for the window (``settings.SYNC_EVENT_TYPES``). Invoice events yield their
  snapshot (dated by the event); credit-note and invoice-payment events re-read the invoice they
  name. This is how a paid, voided or finalized-late invoice reaches the core: a paid invoice
  disappears from ``status=open`` lists, and a draft finalized today may have been created last
  month, before the watermark.

Every platform page becomes one SyncPage whose cursor resumes right after it, so a sync killed
anywhere restarts at the first page not yet stored and never skips one. Windows of successive
passes are contiguous, so every event is read once; a page cut short re-reads at most that page
(the core's upserts are idempotent). Stripe lists newest first, so pages go from newest to oldest
within a phase; each page is sorted oldest first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

from stripe.params import EventListParams, InvoiceListParams, InvoiceListParamsCreated

from adapters.stripe import settings
from adapters.stripe.client import StripeApi
from adapters.stripe.cursor import Pass, SyncCursor
from adapters.stripe.exceptions import NormalizationError, NotOwedYet
from adapters.stripe.normalize import from_unix, is_send_invoice, row_from_invoice
from connector.platform import AdapterMalformedResponse, InvoiceRow, SyncPage

log = logging.getLogger(__name__)


class StripeSync:
    """One sync run over one connection."""

    def __init__(
        self,
        api: StripeApi,
        *,
        clock: Callable[[], float],
        page_size: int = settings.PAGE_SIZE,
        settle_seconds: int = settings.SETTLE_SECONDS,
        retention_seconds: int = settings.EVENT_RETENTION_SECONDS,
    ) -> None:
        self._api = api
        self._clock = clock
        self._page_size = page_size
        self._settle = settle_seconds
        self._retention = retention_seconds

    def pages(self, raw_cursor: str | None) -> Iterator[SyncPage]:
        """The pages after ``raw_cursor``, each carrying the cursor that resumes after it."""
        cursor = self._start(SyncCursor.decode(raw_cursor))
        while cursor.current is not None:
            if cursor.current.phase == "invoices":
                invoices, cursor = self._invoice_page(cursor)
            else:
                invoices, cursor = self._event_page(cursor)
            invoices.sort(key=lambda inv: (inv.updated_at, inv.external_id))
            yield SyncPage(invoices=invoices, cursor=cursor.encode())

    def _start(self, cursor: SyncCursor) -> SyncCursor:
        now = int(self._clock())
        anchor = cursor.since
        if anchor is None and cursor.current is not None:
            anchor = cursor.current.until  # a full pass in progress: events resume from its end
        if anchor is not None and anchor < now - self._retention:
            log.warning(
                "Stripe sync cursor from %s is older than the event retention: full resync",
                anchor,
            )
            cursor = SyncCursor()
        if cursor.current is not None:
            return cursor
        until = now - self._settle
        if cursor.since is not None and until <= cursor.since:
            return cursor  # ran less than SETTLE_SECONDS ago: nothing new to read
        return SyncCursor(since=cursor.since, current=Pass(until=until, phase="invoices"))

    def _invoice_page(self, cursor: SyncCursor) -> tuple[list[InvoiceRow], SyncCursor]:
        current = _current(cursor)
        created: InvoiceListParamsCreated = {"lte": current.until}
        if cursor.since is not None:
            created["gt"] = cursor.since
        params: InvoiceListParams = {
            "status": "open",
            "collection_method": "send_invoice",
            "created": created,
            "limit": self._page_size,
            "expand": list(settings.INVOICE_LIST_EXPAND),
        }
        if current.after:
            params["starting_after"] = current.after
        fetched = self._api.list_invoices(params)
        items, has_more = _list_items(fetched.data)
        invoices: list[InvoiceRow] = []
        for obj in items:
            if not is_send_invoice(obj):
                continue
            invoice = _normalize(obj, fetched.observed_at)
            if invoice is not None:
                invoices.append(invoice)
        return invoices, _next(cursor, items, has_more)

    def _event_page(self, cursor: SyncCursor) -> tuple[list[InvoiceRow], SyncCursor]:
        current = _current(cursor)
        assert cursor.since is not None
        params: EventListParams = {
            "types": list(settings.SYNC_EVENT_TYPES),
            "created": {"gt": cursor.since, "lte": current.until},
            "limit": self._page_size,
        }
        if current.after:
            params["starting_after"] = current.after
        fetched = self._api.list_events(params)
        items, has_more = _list_items(fetched.data)
        snapshots: dict[str, tuple[int, Mapping[str, Any]]] = {}
        reread: list[str] = []
        for event in items:
            kind, created, obj = _event_parts(event)
            if kind in settings.SYNC_INVOICE_EVENTS:
                if obj.get("object") != "invoice" or not isinstance(obj.get("id"), str):
                    raise AdapterMalformedResponse(f"Stripe: event {event['id']} has no invoice")
                known = snapshots.get(obj["id"])
                if is_send_invoice(obj) and (known is None or created > known[0]):
                    snapshots[obj["id"]] = (created, obj)
            elif kind in settings.SYNC_REFERENCE_EVENTS:
                invoice_id = _referenced_invoice(obj)
                if invoice_id and invoice_id not in reread:
                    reread.append(invoice_id)
        found: dict[str, InvoiceRow] = {}
        for created, obj in snapshots.values():
            invoice = _normalize(obj, from_unix(created, "event.created"))
            if invoice is not None:
                found[invoice.external_id] = invoice
        for invoice_id in reread:  # the current state supersedes this page's snapshots
            latest = self._api.retrieve_invoice(invoice_id)
            if latest is None or not is_send_invoice(latest.data):
                continue
            invoice = _normalize(latest.data, latest.observed_at)
            if invoice is not None:
                found[invoice.external_id] = invoice
        return list(found.values()), _next(cursor, items, has_more)


def _current(cursor: SyncCursor) -> Pass:
    assert cursor.current is not None
    return cursor.current


def _next(cursor: SyncCursor, items: list[dict[str, Any]], has_more: bool) -> SyncCursor:
    if not has_more:
        return cursor.phase_done()
    if not items:
        raise AdapterMalformedResponse("Stripe: has_more with an empty page")
    return cursor.advanced(items[-1]["id"])


def _normalize(obj: Mapping[str, Any], observed_at: datetime | None) -> InvoiceRow | None:
    try:
        return row_from_invoice(obj, observed_at=observed_at)
    except NotOwedYet:
        return None
    except NormalizationError as exc:
        raise AdapterMalformedResponse(f"Stripe: {exc}") from exc


def _list_items(body: Mapping[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """A list envelope's items (each an object with an id) and ``has_more``, or Malformed."""
    data = body.get("data")
    has_more = body.get("has_more")
    if body.get("object") != "list" or not isinstance(data, list) or not isinstance(has_more, bool):
        raise AdapterMalformedResponse("Stripe: the page is not a list object")
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
            raise AdapterMalformedResponse("Stripe: a list item has no id")
    return data, has_more


def _event_parts(event: Mapping[str, Any]) -> tuple[str, int, Mapping[str, Any]]:
    kind, created, data = event.get("type"), event.get("created"), event.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    if (
        not isinstance(kind, str)
        or isinstance(created, bool)
        or not isinstance(created, int)
        or not isinstance(obj, Mapping)
    ):
        raise AdapterMalformedResponse(f"Stripe: unreadable event {event.get('id')!r}")
    return kind, created, obj


def _referenced_invoice(obj: Mapping[str, Any]) -> str | None:
    """The invoice a credit note or invoice payment belongs to (id or expanded object)."""
    ref = obj.get("invoice")
    if isinstance(ref, Mapping):
        ref = ref.get("id")
    return ref if isinstance(ref, str) and ref else None
