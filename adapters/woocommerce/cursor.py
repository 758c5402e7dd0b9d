"""The sync cursor: a watermark between passes, a page number inside one.

Stored by the core as an opaque string (JSON)::

    {"v": 1, "since": "2026-03-06T15:00:00+00:00" | null, "pass": null}                   idle
    {"v": 1, "since": S, "pass": {"page": 3, "started": "…", "max_modified": "…"}}      in a pass

- ``since`` null: a *full* pass over every order (only owed ones are yielded).
- ``since`` set: an *incremental* pass, ``modified_after = since − LOOKBACK`` and any status, so
  orders that were paid, cancelled or refunded come back and the core closes them.
- ``pass.page``: the next page to read of the same query (ordered by id, so stable; see
  ``settings.ORDERBY``). ``started`` is the shop's clock (``Date``) when the pass began,
  ``max_modified`` the largest ``date_modified_gmt`` seen so far.

When a pass ends the next ``since`` is ``min(max_modified, started)`` (never below ``since``):
the last modification seen, unless an order was modified while the pass ran — one already read
would then be missed, so the watermark stays at the pass's start and the next pass re-reads it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from adapters.woocommerce.exceptions import InvalidSyncCursor

VERSION = 1


@dataclass(frozen=True, slots=True)
class Pass:
    page: int = 1
    started: datetime | None = None
    max_modified: datetime | None = None


@dataclass(frozen=True, slots=True)
class SyncCursor:
    since: datetime | None = None
    current: Pass | None = None

    @property
    def incremental(self) -> bool:
        return self.since is not None

    def start(self, started: datetime | None) -> SyncCursor:
        """A fresh pass from this cursor's watermark (no-op when one is open)."""
        if self.current is not None:
            return self
        return replace(self, current=Pass(page=1, started=started))

    def saw(self, modified: datetime) -> SyncCursor:
        assert self.current is not None
        known = self.current.max_modified
        if known is None or modified > known:
            return replace(self, current=replace(self.current, max_modified=modified))
        return self

    def next_page(self) -> SyncCursor:
        assert self.current is not None
        return replace(self, current=replace(self.current, page=self.current.page + 1))

    def finish(self) -> SyncCursor:
        """The watermark for the next pass (see module docstring)."""
        assert self.current is not None
        candidates = [t for t in (self.current.max_modified, self.current.started) if t]
        watermark = min(candidates) if candidates else self.since
        if self.since is not None and (watermark is None or watermark < self.since):
            watermark = self.since
        return SyncCursor(since=watermark, current=None)

    def encode(self) -> str:
        body: dict[str, Any] = {"v": VERSION, "since": _iso(self.since), "pass": None}
        if self.current is not None:
            body["pass"] = {
                "page": self.current.page,
                "started": _iso(self.current.started),
                "max_modified": _iso(self.current.max_modified),
            }
        return json.dumps(body, separators=(",", ":"), sort_keys=True)

    @classmethod
    def decode(cls, raw: str | None) -> SyncCursor:
        """Parse a stored cursor; None (never synced) is the empty cursor."""
        if raw is None or raw == "":
            return cls()
        try:
            body = json.loads(raw)
            if not isinstance(body, dict) or body.get("v") != VERSION:
                raise ValueError("not a version-1 cursor")
            current = None
            p = body.get("pass")
            if p is not None:
                if not isinstance(p, dict):
                    raise ValueError("bad pass")
                page = p.get("page")
                if isinstance(page, bool) or not isinstance(page, int) or page < 1:
                    raise ValueError("bad page")
                current = Pass(
                    page=page,
                    started=_parse(p.get("started")),
                    max_modified=_parse(p.get("max_modified")),
                )
            return cls(since=_parse(body.get("since")), current=current)
        except (ValueError, TypeError) as exc:
            raise InvalidSyncCursor(
                f"unreadable WooCommerce sync cursor {raw[:200]!r} ({exc}); "
                "clear it to resync in full"
            ) from exc


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _parse(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {value!r}")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp without offset: {value!r}")
    return parsed.astimezone(UTC)
