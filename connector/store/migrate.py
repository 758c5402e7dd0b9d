"""`relance db upgrade`: Alembic driven from code, so it works wherever the package is installed."""

from __future__ import annotations

from importlib.resources import files

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from connector.store.db import normalize_url


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(files("migrations")))
    cfg.set_main_option("sqlalchemy.url", normalize_url(database_url).replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def current_heads(database_url: str) -> list[str]:
    """The revisions this code's migrations end at."""
    return list(ScriptDirectory.from_config(alembic_config(database_url)).get_heads())


def store_problem(engine: Engine, database_url: str) -> str | None:
    """Why the store can't serve this code as it is (never upgraded, or at another revision),
    said as the end of "the store at … ", or None when it is at the code's head."""
    with engine.connect() as conn:
        stored = set(MigrationContext.configure(conn).get_current_heads())
    wanted = set(current_heads(database_url))
    if not stored:
        return "is not initialised"
    if stored != wanted:
        at, needs = ", ".join(sorted(stored)), ", ".join(sorted(wanted))
        return f"is at revision {at}, this code needs {needs}"
    return None
