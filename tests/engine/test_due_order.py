"""The due invoices a tick reads, batch after batch (connector.dunning.claims.due_customers):
in (next_action_at, id) order, each read resuming after the last invoice the previous one
took, so a burst's batches do not walk again what the earlier ones claimed; an invoice passed
over while another worker held it is found by the read from the front."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from connector.config import Settings
from connector.dunning.claims import due_customers
from connector.services import Services
from connector.store.models import Invoice
from tests.conftest import make_env
from tests.engine.test_exactly_once import NOW, seed


def _due_order(svc: Services) -> list[tuple[int, int, datetime | None]]:
    with svc.sessions() as s:
        return list(
            s.execute(
                select(Invoice.customer_id, Invoice.id, Invoice.next_action_at)
                .where(Invoice.next_action_at <= NOW)
                .order_by(Invoice.next_action_at, Invoice.id)
            ).tuples()
        )


def test_reads_resume_after_the_last_invoice_taken(services: Services) -> None:
    """Five customers due at the same instant, read two at a time: three reads cover them
    once each, in id order; a fourth finds nothing after the last."""
    seed(services, 5)
    order = _due_order(services)
    assert len(order) == 5 and len({at for _, _, at in order}) == 1  # ties: the id orders
    reads: list[list[int]] = []
    after = None
    with services.sessions() as s:
        for _ in range(3):
            customers, after = due_customers(s, NOW, 2, skip_locked=False, after=after)
            reads.append(customers)
        assert after == (order[-1][2], order[-1][1])
        assert due_customers(s, NOW, 2, skip_locked=False, after=after) == ([], None)
    assert reads == [[c for c, _, _ in order[:2]], [c for c, _, _ in order[2:4]], [order[4][0]]]


@pytest.mark.postgres
def test_an_invoice_passed_over_while_locked_is_read_again_from_the_front(
    postgres_url: str, tmp_path: Path
) -> None:
    """Another worker holds the first due invoice: the reads pass over it to the end of the
    due range; once it is released, a read from the front finds it, and only it."""
    svc = Services.build(Settings.from_env(make_env(postgres_url, tmp_path / "var")))
    try:
        seed(svc, 4)
        order = _due_order(svc)
        with svc.sessions() as other, svc.sessions() as s:
            other.scalars(select(Invoice).where(Invoice.id == order[0][1]).with_for_update())
            first, after = due_customers(s, NOW, 2, skip_locked=True)
            rest, after = due_customers(s, NOW, 2, skip_locked=True, after=after)
            assert first + rest == [c for c, _, _ in order[1:]]
            assert due_customers(s, NOW, 2, skip_locked=True, after=after) == ([], None)
            s.rollback()  # what the tick claimed would have left the due range
            other.rollback()
            assert due_customers(s, NOW, 1, skip_locked=True)[0] == [order[0][0]]
    finally:
        svc.close()
