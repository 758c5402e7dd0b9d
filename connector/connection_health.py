"""A connection that cannot be used is that connection's problem, never everyone's: it is marked
broken (``Connection.last_sync_status``) with one open task for its shop's owner, and every
other connection carries on. Nothing is deactivated: once the key is restored or the
credentials fixed, the next sync that succeeds writes "ok" over the mark."""

from __future__ import annotations

import logging
from enum import StrEnum

from sqlalchemy import select

from connector.services import Services
from connector.store.db import write_session
from connector.store.models import Connection, TaskKind
from connector.tasks import open_task

log = logging.getLogger(__name__)


class ConnectionProblem(StrEnum):
    """Stored as ``Connection.last_sync_status``."""

    SECRET_UNREADABLE = "broken: secret unreadable"
    CREDENTIALS_REFUSED = "broken: credentials refused"


_TITLES = {
    ConnectionProblem.SECRET_UNREADABLE: (
        "The {platform} connection {account}cannot be used: its stored secrets cannot be "
        "decrypted (the server's key was lost or changed). Ask whoever runs Relance to restore "
        "it, or connect the account again"
    ),
    ConnectionProblem.CREDENTIALS_REFUSED: (
        "The {platform} connection {account}is refused by {platform}: connect the account "
        "again to give Relance fresh credentials"
    ),
}


def mark_broken(svc: Services, connection_id: int, problem: ConnectionProblem, detail: str) -> None:
    """Record the problem on the connection and raise it to its owner, once (the task is
    dedupe-keyed per connection and problem). Reads first: repeated failures write nothing.
    Bookkeeping only, so it never raises: a webhook still gets its 503, a tick carries on."""
    log.warning("connection %s is broken: %s (%s)", connection_id, problem.value, detail)
    try:
        _mark(svc, connection_id, problem, detail)
    except Exception:
        log.exception("could not mark connection %s broken", connection_id)


def _mark(svc: Services, connection_id: int, problem: ConnectionProblem, detail: str) -> None:
    with svc.sessions() as s:
        conn = s.get(Connection, connection_id)
        if conn is None or (conn.last_sync_status == problem.value and conn.last_sync_error):
            return
    with write_session(svc.sessions) as s:
        conn = s.get(Connection, connection_id, with_for_update=True)
        if conn is None:
            return
        conn.last_sync_status = problem.value
        conn.last_sync_error = detail[:2000]
        account = f"{conn.external_account} " if conn.external_account else ""
        open_task(
            s,
            shop_id=conn.shop_id,
            kind=TaskKind.BROKEN_CONNECTION,
            title=_TITLES[problem].format(platform=conn.platform, account=account),
            detail=detail,
            dedupe_key=f"{TaskKind.BROKEN_CONNECTION.value}:{problem.name}:{connection_id}",
        )


def clear_unreadable(svc: Services, connection_ids: list[int]) -> None:
    """The secrets of these connections open again (the key was restored): lift that mark.
    The owner's task stays, for them to close."""
    marked = (
        select(Connection)
        .where(
            Connection.id.in_(connection_ids),
            Connection.last_sync_status == ConnectionProblem.SECRET_UNREADABLE.value,
        )
        .order_by(Connection.id)
    )
    with svc.sessions() as s:
        if not connection_ids or s.scalar(marked.limit(1)) is None:
            return  # the usual case: nothing to lift, no write transaction
    with write_session(svc.sessions) as s:
        for conn in s.scalars(marked.with_for_update()):
            conn.last_sync_status = None
            conn.last_sync_error = None
