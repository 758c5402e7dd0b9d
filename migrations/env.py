"""Alembic environment: the URL comes from the caller's config or from Settings (env)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from connector.config import Settings
from connector.store import models  # noqa: F401 - registers every table on Base.metadata
from connector.store.base import Base
from connector.store.db import make_engine, normalize_url

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return normalize_url(
        config.get_main_option("sqlalchemy.url") or Settings.from_env().database_url
    )


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=_url().startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=sqlite,
        compare_type=True,
    )
    if not sqlite:
        with context.begin_transaction():
            context.run_migrations()
        return
    # A batch migration recreates a table (copy, DROP, rename): with foreign keys enforced, the
    # DROP of a table other rows point at fails. The PRAGMA is a no-op inside a transaction, so
    # it goes to the driver before Alembic begins; the check afterwards proves nothing dangles.
    raw = connection.connection.dbapi_connection
    assert raw is not None
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        with context.begin_transaction():
            context.run_migrations()
        dangling = raw.execute("PRAGMA foreign_key_check").fetchall()
        if dangling:
            raise RuntimeError(f"migration left dangling foreign keys: {dangling[:5]}")
    finally:
        raw.execute("PRAGMA foreign_keys=ON")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
