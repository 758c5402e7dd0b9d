"""Date arithmetic in SQL that SQLite and PostgreSQL both run: ``plus_days(instant, n)``.

SQLite keeps UTC instants as ISO text ("2026-06-01 08:00:00.000000"), so ``datetime(x, '+n
days')`` gives text that compares in the same order; PostgreSQL adds an interval."""

from __future__ import annotations

from typing import Any

from sqlalchemy import literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import SQLCoreOperations
from sqlalchemy.sql.functions import FunctionElement

from connector.store.base import UTCDateTime


class plus_days(FunctionElement[Any]):
    """``instant + n days`` (n an int column or value)."""

    type = UTCDateTime()
    inherit_cache = True
    name = "plus_days"

    def __init__(self, instant: SQLCoreOperations[Any], days: SQLCoreOperations[Any] | int) -> None:
        super().__init__(instant, days if not isinstance(days, int) else literal(days))


@compiles(plus_days, "sqlite")
def _sqlite(element: plus_days, compiler: Any, **kw: Any) -> str:
    instant, days = list(element.clauses)
    return (
        f"strftime('%Y-%m-%d %H:%M:%f000', {compiler.process(instant, **kw)}, "
        f"({compiler.process(days, **kw)}) || ' days')"
    )


@compiles(plus_days, "postgresql")
def _postgresql(element: plus_days, compiler: Any, **kw: Any) -> str:
    instant, days = list(element.clauses)
    return (
        f"({compiler.process(instant, **kw)} + make_interval(days => "
        f"CAST({compiler.process(days, **kw)} AS integer)))"
    )
