"""Windows threat detection (healing.md §2.5 "Threat detection and self-heal", §2.2, §6.2) and the
security-event archive (central-api.md §7.7).

Collection is part of the Windows host scan (``scripts/windows_scan.ps1``), so it follows the scan's
target ownership (§6.2). The script emits two kinds of records:

* ``security_event_critical`` — Security-log events (:data:`EVENT_IDS`) newer than the per-host
  cursor (scan parameter ``security_since``: the newest collected event's time, Unix seconds of the
  host clock; without a cursor the script looks back one hour). At most 200 events, oldest first, in
  chunks of a few events per record (a record line stays far below the 64 KiB line cap). Each event:
  ``event_id``, ``record_id``, ``time`` (Unix s), ``source_ip`` (``IpAddress`` of the event data,
  may be empty), ``message`` (cut at 1024 characters on the host).
* ``ransomware_indicator`` — the backup probe's shadow-copy data (``{"vss": {"count": n, ...}}``,
  the same ``Win32_ShadowCopy`` probe the backup checks read).

Evaluation (:class:`ThreatDetector`, an injected clock, no I/O except its small state file):

* ``security_event_critical`` — a new event whose priority (:data:`EVENT_PRIORITY`, 1 = most
  severe) is ≤ 2: one finding per event id (discriminator = the id), severity critical.
* ``ransomware_indicator`` — the host's shadow-copy count dropped from above 0 to 0; at most once
  per 30 min per host (:data:`RANSOMWARE_INTERVAL_S`); the previous count survives restarts.
* ``brute_force_detected`` — failed logons (4625) keyed by source address, across hosts, windows
  measured on the events' own times: ≥ 10 from one source on ≥ 2 hosts within 10 min → one finding
  on host ``network`` (platform ``network``; the attack is not one host's incident — as
  ``subnet_dark``), critical; otherwise ≥ 20 on one host within 5 min → a finding on that host,
  high. One finding per source (discriminator = the source address), the cross-host one preferred.
  Only sources that got a new failure in the scan are evaluated (an old burst is not re-raised).
  Loopback, ``-`` and unparsable addresses are not a source.

A record that is missing, carries ``error`` or has a malformed field is ``unknown`` (§2.6): no
finding, the cursor and the shadow-copy count are kept, nothing is archived.

The per-host cursor ``(time, record id)``, the last shadow-copy counts, the ransomware alert times
and the failed-logon windows are kept in memory and in ``threat_state.json`` (0600, atomic), so a
restart does not re-alert on old events.

Every collected (new) event is archived through :class:`SecurityArchive`: scrubbed by the PHI egress
boundary before it is written to its durable outbox ``security_events_outbox/`` (fail closed: a
batch that cannot be scrubbed is not queued), at most 500 events per request.
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from agent.log import get_logger
from agent.outbox.drain import Drainer, json_sender
from agent.outbox.queue import DurableQueue, Policy, QueueError
from agent.phi.egress import EgressError, egress
from agent.protocol.security_events import MAX_EVENTS
from agent.scan.catalog import CATALOG
from agent.scan.model import Finding, HostResult
from agent.state.atomic import atomic_write, read_json_object
from agent.timefmt import format_rfc3339

log = get_logger("threats")

SOURCE: Final = "threat"
NETWORK_HOST: Final = "network"
STATE_FILE: Final = "threat_state.json"
ARCHIVE_DIR: Final = "security_events_outbox"
ARCHIVE_PATH: Final = "/api/security-events/archive"
ARCHIVE_POLICY: Final = Policy(
    "security_events", max_files=200, max_age_s=7 * 86400.0, overflow="drop_oldest", expire_to="drop"
)
MESSAGE_MAX: Final = 2048

EVENTS_CHECK: Final = "security_event_critical"
VSS_CHECK: Final = "ransomware_indicator"
BRUTE_CHECK: Final = "brute_force_detected"

#: Security-log event id -> (priority, description); priority 1 is the most severe and priorities
#: 1-2 raise ``security_event_critical``. The script collects exactly these ids.
EVENT_PRIORITY: Final[dict[int, tuple[int, str]]] = {
    1102: (1, "Security log cleared"),
    1100: (2, "Event logging service shut down"),
    4719: (2, "System audit policy changed"),
    4649: (2, "Replay attack detected"),
    4765: (2, "SID history added to an account"),
    4766: (2, "Attempt to add SID history failed"),
    4794: (2, "Attempt to set the DSRM administrator password"),
    4697: (3, "Service installed"),
    4720: (3, "User account created"),
    4728: (3, "Member added to a security-enabled global group"),
    4732: (3, "Member added to a security-enabled local group"),
    4756: (3, "Member added to a security-enabled universal group"),
    4740: (3, "User account locked out"),
    4724: (4, "Attempt to reset an account password"),
    4625: (4, "Failed logon"),
}
EVENT_IDS: Final = frozenset(EVENT_PRIORITY)
CRITICAL_PRIORITY: Final = 2
FAILED_LOGON: Final = 4625

RANSOMWARE_INTERVAL_S: Final = 1800.0
CROSS_WINDOW_S: Final = 600
CROSS_MIN_FAILURES: Final = 10
CROSS_MIN_HOSTS: Final = 2
SINGLE_WINDOW_S: Final = 300
SINGLE_MIN_FAILURES: Final = 20
MAX_PER_SOURCE: Final = 500
MAX_SOURCES: Final = 2000
MAX_HOSTS: Final = 5000
SOURCE_TTL_S: Final = 86400.0


@dataclass(frozen=True, slots=True)
class SecEvent:
    """One collected Security-log event (host clock times)."""

    event_id: int
    record_id: int
    time: int
    source_ip: str
    message: str


def _nonneg(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


def parse_events(data: Mapping[str, Any]) -> list[SecEvent] | None:
    """The events of one ``security_event_critical`` record; None = unknown (§2.6)."""
    if "error" in data:
        return None
    raw = data.get("events")
    if raw is None:
        return None
    if isinstance(raw, Mapping):
        raw = [raw]  # a one-element array may arrive unwrapped (§6.5)
    if not isinstance(raw, list):
        return None
    out = []
    for e in raw:
        if not isinstance(e, Mapping):
            return None
        eid, rid, t = _nonneg(e.get("event_id")), _nonneg(e.get("record_id")), _nonneg(e.get("time"))
        ip, msg = e.get("source_ip", ""), e.get("message", "")
        if eid is None or rid is None or not t:
            return None
        if not isinstance(ip, str | None) or not isinstance(msg, str | None):
            return None
        out.append(SecEvent(eid, rid, t, (ip or "").strip(), (msg or "")[:MESSAGE_MAX]))
    return out


def parse_shadow_count(data: Mapping[str, Any]) -> int | None:
    """The shadow-copy count of one ``ransomware_indicator`` record; None = unknown."""
    vss = data.get("vss")
    if "error" in data or not isinstance(vss, Mapping) or "error" in vss:
        return None
    return _nonneg(vss.get("count"))


def normalize_source(ip: str) -> str | None:
    """The failed logon's source address, or None when it is not a remote source."""
    try:
        addr = ipaddress.ip_address(ip.strip().split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if addr.is_loopback or addr.is_unspecified:
        return None
    return str(addr)


@dataclass
class Collection:
    """What one host scan delivered; its evaluators capture the records (they stay ``pass`` or
    ``unknown`` here; :meth:`ThreatDetector.finish` sets ``drift``)."""

    host: str
    params: dict[str, str]
    events: list[SecEvent] = field(default_factory=list)
    events_seen: bool = False
    events_bad: bool = False
    shadow_count: int | None = None
    shadow_bad: bool = False

    def _events(self, data: Mapping[str, Any]) -> list[Any] | None:
        evs = parse_events(data)
        if evs is None or self.events_bad:
            self.events_bad = True
            return None
        self.events_seen = True
        self.events.extend(evs)
        return []

    def _shadow(self, data: Mapping[str, Any]) -> list[Any] | None:
        n = parse_shadow_count(data)
        if n is None or self.shadow_bad:
            self.shadow_bad = True
            self.shadow_count = None
            return None
        self.shadow_count = n
        return []

    @property
    def evaluators(self) -> dict[str, Callable[[Mapping[str, Any]], list[Any] | None]]:
        return {EVENTS_CHECK: self._events, VSS_CHECK: self._shadow}


class ThreatDetector:
    """Stateful threat evaluation across host scans; see the module docstring."""

    def __init__(
        self,
        state_dir: Path | None,
        *,
        clock: Callable[[], float] = time.time,
        archive: SecurityArchive | None = None,
    ) -> None:
        self.path = None if state_dir is None else Path(state_dir) / STATE_FILE
        self.clock = clock
        self.archive = archive
        self.cursors: dict[str, tuple[int, int]] = {}
        self.shadow: dict[str, int] = {}
        self.ransomware_at: dict[str, float] = {}
        #: source -> [(event time, host, record id)], sorted by time
        self.failures: dict[str, list[tuple[int, str, int]]] = {}
        self.pending: list[Finding] = []  # cross-host findings, queued after the round
        self._load()

    # --- persistence ----------------------------------------------------------------------------

    def _load(self) -> None:
        if self.path is None:
            return
        try:
            doc = read_json_object(self.path)
        except ValueError as exc:
            log.warning("threats.state_unreadable", "threat state unreadable; starting empty", error=str(exc))
            return
        if not doc:
            return
        try:
            for h, c in dict(doc.get("cursors", {})).items():
                if isinstance(c, list) and len(c) == 2 and all(_nonneg(x) is not None for x in c):
                    self.cursors[h] = (int(c[0]), int(c[1]))
            for h, n in dict(doc.get("shadow", {})).items():
                if isinstance(h, str) and _nonneg(n) is not None:
                    self.shadow[h] = int(n)
            for h, t in dict(doc.get("ransomware_at", {})).items():
                if isinstance(h, str) and isinstance(t, int | float) and not isinstance(t, bool):
                    self.ransomware_at[h] = float(t)
            for src, entries in dict(doc.get("failures", {})).items():
                ok = [
                    (int(e[0]), e[1], int(e[2]))
                    for e in entries
                    if isinstance(e, list)
                    and len(e) == 3
                    and _nonneg(e[0]) is not None
                    and isinstance(e[1], str)
                    and _nonneg(e[2]) is not None
                ]
                if isinstance(src, str) and ok:
                    self.failures[src] = sorted(ok)[-MAX_PER_SOURCE:]
        except (TypeError, ValueError, AttributeError):
            log.warning("threats.state_unreadable", "threat state malformed; partly loaded")

    def save(self) -> None:
        if self.path is None:
            return
        doc = {
            "version": 1,
            "cursors": {h: list(c) for h, c in self.cursors.items()},
            "shadow": self.shadow,
            "ransomware_at": self.ransomware_at,
            "failures": {s: [list(e) for e in v] for s, v in self.failures.items()},
        }
        try:
            atomic_write(self.path, json.dumps(doc, separators=(",", ":")).encode(), mode=0o600)
        except OSError as exc:
            log.error("threats.state_write_failed", "threat state not saved", error=type(exc).__name__)

    # --- scan hand-off ----------------------------------------------------------------------------

    def collection(self, host: str) -> Collection:
        """A new collection for one scan of ``host``, with its scan parameters (the cursor)."""
        cur = self.cursors.get(host)
        return Collection(host, {"security_since": str(cur[0])} if cur else {})

    def finish(self, res: HostResult, col: Collection, *, label: str, platform: str = "windows") -> None:
        """Evaluate one host's collection into ``res`` (findings, check states), archive the new
        events, keep the state; cross-host findings go to :attr:`pending`."""
        findings = self.observe(col, label=label, platform=platform)
        for f in findings:
            if f.host == res.host:
                res.findings.append(f)
                res.checks[f.check_type] = "drift"
            else:
                self.pending.append(f)

    def take_pending(self) -> list[Finding]:
        out, self.pending = self.pending, []
        return out

    def observe(self, col: Collection, *, label: str, platform: str = "windows") -> list[Finding]:
        """Pure evaluation of one collection against the kept state (updates the state)."""
        now = self.clock()
        host = col.host
        out: list[Finding] = []
        changed = False
        if col.events_seen and not col.events_bad:
            new = self._new_events(host, col.events)
            if new:
                changed = True
                out += self._critical(host, new, label, platform, now)
                out += self._brute_force(host, new, label, platform, now)
                if self.archive is not None:
                    self.archive.enqueue(host, new)
        if col.shadow_count is not None and not col.shadow_bad:
            f = self._ransomware(host, col.shadow_count, label, platform, now)
            changed = True
            if f is not None:
                out.append(f)
        if changed:
            self._gc(now)
            self.save()
        return out

    # --- evaluation -----------------------------------------------------------------------------

    def _new_events(self, host: str, events: Sequence[SecEvent]) -> list[SecEvent]:
        cur = self.cursors.get(host, (0, 0))
        seen: set[int] = set()
        new = []
        for e in sorted(events, key=lambda e: (e.time, e.record_id)):
            if (e.time, e.record_id) > cur and e.record_id not in seen:
                seen.add(e.record_id)
                new.append(e)
        if new:
            last = new[-1]
            self.cursors[host] = (last.time, last.record_id)
        return new

    def _finding(
        self,
        host: str,
        check: str,
        expected: str,
        actual: str,
        details: dict[str, Any],
        *,
        platform: str,
        label: str,
        disc: str,
        now: float,
        severity: str = "",
    ) -> Finding:
        spec = CATALOG.spec(check)
        assert spec is not None
        return Finding(
            host=host,
            check_type=check,
            severity=severity or spec.severity,
            hipaa_control=spec.hipaa,
            expected=expected,
            actual=actual,
            details=details,
            platform=platform,
            source=SOURCE,
            label=label,
            discriminator=disc,
            observed_at=now,
        )

    def _critical(
        self, host: str, new: Sequence[SecEvent], label: str, platform: str, now: float
    ) -> list[Finding]:
        by_id: dict[int, list[SecEvent]] = {}
        for e in new:
            prio = EVENT_PRIORITY.get(e.event_id)
            if prio is not None and prio[0] <= CRITICAL_PRIORITY:
                by_id.setdefault(e.event_id, []).append(e)
        out = []
        for eid, evs in sorted(by_id.items()):
            level, desc = EVENT_PRIORITY[eid]
            out.append(
                self._finding(
                    host,
                    EVENTS_CHECK,
                    "no critical security events",
                    f"{desc} (event {eid}) x{len(evs)}",
                    {
                        "event_id": eid,
                        "description": desc,
                        "priority": level,
                        "count": len(evs),
                        "last_seen": format_rfc3339(evs[-1].time),
                        "record_id": evs[-1].record_id,
                    },
                    platform=platform,
                    label=label,
                    disc=str(eid),
                    now=now,
                )
            )
        return out

    def _ransomware(self, host: str, count: int, label: str, platform: str, now: float) -> Finding | None:
        prev = self.shadow.get(host)
        self.shadow[host] = count
        if prev is None or prev <= 0 or count != 0:
            return None
        last = self.ransomware_at.get(host)
        if last is not None and 0 <= now - last < RANSOMWARE_INTERVAL_S:
            return None
        self.ransomware_at[host] = now
        return self._finding(
            host,
            VSS_CHECK,
            "volume shadow copies kept",
            f"shadow copies dropped from {prev} to 0",
            {"previous_count": prev, "count": 0},
            platform=platform,
            label=label,
            disc="",
            now=now,
        )

    def _brute_force(
        self, host: str, new: Sequence[SecEvent], label: str, platform: str, now: float
    ) -> list[Finding]:
        touched: dict[str, list[int]] = {}
        for e in new:
            if e.event_id != FAILED_LOGON:
                continue
            src = normalize_source(e.source_ip)
            if src is None:
                continue
            entries = self.failures.setdefault(src, [])
            entries.append((e.time, host, e.record_id))
            touched.setdefault(src, []).append(e.time)
        out = []
        for src, times in sorted(touched.items()):
            entries = sorted(set(self.failures[src]))[-MAX_PER_SOURCE:]
            f = self._brute_window(src, entries, set(times), host, label, platform, now)
            if f is not None:
                out.append(f)
            newest = entries[-1][0]  # older failures can no longer share a window with a new one
            self.failures[src] = [x for x in entries if x[0] >= newest - CROSS_WINDOW_S]
        return out

    def _brute_window(
        self,
        src: str,
        entries: Sequence[tuple[int, str, int]],
        ends: set[int],
        host: str,
        label: str,
        platform: str,
        now: float,
    ) -> Finding | None:
        """The strongest qualifying window that ends at one of this scan's new failures."""
        best_cross: tuple[int, list[str]] | None = None
        best_single: int = 0
        for end in ends:
            win = [x for x in entries if end - CROSS_WINDOW_S <= x[0] <= end]
            hosts = sorted({x[1] for x in win})
            qualifies = len(win) >= CROSS_MIN_FAILURES and len(hosts) >= CROSS_MIN_HOSTS
            if qualifies and (best_cross is None or len(win) > best_cross[0]):
                best_cross = (len(win), hosts)
            single = sum(1 for x in win if x[1] == host and x[0] >= end - SINGLE_WINDOW_S)
            best_single = max(best_single, single)
        if best_cross is not None:
            n, hosts = best_cross
            return self._finding(
                NETWORK_HOST,
                BRUTE_CHECK,
                f"fewer than {CROSS_MIN_FAILURES} failed logons per source",
                f"{n} failed logons from {src} on {len(hosts)} hosts within {CROSS_WINDOW_S // 60} min",
                {"source_ip": src, "failures": n, "hosts": hosts, "window_s": CROSS_WINDOW_S},
                platform="network",
                label="",
                disc=src,
                now=now,
            )
        if best_single >= SINGLE_MIN_FAILURES:
            return self._finding(
                host,
                BRUTE_CHECK,
                f"fewer than {SINGLE_MIN_FAILURES} failed logons per source",
                f"{best_single} failed logons from {src} within {SINGLE_WINDOW_S // 60} min",
                {"source_ip": src, "failures": best_single, "hosts": [host], "window_s": SINGLE_WINDOW_S},
                platform=platform,
                label=label,
                disc=src,
                now=now,
                severity="high",
            )
        return None

    def _gc(self, now: float) -> None:
        """Bounded state: failure sources whose last failure is a day older than the newest failure
        of any source (event times), then the oldest sources/hosts over the caps; expired alerts."""
        if self.failures:
            newest = max((v[-1][0] for v in self.failures.values() if v), default=0)
            for src in [s for s, v in self.failures.items() if not v or v[-1][0] < newest - SOURCE_TTL_S]:
                del self.failures[src]
            if len(self.failures) > MAX_SOURCES:
                by_age = sorted(self.failures, key=lambda s: self.failures[s][-1][0])
                for src in by_age[: len(self.failures) - MAX_SOURCES]:
                    del self.failures[src]
        for table in (self.cursors, self.shadow):
            while len(table) > MAX_HOSTS:
                del table[next(iter(table))]
        for h in [h for h, t in self.ransomware_at.items() if now - t > RANSOMWARE_INTERVAL_S]:
            del self.ransomware_at[h]


#: ``post(path, body) -> (status, response body)``; raises on transport errors.
Post = Callable[[str, bytes], Awaitable[tuple[int, bytes]]]


class SecurityArchive:
    """The durable, PHI-scrubbed outbox of ``POST /api/security-events/archive`` (§7.7)."""

    def __init__(
        self,
        state_dir: Path,
        *,
        site_id: Callable[[], str],
        source_host: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.site_id = site_id
        self.source_host = source_host
        self.drainer = Drainer(DurableQueue(Path(state_dir) / ARCHIVE_DIR, ARCHIVE_POLICY, clock=clock))
        self.unscrubbable = 0

    def enqueue(self, host: str, events: Sequence[SecEvent]) -> int:
        """Queue ``events`` (scrubbed first; ≤ 500 per request file); returns how many were queued."""
        queued = 0
        for i in range(0, len(events), MAX_EVENTS):
            batch = [
                {
                    "event_id": e.event_id,
                    "timestamp": format_rfc3339(e.time),
                    "hostname": host,
                    "message": e.message[:MESSAGE_MAX],
                    "source_host": self.source_host,
                }
                for e in events[i : i + MAX_EVENTS]
            ]
            payload: dict[str, Any] = {"site_id": self.site_id(), "events": batch}
            try:
                body = egress(payload, kind="security_events")
            except EgressError:
                self.unscrubbable += len(batch)
                continue  # fail closed: never queued or sent unscrubbed
            for ev in body["events"]:
                ev["message"] = ev["message"][:MESSAGE_MAX]
            try:
                self.drainer.queue.put(json.dumps(body, separators=(",", ":")).encode())
            except QueueError as exc:
                log.error("threats.archive_not_queued", "security events not queued", error=str(exc))
                continue
            queued += len(batch)
        return queued

    def pending(self) -> int:
        return self.drainer.queue.pending()

    async def drain(self, post: Post, *, force: bool = False) -> int:
        return await self.drainer.drain(json_sender(post, ARCHIVE_PATH), force=force)

    def status(self) -> dict[str, Any]:
        return {**self.drainer.status(), "unscrubbable": self.unscrubbable}
