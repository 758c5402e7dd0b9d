"""Adapters by platform name, loaded lazily one entry point at a time.

``load_adapters`` imports every registered adapter; one that fails to import (a plug-in being
installed or broken) must not take the intake of the other platforms down with it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from importlib.metadata import entry_points

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


def _load_one(platform: str) -> PlatformAdapter | None:
    for ep in entry_points(group=ENTRY_POINT_GROUP, name=platform):
        try:
            factory = ep.load()
            adapter: PlatformAdapter = factory() if callable(factory) else factory
        except Exception:
            log.exception("adapter %s could not be loaded", platform)
            return None
        return adapter
    return None
