"""The sync cursor: a watermark between runs, a position inside a run.

Stored by the core as an opaque string (JSON)::

    {"v": 1, "since": "2026-03-06T15:00:00+00:00" | null,   # lower bound of this run
     "after": "<endCursor>" | null,                          # resume after this page
     "run_started_at": "...", "max_updated_at": "..."}       # only while a run is open

- ``since`` null: a *full* run -- every order whose financial status may be owed.
- ``since`` set: an *incremental* run -- every order with ``updated_at >= since - lookback``,
  whatever its status, so orders that became paid/voided/refunded/cancelled come back.
- ``after`` set: the run was interrupted; the same query resumes after that page.

When a run ends, the next ``since`` is:

- after a full run, the wall clock when it *started* (an owed order paid during the run drops
  out of the filtered query, so the largest ``updatedAt`` seen would skip that payment);
- after an incremental run, ``max(since, largest updatedAt seen)`` -- Shopify's own clock,
  compared as aware datetimes (shop-local offsets such as ``-05:00`` are common).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from adapters.shopify.exceptions import ShopifyCursorError

VERSION = 1


@dataclass(frozen=True, slots=True)
class SyncCursor:
    since: datetime | None = None
    after: str | None = None
    run_started_at: datetime | None = None
    max_updated_at: datetime | None = None

    @property
    def in_run(self) -> bool:
        return self.after is not None

    def start(self, now: datetime) -> SyncCursor:
        """A fresh run from this cursor's watermark."""
        return SyncCursor(since=self.since, after=None, run_started_at=now, max_updated_at=None)

    def saw(self, updated_at: datetime) -> SyncCursor:
        if self.max_updated_at is None or updated_at > self.max_updated_at:
            return replace(self, max_updated_at=updated_at)
        return self

    def next_page(self, end_cursor: str) -> SyncCursor:
        return replace(self, after=end_cursor)

    def finish(self) -> SyncCursor:
        """The watermark for the next run (see module docstring)."""
        if self.since is None:
            watermark = self.run_started_at
        elif self.max_updated_at is not None and self.max_updated_at > self.since:
            watermark = self.max_updated_at
        else:
            watermark = self.since
        return SyncCursor(since=watermark)

    def encode(self) -> str:
        return json.dumps(
            {
                "v": VERSION,
                "since": _iso(self.since),
                "after": self.after,
                "run_started_at": _iso(self.run_started_at),
                "max_updated_at": _iso(self.max_updated_at),
            },
            separators=(",", ":"),
            sort_keys=True,
        )

    @classmethod
    def decode(cls, raw: str | None) -> SyncCursor:
        if raw is None or raw == "":
            return cls()
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise ShopifyCursorError("the stored Shopify sync cursor is not JSON") from exc
        if not isinstance(data, dict) or data.get("v") != VERSION:
            raise ShopifyCursorError("the stored sync cursor was not written by this adapter")
        after = data.get("after")
        if after is not None and not isinstance(after, str):
            raise ShopifyCursorError("the stored sync cursor has a bad page position")
        return cls(
            since=_parse(data.get("since")),
            after=after or None,
            run_started_at=_parse(data.get("run_started_at")),
            max_updated_at=_parse(data.get("max_updated_at")),
        )


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _parse(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise ShopifyCursorError(f"the stored sync cursor has a bad timestamp {value!r}")
    return parsed.astimezone(UTC)
