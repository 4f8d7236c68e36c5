"""The write-ahead healing journal (healing.md §4.6): ``healing_journal.jsonl``, O_APPEND + fsync.

Durable events (``begin``, ``phase_begin``/``phase_end`` of remediate, ``end``) are fsynced before
the caller continues, so a remediation command is never sent before its record is on disk.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from agent.log import redact
from agent.state.atomic import atomic_write, ensure_dir
from agent.timefmt import format_rfc3339

JOURNAL_NAME: Final = "healing_journal.jsonl"
COMPACT_OVER: Final = 1024 * 1024
KEEP_FINISHED: Final = 500
_TEXT_CAPS: Final = {"reason": 2000, "error": 500}


@dataclass
class OpenHeal:
    """A heal without ``end`` found at replay."""

    heal_id: str
    begin: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def remediate_started(self) -> bool:
        return any(
            e.get("phase") == "remediate" and e["event"] in ("phase_begin", "phase_end") for e in self.events
        )


class HealingJournal:
    def __init__(
        self,
        state_dir: Path,
        *,
        clock: Callable[[], float] = time.time,
        scrub: Callable[[str], str] | None = None,
    ) -> None:
        self.path = ensure_dir(state_dir) / JOURNAL_NAME
        self._clock = clock
        self._scrub = scrub or redact
        self._lock = threading.Lock()
        self._seq = 0
        self._fd = -1
        self._dirty = False
        self._last_sync = 0.0

    def open(self) -> list[OpenHeal]:
        """Truncate a trailing partial line, return heals without ``end`` (replay input)."""
        open_heals = self._read_and_repair()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.fchmod(self._fd, 0o600)
        return open_heals

    def _read_and_repair(self) -> list[OpenHeal]:
        if not self.path.exists():
            return []
        raw = self.path.read_bytes()
        good_end = raw.rfind(b"\n") + 1
        if good_end != len(raw):
            with open(self.path, "r+b") as fh:
                fh.truncate(good_end)
                fh.flush()
                os.fsync(fh.fileno())
        heals: dict[str, OpenHeal] = {}
        for line in raw[:good_end].splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if not isinstance(rec, dict):
                continue
            self._seq = max(self._seq, int(rec.get("seq", 0)))
            hid = rec.get("heal_id")
            ev = rec.get("event")
            if not isinstance(hid, str):
                continue
            if ev == "begin":
                heals[hid] = OpenHeal(hid, rec)
            elif ev == "end":
                heals.pop(hid, None)
            elif hid in heals:
                heals[hid].events.append(rec)
        return list(heals.values())

    def append(self, heal_id: str, event: str, *, durable: bool, **fields: Any) -> None:
        for key, cap in _TEXT_CAPS.items():
            if isinstance(fields.get(key), str):
                fields[key] = self._scrub(fields[key])[:cap]
        with self._lock:
            if self._fd < 0:
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self._seq += 1
            now = self._clock()
            rec = {"seq": self._seq, "ts": format_rfc3339(now, fraction=3), "heal_id": heal_id,
                   "event": event, **fields}
            os.write(self._fd, json.dumps(rec, separators=(",", ":"), default=str).encode() + b"\n")
            if durable or now - self._last_sync >= 1.0:
                os.fsync(self._fd)
                self._last_sync = now
                self._dirty = False
            else:
                self._dirty = True

    # Parameter values never enter the journal (only names); re-verify after a crash needs them,
    # so they live in a 0600 sidecar per open heal, written before ``begin`` and removed at ``end``.
    def _params_path(self, heal_id: str) -> Path:
        return self.path.parent / "heal_params" / f"{heal_id}.json"

    def save_params(self, heal_id: str, params: Mapping[str, Any]) -> None:
        ensure_dir(self.path.parent / "heal_params")
        atomic_write(self._params_path(heal_id), json.dumps(dict(params)).encode())

    def load_params(self, heal_id: str) -> dict[str, Any] | None:
        try:
            obj = json.loads(self._params_path(heal_id).read_bytes())
        except (OSError, ValueError):
            return None
        return obj if isinstance(obj, dict) else None

    def drop_params(self, heal_id: str) -> None:
        self._params_path(heal_id).unlink(missing_ok=True)

    def flush(self) -> None:
        with self._lock:
            if self._fd >= 0 and self._dirty:
                os.fsync(self._fd)
                self._dirty = False

    def close(self) -> None:
        self.flush()
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def compact(self) -> None:
        """Keep open heals plus the last 500 finished ones (atomic rewrite)."""
        if not self.path.exists() or self.path.stat().st_size <= COMPACT_OVER:
            return
        with self._lock:
            lines = self.path.read_bytes().splitlines()
            ended: list[str] = []
            seen_end: set[str] = set()
            recs = []
            for line in lines:
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                recs.append((r, line))
                if r.get("event") == "end":
                    ended.append(r["heal_id"])
                    seen_end.add(r["heal_id"])
            keep_finished = set(ended[-KEEP_FINISHED:])
            out = [
                line
                for r, line in recs
                if r.get("heal_id") not in seen_end or r.get("heal_id") in keep_finished
            ]
            atomic_write(self.path, b"\n".join(out) + b"\n")
            if self._fd >= 0:
                os.close(self._fd)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND, 0o600)
