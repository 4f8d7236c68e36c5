"""Python-side process figures for the checkin's ``daemon_health`` (central-api.md §6.3)."""

from __future__ import annotations

import asyncio
import gc
import resource
import sys
import threading
import time
from typing import Any

from agent.proc import rss_bytes

MiB = 1024 * 1024


class GcTimer:
    """Measures garbage-collection pauses through ``gc.callbacks``."""

    def __init__(self) -> None:
        self.last_pause_ms = 0.0
        self._start = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        elif self._start:
            self.last_pause_ms = (time.perf_counter() - self._start) * 1000.0

    def close(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)


def figures() -> dict[str, Any]:
    try:
        tasks = len(asyncio.all_tasks())
    except RuntimeError:
        tasks = 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    rss = rss_bytes()
    return {
        "goroutines": threading.active_count() + tasks,
        "heap_alloc_mb": round(rss / MiB, 2),
        "heap_sys_mb": round(max(peak, rss) / MiB, 2),
        "gc_cycles": sum(s["collections"] for s in gc.get_stats()),
        "runtime": f"{sys.implementation.name}-{sys.version_info.major}.{sys.version_info.minor}",
    }
