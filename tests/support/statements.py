"""Counting what a piece of work sends to the database (SQLAlchemy's engine events): the
statement and commit budgets of the hot paths are asserted with it, never their time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Engine, event


@dataclass
class Counted:
    statements: int = 0
    commits: int = 0
    texts: list[str] = field(default_factory=list)
    # The most parameters one statement bound (an executemany: one row's), with its text.
    widest: tuple[int, str] = (0, "")

    def per(self, items: int) -> tuple[float, float]:
        return self.statements / items, self.commits / items


@contextmanager
def counting(engine: Engine) -> Iterator[Counted]:
    """Every cursor execution (an executemany counts once) and every commit on ``engine``
    while the block runs, from any thread."""
    counted = Counted()

    def statement(
        _conn: object, _cursor: object, text: str, parameters: object, *_: object
    ) -> None:
        counted.statements += 1
        counted.texts.append(text.split(" (", 1)[0][:80])
        if isinstance(parameters, list) and parameters:
            parameters = parameters[0]  # an executemany: the same shape for every row
        width = len(parameters) if isinstance(parameters, dict | tuple) else 0
        if width > counted.widest[0]:
            counted.widest = (width, text[:200])

    def commit(_conn: object) -> None:
        counted.commits += 1

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    try:
        yield counted
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)
