"""Adapters by platform name, loaded lazily one entry point at a time.

``load_adapters`` imports every registered adapter; one that fails to import (a plug-in being
installed or broken) must not take the intake of the other platforms down with it.

The entry points themselves are looked up once per process (:func:`_entry_points`): finding
them reads the metadata of every installed distribution (~15,000 small file reads here), and
``apply_pending`` makes a fresh registry per call — `relance serve`'s pump calls it after
nearly every delivery, and that lookup was half of what applying a delivery cost. A plug-in
installed later is found at the next start, as its import would need anyway.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from functools import cache
from importlib.metadata import EntryPoint, entry_points

from connector.platform import ENTRY_POINT_GROUP, PlatformAdapter

log = logging.getLogger(__name__)


class AdapterRegistry:
    def __init__(self, adapters: Mapping[str, PlatformAdapter] | None = None) -> None:
        self._fixed = adapters is not None
        self._found: dict[str, PlatformAdapter | None] = dict(adapters or {})
        self._lock = threading.Lock()

    def get(self, platform: str) -> PlatformAdapter | None:
        if platform in self._found or self._fixed:
            return self._found.get(platform)
        with self._lock:
            if platform not in self._found:
                self._found[platform] = _load_one(platform)
            return self._found[platform]


@cache
def _entry_points() -> dict[str, EntryPoint]:
    """The adapters' entry points by platform name (the first one registered for a name)."""
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep)
    return found


def _load_one(platform: str) -> PlatformAdapter | None:
    ep = _entry_points().get(platform)
    if ep is None:
        return None
    try:
        factory = ep.load()
        adapter: PlatformAdapter = factory() if callable(factory) else factory
    except Exception:
        log.exception("adapter %s could not be loaded", platform)
        return None
    return adapter
