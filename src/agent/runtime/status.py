"""``status.json`` (runtime.md §11): what the daemon is doing, for ``status`` and ``daemon_health``.

Components register a section (a callable returning a JSON-able dict); the board merges them
with process figures. The file holds no host names, credentials or PHI.

The daemon writes it when its content changed (:meth:`StatusBoard.changed`: figures that only
age, such as ``*_s_ago``, the process figures and ``written_at``, do not count), at most once per
:data:`MIN_WRITE_INTERVAL_S`, never on a timer. ``stale_after_s`` in the document says how old the
file may get before a reader should call it stale: the daemon rewrites it at the latest when its
next checkin has run (every attempt changes the checkin counters).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from agent import __version__, native
from agent.proc import rss_bytes, runtime_dir
from agent.runtime import promfile
from agent.state.atomic import atomic_write, ensure_dir
from agent.timefmt import format_rfc3339

STATUS_NAME = "status.json"
SYSTEM_RUNTIME_DIR = Path("/run/msp-agent")


def candidate_status_files(state_dir: Path) -> list[Path]:
    """Places ``status`` looks for the daemon's status file, most specific first."""
    out = [runtime_dir(state_dir) / STATUS_NAME, SYSTEM_RUNTIME_DIR / STATUS_NAME,
           state_dir / "run" / STATUS_NAME]
    return list(dict.fromkeys(out))


STALE_AFTER_S = 60.0
#: At most one status write per this many seconds (a burst of changes is written once).
MIN_WRITE_INTERVAL_S = 2.0
#: Keys whose values only age (or are the process's own figures): not a change to write for.
VOLATILE_KEYS = frozenset({"written_at", "process", "loop_lag_s", "next_due_in_s", "stale_after_s"})
ALERTS = ("tls_pin_alert", "trust_alert", "clock_alert")


def problems(doc: dict[str, Any], age_s: float | None = None) -> list[str]:
    """Why a running daemon is degraded, judged from its status document (empty: healthy).

    Degraded: the watchdog is withheld; the status file is stale (``age_s``); no checkin has
    succeeded since the start; the Central Command breaker is open or half-open; a checkin alert
    (TLS pin, server-key trust, clock); the last config reload was rejected; any outbound queue
    over its high-water mark; the oldest undelivered evidence bundle older than
    ``evidence_undelivered_alert_s``."""
    out: list[str] = []
    if doc.get("degraded_reason"):
        out.append(str(doc["degraded_reason"]))
    limit = doc.get("stale_after_s")
    limit = float(limit) if isinstance(limit, int | float) and limit > 0 else STALE_AFTER_S
    if age_s is not None and age_s > max(limit, STALE_AFTER_S):
        out.append(f"status file is {int(age_s)}s old")
    chk = doc.get("checkin")
    if isinstance(chk, dict):
        kind = chk.get("last_error_kind") or "no attempt completed yet"
        if not chk.get("successes"):
            out.append(f"no successful checkin since start ({kind})")
        breaker = chk.get("breaker")
        if breaker == "open":
            out.append(f"Central Command unreachable ({kind}); breaker open")
        elif breaker == "half_open":
            out.append("Central Command breaker half-open (probing after failures)")
        out += [f"{a}: {chk[a]}" for a in ALERTS if chk.get(a)]
    cfg = doc.get("config")
    if isinstance(cfg, dict) and cfg.get("reload_error"):
        out.append("last config reload was rejected")
    for q in _queues(doc):
        out.append(f"{q.get('kind')} queue over its high-water mark ({q.get('pending')} items, "
                   f"high-water {q.get('high_water_files')})")
    ev = doc.get("evidence")
    if isinstance(ev, dict):
        oldest, bound = ev.get("oldest_undelivered_s"), ev.get("undelivered_alert_s")
        if isinstance(oldest, int | float) and isinstance(bound, int | float) and bound > 0 \
                and oldest > bound:
            out.append(f"evidence not delivered for {int(oldest)}s (bound {int(bound)}s)")
    return out


def _queues(node: object) -> list[dict[str, Any]]:
    """Every queue status (a dict with ``over_high_water``) in the document that is over."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if node.get("over_high_water") is True:
            found.append(node)
        for value in node.values():
            found += _queues(value)
    elif isinstance(node, list):
        for value in node:
            found += _queues(value)
    return found


class StatusBoard:
    """Collects status sections and writes ``status.json`` atomically."""

    def __init__(self, state_dir: Path, loop_name: str, metrics_textfile: str | None = None) -> None:
        """``metrics_textfile``: the config key of that name (the Prometheus file written with
        every status write; ``""`` turns it off)."""
        self.state_dir = state_dir
        self.metrics_textfile = metrics_textfile
        self.path = runtime_dir(state_dir) / STATUS_NAME
        self.loop_name = loop_name
        self.started_wall = time.time()
        self.started_mono = time.monotonic()
        self.sections: dict[str, Callable[[], dict[str, Any]]] = {}
        self.state = "starting"
        self.degraded_reason = ""
        self.writes = 0
        self.last_write: float | None = None  # monotonic
        self._written: object = None  # the stable part of the last document written
        self._written_head: tuple[object, object] = (None, None)  # its state, degraded reason

    def add_section(self, name: str, fn: Callable[[], dict[str, Any]]) -> None:
        self.sections[name] = fn

    def process_figures(self) -> dict[str, Any]:
        try:
            tasks = len(asyncio.all_tasks())
        except RuntimeError:
            tasks = 0
        return {
            "rss_bytes": rss_bytes(),
            "gc_counts": list(gc.get_count()),
            "gc_collections": [s["collections"] for s in gc.get_stats()],
            "tasks": tasks,
            "uptime_s": round(time.monotonic() - self.started_mono, 1),
        }

    def build(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "version": __version__,
            "pid": os.getpid(),
            "state": self.state,
            "degraded_reason": self.degraded_reason,
            "state_dir": str(self.state_dir),
            "started_at": format_rfc3339(self.started_wall, fraction=6),
            "written_at": format_rfc3339(fraction=6),
            "native_core": native.NATIVE,
            "native_reason": native.STATUS.reason,
            "event_loop": self.loop_name,
            "process": self.process_figures(),
        }
        for name, fn in self.sections.items():
            doc[name] = fn()
        return doc

    def changed(self, doc: dict[str, Any]) -> bool:
        """Whether ``doc`` differs from the last document written in more than ageing figures."""
        return fingerprint(doc) != self._written

    def next_write_at(self, now: float) -> float:
        """The earliest moment (monotonic) the rate bound allows the next write; now when the
        daemon's state or degraded reason changed since the last write (never held back)."""
        if self.last_write is None or self._written_head != (self.state, self.degraded_reason):
            return now
        return self.last_write + MIN_WRITE_INTERVAL_S

    def write(self, doc: dict[str, Any] | None = None) -> None:
        """Blocking: call from a worker thread while the loop runs. Atomic, not fsynced: the
        file is volatile (rewritten on every change, judged stale by its age), and an fsync per
        change was most of an idle cycle's CPU."""
        doc = doc if doc is not None else self.build()
        body = msgspec.json.encode(doc)
        ensure_dir(self.path.parent, 0o750)
        atomic_write(self.path, body, 0o640, durable=False)
        promfile.write_configured(self.metrics_textfile, self.state_dir, doc)
        self._written = fingerprint(doc)
        self._written_head = (doc.get("state"), doc.get("degraded_reason"))
        self.last_write = time.monotonic()
        self.writes += 1


def fingerprint(doc: dict[str, Any]) -> bytes:
    """``doc`` encoded without what only ages (:data:`VOLATILE_KEYS` at the top, ``*_s_ago`` and
    the other :data:`_AGEING` figures anywhere): equal fingerprints, nothing to write."""
    head = {k: v for k, v in doc.items() if k not in VOLATILE_KEYS}
    return _AGEING.sub(b"", msgspec.json.encode(head))


#: A job's ``runs`` count is one of them: a job that ran again as scheduled (no failure, no
#: error, not stuck — those are compared) is not a change worth a write.
_AGEING = re.compile(rb'"(?:[A-Za-z0-9_]*_s_ago|next_due_in_s|loop_lag_s|runs)":(?:null|[-+.0-9eE]+)')


def read_status(path: Path) -> dict[str, Any] | None:
    try:
        obj = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None
