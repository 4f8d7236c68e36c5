"""Deferred completions of ``update_daemon`` and ``nixos_rebuild`` (the Go daemon's markers).

The handler writes its marker durably (``state/atomic.py``) **before** it asks the helper to
switch, and the order's completion is deferred: it is posted by whichever process finds the
marker after a successful checkin, normally the one the switch started.

* ``pending-update.json`` (the Go daemon's fields ``order_id``, ``expected_version``,
  ``scheduled_at``, ``timeout_at``, plus ``nonce``, ``previous_version``): the release that checks
  in with ``expected_version`` writes ``.update-verified`` (that version; the helper's watchdog
  keeps the release once it reads it) and completes the order; a process running another
  version that started after the switch (a rollback) fails it, with the watchdog's reason.
* ``.pending-rebuild-order`` (the order id, the Go daemon's format), ``.rebuild-in-progress``
  (JSON: ``timestamp``, ``previous_system``, ``flake_ref``, plus ``nonce``, ``timeout_at``): a
  checkin from a generation other than ``previous_system`` writes ``.rebuild-verified`` (an RFC
  3339 time, as the Go daemon) and completes the order; back on ``previous_system`` after a
  restart, or past the deadline, it fails.

A process that started before the marker was written (the old version, still stopping) never
decides: only its successor can tell.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.state.atomic import atomic_write
from agent.timefmt import format_rfc3339, parse_rfc3339

PENDING_UPDATE = "pending-update.json"
UPDATE_VERIFIED = ".update-verified"
PENDING_REBUILD = ".pending-rebuild-order"
REBUILD_IN_PROGRESS = ".rebuild-in-progress"
REBUILD_VERIFIED = ".rebuild-verified"
#: Bumped when the markers' layout changes; a release reading a newer one leaves it alone.
MARKER_FORMAT = 1


@dataclass(frozen=True, slots=True)
class Resolution:
    order_id: str
    nonce: str | None
    success: bool
    result: dict[str, Any]
    error: str | None = None
    kind: str = "update"  # or "rebuild": which marker :func:`settle` removes

    def settle(self, state_dir: Path) -> None:
        """The completion is queued durably: the marker goes."""
        (clear_update if self.kind == "update" else clear_rebuild)(state_dir)


def in_flight(state_dir: Path) -> str | None:
    """What is already in flight (one update or rebuild at a time), or None."""
    if (state_dir / PENDING_UPDATE).exists():
        return "an agent update is already in flight"
    if (state_dir / PENDING_REBUILD).exists():
        return "a system rebuild is already in flight"
    return None


def write_update(state_dir: Path, *, order_id: str, nonce: str, version: str, previous: str,
                 timeout_s: float, now: float) -> None:
    doc = {"order_id": order_id, "expected_version": version,
           "scheduled_at": format_rfc3339(now, fraction=6),
           "timeout_at": format_rfc3339(now + timeout_s, fraction=6),
           "nonce": nonce, "previous_version": previous, "format": MARKER_FORMAT}
    (state_dir / UPDATE_VERIFIED).unlink(missing_ok=True)
    atomic_write(state_dir / PENDING_UPDATE, json.dumps(doc, indent=2).encode(), 0o600)


def write_rebuild(state_dir: Path, *, order_id: str, nonce: str, previous_system: str,
                  flake_ref: str, timeout_s: float, now: float) -> None:
    doc = {"timestamp": format_rfc3339(now, fraction=6), "previous_system": previous_system,
           "flake_ref": flake_ref, "nonce": nonce, "timeout_at": format_rfc3339(now + timeout_s),
           "format": MARKER_FORMAT}
    (state_dir / REBUILD_VERIFIED).unlink(missing_ok=True)
    atomic_write(state_dir / REBUILD_IN_PROGRESS, json.dumps(doc).encode(), 0o600)
    atomic_write(state_dir / PENDING_REBUILD, order_id.encode(), 0o600)


def clear_update(state_dir: Path) -> None:
    (state_dir / PENDING_UPDATE).unlink(missing_ok=True)


def clear_rebuild(state_dir: Path) -> None:
    (state_dir / PENDING_REBUILD).unlink(missing_ok=True)
    (state_dir / REBUILD_IN_PROGRESS).unlink(missing_ok=True)


def _load(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _when(text: Any) -> float:
    try:
        return parse_rfc3339(str(text)).timestamp()
    except (ValueError, TypeError):
        return 0.0


def resolve(state_dir: Path, *, version: str, current_system: str, started_at: float,
            rollback_reason: str | None = None, now: float | None = None) -> list[Resolution]:
    """The deferred completions this process can decide after a successful checkin (their
    verified markers written); the caller queues each durably, then calls its ``settle``."""
    t = time.time() if now is None else now
    out = []
    upd = _load(state_dir / PENDING_UPDATE)
    if upd is not None and upd.get("format", 1) <= MARKER_FORMAT:
        res = _resolve_update(state_dir, upd, version, started_at, rollback_reason, t)
        if res is not None:
            out.append(res)
    elif (state_dir / PENDING_UPDATE).exists() and upd is None:
        clear_update(state_dir)  # unreadable: the Go daemon loses such a completion too
    order_id = _read_text(state_dir / PENDING_REBUILD)
    if order_id:
        marker = _load(state_dir / REBUILD_IN_PROGRESS) or {}
        res = _resolve_rebuild(state_dir, order_id, marker, current_system, started_at, t)
        if res is not None:
            out.append(res)
    return out


def _resolve_update(state_dir: Path, doc: dict[str, Any], version: str, started_at: float,
                    reason: str | None, now: float) -> Resolution | None:
    order_id, nonce = str(doc.get("order_id", "")), doc.get("nonce")
    expected = str(doc.get("expected_version", ""))
    scheduled, timeout_at = _when(doc.get("scheduled_at")), _when(doc.get("timeout_at"))
    if version == expected:
        atomic_write(state_dir / UPDATE_VERIFIED, version.encode(), 0o644)
        return Resolution(order_id, nonce, True, {
            "status": "update_confirmed", "version": version, "expected_version": expected,
            "previous_version": doc.get("previous_version")})
    if started_at <= scheduled and now <= timeout_at:
        return None  # this is the process that scheduled the switch: its successor decides
    why = reason or ("rolled back" if started_at > scheduled else
                     "no checkin from the new version before the deadline")
    return Resolution(order_id, nonce, False, {
        "status": "rolled_back", "version": version, "expected_version": expected},
        f"update to {expected} failed: running {version}: {why}")


def _resolve_rebuild(state_dir: Path, order_id: str, marker: dict[str, Any], current: str,
                     started_at: float, now: float) -> Resolution | None:
    previous = str(marker.get("previous_system", ""))
    nonce = marker.get("nonce")
    scheduled, timeout_at = _when(marker.get("timestamp")), _when(marker.get("timeout_at"))
    if previous and current != previous:
        atomic_write(state_dir / REBUILD_VERIFIED, format_rfc3339(now).encode(), 0o644)
        return Resolution(order_id, nonce, True, kind="rebuild", result={
            "status": "rebuild_complete", "completed_after_restart": started_at > scheduled,
            "previous_system": previous, "system": current,
            "message": "checked in from the new generation; the watchdog persists it"})
    if started_at <= scheduled and now <= timeout_at:
        return None
    return Resolution(order_id, nonce, False, {"status": "rolled_back", "system": current},
                      "nixos_rebuild failed: the agent is back on the previous generation "
                      f"({current}); the rebuild was rolled back", kind="rebuild")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()[:256]
    except (OSError, UnicodeDecodeError):
        return ""
