"""connector.store.rowupdate: rows updated by id, each with its own values (NULLs, enums,
instants), in one statement per shape on PostgreSQL and an executemany elsewhere."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, select

from connector.platform import InvoiceStatus
from connector.services import Services
from connector.store.db import write_session
from connector.store.models import Invoice
from connector.store.rowupdate import update_by_id
from tests.engine.test_exactly_once import seed
from tests.support.statements import counting

INVOICES = cast(Table, Invoice.__table__)


def test_each_row_gets_its_own_values_whatever_its_shape(services: Services) -> None:
    seed(services, 4)
    with services.sessions() as s:
        ids = sorted(s.scalars(select(Invoice.id)))
    paused = datetime(2026, 7, 1, 8, 30, tzinfo=UTC)
    rows = [
        {"i_id": ids[0], "paused_until": paused, "pause_reason": "promised", "amount_due_minor": 5},
        {"i_id": ids[1], "paused_until": None, "pause_reason": None, "amount_due_minor": 0},
        {"i_id": ids[2], "status": InvoiceStatus.PAID},  # another shape: its own statement
    ]
    with counting(services.engine) as counted, write_session(services.sessions) as s:
        update_by_id(s, INVOICES, "i_id", rows)
    updates = [t for t in counted.texts if t.startswith("UPDATE")]
    assert len(updates) == 2, counted.texts  # one per shape (an executemany counts once)
    with services.sessions() as s:
        got = {
            row.id: row
            for row in s.execute(
                select(
                    Invoice.id,
                    Invoice.paused_until,
                    Invoice.pause_reason,
                    Invoice.amount_due_minor,
                    Invoice.status,
                )
            )
        }
    assert got[ids[0]][1:4] == (paused, "promised", 5)
    assert got[ids[1]][1:4] == (None, None, 0)
    assert got[ids[2]].status is InvoiceStatus.PAID
    assert got[ids[3]].status is InvoiceStatus.OPEN and got[ids[3]].amount_due_minor != 0
