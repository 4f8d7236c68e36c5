"""Scan-health findings (healing.md §2.5 "Scan health", §2.6; exec.md §5 "Scan outcome").

* ``device_unreachable`` — the host failed every management-protocol attempt (a transport error
  kind), or two consecutive scans produced no valid record (``error_kind=scan_output_invalid``).
* ``credential_stale`` — authentication failed (high, 164.312(d)), or no successful scan for 7 days
  (medium, 164.308(a)(8); at most once per 24 h per host).
* ``subnet_dark`` — at least 3 remote targets and at least 80 % of them unreachable in one scan
  round: one aggregate finding on host ``network`` replaces the round's ``device_unreachable``
  findings.

:class:`ScanHealth` keeps the per-host counters; ``device_unreachable`` findings are held until
:meth:`ScanHealth.finish_round` decides between them and one ``subnet_dark``. The last-success
times survive restarts in ``scan_health.json`` (0600) so a restart does not reset the 7-day clock.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeGuard

from agent.log import get_logger
from agent.scan.model import Finding, HostResult, catalog_finding
from agent.state.atomic import atomic_write, read_json_object

log = get_logger("scan")

STATE_FILE: Final = "scan_health.json"
STALE_AFTER_S: Final = 7 * 86400.0
STALE_REPEAT_S: Final = 86400.0
INVALID_AFTER: Final = 2  # consecutive failed scans before scan_output_invalid (§2.6)
DARK_MIN_TARGETS: Final = 3
DARK_RATIO: Final = 0.8
PERSIST_STEP_S: Final = 3600.0  # last-success times are persisted with this resolution
MAX_HOSTS: Final = 4096
NETWORK_HOST: Final = "network"

# exec.md §5: kinds whose scan outcome is device_unreachable straight away.
UNREACHABLE_KINDS: Final = frozenset(
    {
        "unreachable",
        "connect_timeout",
        "tls_error",
        "host_key_mismatch",
        "tls_pin_mismatch",
        "connection_lost",
        "protocol_error",
    }
)
AUTH_KINDS: Final = frozenset({"auth_failed", "privilege_failed"})
# Not a verdict on the host: shutdown, or no credential configured (an L3 setup matter).
NEUTRAL_KINDS: Final = frozenset({"cancelled", "no_credentials"})
INVALID_KIND: Final = "scan_output_invalid"

_SOURCES: Final = {"windows": "driftscan", "linux": "linuxscan", "macos": "macosscan"}


def source_for(platform: str) -> str:
    return _SOURCES.get(platform, "linuxscan")


def _finding(
    host: str,
    check_type: str,
    *,
    platform: str,
    label: str,
    expected: str,
    actual: str,
    details: dict[str, Any],
    now: float,
    severity: str = "",
    hipaa: str = "",
    discriminator: str = "",
    source: str = "",
) -> Finding:
    return catalog_finding(
        host,
        check_type,
        expected,
        actual,
        details,
        platform=platform,
        source=source or source_for(platform),
        label=label,
        now=now,
        severity=severity,
        hipaa=hipaa,
        discriminator=discriminator,
    )


def unreachable_finding(host: str, platform: str, label: str, error_kind: str, now: float) -> Finding:
    return _finding(
        host,
        "device_unreachable",
        platform=platform,
        label=label,
        expected="host reachable over its management protocol",
        actual=f"scan failed: {error_kind}",
        details={"error_kind": error_kind},
        now=now,
    )


def auth_stale_finding(host: str, platform: str, label: str, error_kind: str, now: float) -> Finding:
    return _finding(
        host,
        "credential_stale",
        platform=platform,
        label=label,
        expected="the stored credential is accepted",
        actual=f"authentication failed: {error_kind}",
        details={"error_kind": error_kind},
        now=now,
        severity="high",
        hipaa="164.312(d)",
        discriminator="auth",
    )


def age_stale_finding(host: str, platform: str, label: str, days: int, now: float) -> Finding:
    return _finding(
        host,
        "credential_stale",
        platform=platform,
        label=label,
        expected="a successful scan within 7 days",
        actual=f"no successful scan for {days} days",
        details={"days_since_success": days},
        now=now,
        severity="medium",
        hipaa="164.308(a)(8)",
        discriminator="no_success",
    )


def subnet_dark_finding(unreachable: Sequence[Finding], total: int, now: float) -> Finding:
    hosts = sorted({f.host for f in unreachable})
    return _finding(
        NETWORK_HOST,
        "subnet_dark",
        platform="network",
        label="",
        expected="fewer than 80% of the targets unreachable",
        actual=f"{len(hosts)} of {total} targets unreachable",
        details={"unreachable": len(hosts), "total": total, "hosts": hosts},
        now=now,
        source="netscan",
    )


def is_dark(unreachable: int, total: int) -> bool:
    """§2.5: at least 3 targets and at least 80 % of them unreachable in one round."""
    return total >= DARK_MIN_TARGETS and unreachable >= math.ceil(DARK_RATIO * total - 1e-9)


@dataclass(slots=True, eq=False)
class _Host:
    first_seen: float
    last_ok: float | None = None
    stale_reported: float | None = None
    failed_streak: int = 0


@dataclass
class Verdict:
    """What one host result means for scan health."""

    immediate: list[Finding] = field(default_factory=list)  # reported with the host's result
    held: list[Finding] = field(default_factory=list)  # device_unreachable, settled at round end


class ScanHealth:
    """Per-host failure counters and the round-level ``subnet_dark`` decision. ``clock`` is wall time."""

    def __init__(self, state_dir: Path | None = None, *, clock: Callable[[], float] = time.time) -> None:
        self.path = state_dir / STATE_FILE if state_dir is not None else None
        self.clock = clock
        self.hosts: dict[str, _Host] = {}
        self._round: list[Finding] = []
        self._round_total = 0
        self._persisted: dict[str, Any] = {}
        self._load()

    # --- persistence ---------------------------------------------------------------------------

    def _load(self) -> None:
        if self.path is None:
            return
        try:
            raw = read_json_object(self.path)
        except ValueError as exc:
            log.warning("scan.health_state_unreadable", "scan health state ignored", error=str(exc)[:80])
            return
        hosts = raw.get("hosts") if raw is not None else None
        if not isinstance(hosts, dict):
            return
        for host, rec in list(hosts.items())[:MAX_HOSTS]:
            if not isinstance(rec, dict):
                continue
            first, ok, rep = rec.get("first_seen"), rec.get("last_ok"), rec.get("stale_reported")
            if not _num(first):
                continue
            self.hosts[str(host)] = _Host(
                float(first), float(ok) if _num(ok) else None, float(rep) if _num(rep) else None
            )
        self._persisted = self._snapshot()

    def _snapshot(self) -> dict[str, Any]:
        return {
            h: {"first_seen": s.first_seen, "last_ok": s.last_ok, "stale_reported": s.stale_reported}
            for h, s in self.hosts.items()
        }

    def _save(self, force: bool = False) -> None:
        if self.path is None:
            return
        snap = self._snapshot()
        if not force and not self._changed(snap):
            return
        try:
            atomic_write(self.path, json.dumps({"version": 1, "hosts": snap}, sort_keys=True).encode(), 0o600)
            self._persisted = snap
        except OSError as exc:
            log.warning(
                "scan.health_state_write_failed", "scan health state not saved", error=type(exc).__name__
            )

    def _changed(self, snap: dict[str, Any]) -> bool:
        if snap.keys() != self._persisted.keys():
            return True
        for host, rec in snap.items():
            old = self._persisted[host]
            if rec["first_seen"] != old["first_seen"] or rec["stale_reported"] != old["stale_reported"]:
                return True
            new_ok, old_ok = rec["last_ok"], old["last_ok"]
            if (new_ok is None) != (old_ok is None):
                return True
            if new_ok is not None and old_ok is not None and new_ok - old_ok >= PERSIST_STEP_S:
                return True
        return False

    def forget(self, keep: set[str]) -> None:
        """Drop hosts no longer configured."""
        for host in [h for h in self.hosts if h not in keep]:
            del self.hosts[host]
        self._save()

    # --- per host --------------------------------------------------------------------------------

    def observe(
        self, host: str, platform: str, label: str, res: HostResult, *, remote: bool = True
    ) -> Verdict:
        """Classify one host result. ``remote``: counts towards the round's ``subnet_dark`` ratio."""
        now = self.clock()
        st = self.hosts.get(host)
        if st is None:
            if len(self.hosts) >= MAX_HOSTS:
                oldest = min(self.hosts, key=lambda h: self.hosts[h].last_ok or self.hosts[h].first_seen)
                del self.hosts[oldest]
            st = self.hosts[host] = _Host(first_seen=now)
        out = Verdict()
        kind = res.error_kind
        if remote:
            self._round_total += 1
        if res.status in ("complete", "partial"):
            st.failed_streak = 0
            st.last_ok = now
            st.stale_reported = None
        elif kind not in NEUTRAL_KINDS:
            st.failed_streak += 1
            if kind in UNREACHABLE_KINDS:
                f = unreachable_finding(host, platform, label, kind, now)
                (out.held if remote else out.immediate).append(f)
            elif kind in AUTH_KINDS:
                out.immediate.append(auth_stale_finding(host, platform, label, kind, now))
            elif st.failed_streak >= INVALID_AFTER:
                f = unreachable_finding(host, platform, label, INVALID_KIND, now)
                (out.held if remote else out.immediate).append(f)
        since = st.last_ok if st.last_ok is not None else st.first_seen
        if now - since >= STALE_AFTER_S and (
            st.stale_reported is None or now - st.stale_reported >= STALE_REPEAT_S
        ):
            st.stale_reported = now
            out.immediate.append(age_stale_finding(host, platform, label, int((now - since) // 86400), now))
        self._round.extend(out.held)
        self._save()
        return out

    # --- per round -------------------------------------------------------------------------------

    def finish_round(self) -> list[Finding]:
        """The round's held ``device_unreachable`` findings, or one ``subnet_dark`` replacing them."""
        held, total = self._round, self._round_total
        self._round, self._round_total = [], 0
        unreachable = {f.host for f in held}
        if is_dark(len(unreachable), total):
            log.warning(
                "scan.subnet_dark",
                "most targets unreachable in one round",
                unreachable=len(unreachable),
                total=total,
            )
            return [subnet_dark_finding(held, total, self.clock())]
        return held


def _num(v: Any) -> TypeGuard[int | float]:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
