"""The sync cursor: a small JSON document the core stores with each page.

    {"v": 1, "since": 1760000000, "pass": null}                                   idle
    {"v": 1, "since": null, "pass": {"until": T, "phase": "invoices", "after": "in_…"}}  full pass
    {"v": 1, "since": S, "pass": {"until": T, "phase": "events", "after": "evt_…"}}     incremental

``since`` is the watermark: every invoice created, and every event, at or before it has been
yielded. A pass covers the window ``(since, until]`` with ``until`` fixed when the pass starts, so
paging with ``starting_after`` is stable; ``after`` is the last object id of the last page yielded.
When the pass ends the watermark becomes ``until``. A full pass (``since`` null) reads every open
invoice; an incremental one reads invoices created in the window, then the window's events.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Literal

from adapters.stripe.exceptions import InvalidSyncCursor

VERSION = 1
Phase = Literal["invoices", "events"]


@dataclass(frozen=True, slots=True)
class Pass:
    until: int
    phase: Phase
    after: str | None = None


@dataclass(frozen=True, slots=True)
class SyncCursor:
    since: int | None = None
    current: Pass | None = None

    @property
    def incremental(self) -> bool:
        return self.since is not None

    def advanced(self, after: str) -> SyncCursor:
        """Same phase, resuming after the object ``after``."""
        assert self.current is not None
        return replace(self, current=replace(self.current, after=after))

    def phase_done(self) -> SyncCursor:
        """The current phase is exhausted: the next phase, or the pass is complete."""
        assert self.current is not None
        if self.current.phase == "invoices" and self.incremental:
            return replace(self, current=Pass(self.current.until, "events"))
        return SyncCursor(since=self.current.until, current=None)

    def encode(self) -> str:
        body: dict[str, Any] = {"v": VERSION, "since": self.since, "pass": None}
        if self.current is not None:
            body["pass"] = {
                "until": self.current.until,
                "phase": self.current.phase,
                "after": self.current.after,
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
            since = _opt_int(body.get("since"))
            current = None
            if body.get("pass") is not None:
                p = body["pass"]
                if not isinstance(p, dict) or p.get("phase") not in ("invoices", "events"):
                    raise ValueError("bad pass")
                after = p.get("after")
                if after is not None and (not isinstance(after, str) or not after):
                    raise ValueError("bad after")
                until = _opt_int(p.get("until"))
                if until is None or (since is not None and until < since):
                    raise ValueError("bad until")
                if since is None and p["phase"] == "events":
                    raise ValueError("a full pass has no events phase")
                current = Pass(until=until, phase=p["phase"], after=after)
            return cls(since=since, current=current)
        except (ValueError, TypeError) as exc:
            raise InvalidSyncCursor(
                f"unreadable Stripe sync cursor {raw[:200]!r} ({exc}); clear it to resync in full"
            ) from exc


def _opt_int(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"not an integer: {value!r}")
    return value
