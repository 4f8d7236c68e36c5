"""Scan scheduling (healing.md §6): per-host cadence, ownership, bounded concurrency, deadlines.

* Cadence (§6.1): every host has its own due time. Normal interval ``scan_interval_s``; an early
  rescan ``scan_rescan_s`` after a scan with an actionable finding or an incomplete result, and
  120 s after a heal finished on the host. A host whose finding keys stayed the same for three
  consecutive early rescans (no heal pending) returns to the normal interval. First scans are
  spread over the first 60 s by a hash of the host; every due time gets ±10 % jitter.
* Ownership (§6.2): :class:`Ownership` — a fresh ``target_assignments`` decides; else the
  consistent-hash ring when peers are known; else every target.
* Concurrency and deadlines (§6.3): at most ``scan_concurrency`` host scans at once, one per host;
  a per-host deadline by platform, capped by what is left of the round deadline so the scanner
  returns what it collected (§6.4: partial results are kept, never discarded).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from agent.exec import Target, Transport
from agent.log import get_logger
from agent.scan.model import HostResult
from agent.state.daemon_state import HostSchedule

log = get_logger("scan")

FIRST_SPREAD_S: Final = 60.0
JITTER: Final = 0.10
HEAL_RESCAN_S: Final = 120.0
DAMP_AFTER: Final = 3
ASSIGNMENT_FRESH_S: Final = 15 * 60.0
VIRTUAL_POINTS: Final = 64
GRACE_S: Final = 5.0

ScanHost = Callable[[Target, Any, float], Awaitable[HostResult]]
OnResult = Callable[[Target, HostResult], Awaitable[bool]]  # -> actionable finding?
OwnerKeys = Callable[[str], Awaitable[tuple[str, ...]]]  # host -> (name, address) or (address,)


# --- §6.2 ownership ------------------------------------------------------------------------------

def ring_hash(s: str) -> int:
    """The first 4 bytes of SHA-256(s) as a big-endian unsigned integer."""
    return int.from_bytes(hashlib.sha256(s.encode("utf-8")).digest()[:4], "big")


def normalise_mac(mac: str) -> str:
    return "".join(c for c in mac.upper() if c in "0123456789ABCDEF")


class HashRing:
    """64 virtual points per node at ``hash("<MAC>:<i>")``; the owner of ``t`` is the first point
    with hash ≥ ``hash(t)``, wrapping to the first point."""

    def __init__(self, nodes: Iterable[str]) -> None:
        self.nodes = sorted({normalise_mac(n) for n in nodes if normalise_mac(n)})
        pts = sorted((ring_hash(f"{n}:{i}"), n) for n in self.nodes for i in range(VIRTUAL_POINTS))
        self._keys = [h for h, _ in pts]
        self._owners = [n for _, n in pts]

    def owner(self, key: str) -> str | None:
        if not self._keys:
            return None
        i = bisect_left(self._keys, ring_hash(key))
        return self._owners[i if i < len(self._keys) else 0]


@dataclass
class Ownership:
    """Which targets this appliance scans (§6.2). ``now`` is a monotonic clock."""

    own_mac: str = ""
    now: Callable[[], float] = time.monotonic
    your_targets: frozenset[str] | None = None
    ring_members: tuple[str, ...] = ()
    received_at: float | None = None
    mesh_peers: tuple[str, ...] = ()
    _ring: tuple[tuple[str, ...], HashRing] | None = field(default=None, repr=False, compare=False)

    def update(self, assignment: Any | None, received_at: float | None, mesh_peers: Sequence[str]) -> None:
        """After every checkin. The checkin keeps the last non-empty assignment and when it came
        (``{}``/``[]``/null carry none), so an older one simply runs out after 15 minutes."""
        if assignment is not None and received_at is not None and received_at != self.received_at:
            self.your_targets = frozenset(assignment.your_targets)
            self.ring_members = tuple(assignment.ring_members)
            self.received_at = received_at
        self.mesh_peers = tuple(mesh_peers)

    def fresh(self) -> bool:
        return self.received_at is not None and self.now() - self.received_at < ASSIGNMENT_FRESH_S

    def ring(self) -> HashRing:
        members = (self.own_mac, *self.mesh_peers, *(self.ring_members if self.fresh() else ()))
        cached = self._ring
        if cached is None or cached[0] != members:  # built once per membership, not per call
            cached = self._ring = (members, HashRing(members))
        return cached[1]

    def mode(self) -> str:
        if self.fresh() and self.your_targets is not None:
            return "assignment"
        return "ring" if len(self.ring().nodes) > 1 else "all"

    def owns(self, *keys: str) -> bool:
        """``keys``: the target's name when configured by name, then its resolved address (the
        ring keys on the last one); an assignment matches if any of them is listed."""
        mode = self.mode()
        if mode == "assignment":
            assert self.your_targets is not None
            return any(k in self.your_targets for k in keys if k)
        if mode == "ring":
            key = keys[-1] if keys else ""
            return self.ring().owner(key) == normalise_mac(self.own_mac)
        return True


# --- §6.1, §6.3, §6.4 ------------------------------------------------------------------------------

@dataclass(slots=True, eq=False)
class HostState:
    key: str
    target: Target
    credential: Any
    next_due: float
    running: bool = False
    early_streak: int = 0
    last_keys: frozenset[str] | None = None
    heal_pending: bool = False
    scans: int = 0
    last_status: str = ""


@dataclass
class RoundReport:
    started: list[str] = field(default_factory=list)
    results: dict[str, HostResult] = field(default_factory=dict)
    skipped_not_owned: int = 0
    left_due: int = 0  # due hosts not started (concurrency or round deadline)


class ScanScheduler:
    def __init__(
        self,
        *,
        scan_host: ScanHost,
        on_result: OnResult,
        interval_s: float = 900.0,
        rescan_s: float = 300.0,
        concurrency: int = 8,
        host_timeouts: dict[str, float] | None = None,
        round_deadline_s: float = 600.0,
        ownership: Ownership | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        owner_keys: OwnerKeys | None = None,
    ) -> None:
        self.scan_host = scan_host
        self.on_result = on_result
        self.interval_s = interval_s
        self.rescan_s = rescan_s
        self.concurrency = max(1, concurrency)
        self.host_timeouts = {"windows": 120.0, "linux": 180.0, "macos": 240.0, **(host_timeouts or {})}
        self.round_deadline_s = round_deadline_s
        self.ownership = ownership or Ownership()
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 - scheduling jitter, not secrets
        self.owner_keys = owner_keys  # §6.2 item 1: names resolved for the assignment/ring
        self.hosts: dict[str, HostState] = {}
        self.started_at = clock()
        self.rounds = 0
        self._restored: dict[str, HostSchedule] = {}  # persisted due times (wall clock), by key or host

    @staticmethod
    def host_key(target: Target) -> str:
        return f"{target.transport.value}:{target.host}:{target.port or ''}"

    def _jitter(self, delay: float) -> float:
        return delay * (1.0 + self.rng.uniform(-JITTER, JITTER))

    def set_targets(self, targets: Iterable[tuple[Target, Any]]) -> None:
        """The current target list (credentials may change); new hosts get their spread first scan."""
        seen = set()
        for target, cred in targets:
            key = self.host_key(target)
            seen.add(key)
            st = self.hosts.get(key)
            if st is None:
                spread = ring_hash(target.host) % 1000 / 1000.0 * FIRST_SPREAD_S
                st = self.hosts[key] = HostState(key, target, cred, self.clock() + spread)
                saved = self._restored.pop(key, None) or self._restored.pop(target.host, None)
                if saved is not None:
                    # a restart keeps the host's cadence; an overdue host still gets its spread
                    left = min(saved.next_due - time.time(), self.interval_s * (1.0 + JITTER))
                    st.next_due = self.clock() + max(spread, left)
                    st.early_streak = saved.early_streak
            else:
                st.target, st.credential = target, cred
        for key in [k for k in self.hosts if k not in seen and not self.hosts[k].running]:
            del self.hosts[key]

    # --- persistence (runtime.md §3.2: daemon_state.json) -------------------------------------------
    def export_schedule(self) -> dict[str, HostSchedule]:
        """Due times as wall-clock seconds, by host key (restored entries not yet matched kept)."""
        now = time.time()
        offset = now - self.clock()
        out = {k: v for k, v in self._restored.items() if v.next_due > now - 86400.0}
        out.update({k: HostSchedule(st.next_due + offset, st.early_streak) for k, st in self.hosts.items()})
        return out

    def restore_schedule(self, saved: Mapping[str, HostSchedule], last_scans: Mapping[str, float]) -> None:
        """Persisted due times by host key; for hosts without one, ``last_scans`` (host name -> last
        successful scan, the Go daemon's record) makes them due one interval after that scan.
        Applied when :meth:`set_targets` first sees the host."""
        for host, at in last_scans.items():
            self._restored.setdefault(host, HostSchedule(at + self.interval_s))
        self._restored.update(saved)

    def force(self) -> None:
        """``run_drift`` / ``trigger_immediate_scan``: every owned host is due now."""
        now = self.clock()
        for st in self.hosts.values():
            st.next_due = min(st.next_due, now)

    def heal_finished(self, host: str) -> None:
        now = self.clock()
        for st in self.hosts.values():
            if st.target.host == host:
                st.heal_pending = False
                st.next_due = min(st.next_due, now + self._jitter(HEAL_RESCAN_S))

    def heal_settled(self, host: str) -> None:
        """The host's queued incident was handled without running a runbook."""
        for st in self.hosts.values():
            if st.target.host == host:
                st.heal_pending = False

    def heal_queued(self, host: str) -> None:
        for st in self.hosts.values():
            if st.target.host == host:
                st.heal_pending = True

    def due(self) -> list[HostState]:
        now = self.clock()
        return sorted((s for s in self.hosts.values() if not s.running and s.next_due <= now),
                      key=lambda s: s.next_due)

    def _reschedule(self, st: HostState, res: HostResult, actionable: bool) -> None:
        now = self.clock()
        keys = frozenset(f"{f.check_type}:{f.discriminator}" for f in res.findings)
        early = res.status != "complete" or actionable
        if early and res.status == "complete":
            st.early_streak = st.early_streak + 1 if keys == st.last_keys else 1
            if st.early_streak > DAMP_AFTER and not st.heal_pending:
                early = False  # persistent findings do not keep the host on the fast cadence
        elif not early:
            st.early_streak = 0
        st.last_keys = keys
        st.next_due = now + self._jitter(self.rescan_s if early else self.interval_s)

    async def _one(self, st: HostState, deadline_s: float, report: RoundReport) -> None:
        try:
            try:
                res = await asyncio.wait_for(self.scan_host(st.target, st.credential, deadline_s),
                                             timeout=deadline_s + GRACE_S)
            except TimeoutError:
                res = HostResult(st.target.host, st.target.platform, status="failed",
                                 error_kind="host_deadline")
            except Exception as exc:  # noqa: BLE001 - one host never stops the round
                log.error("scan.host_crashed", "host scan raised", host_key=st.key, error=type(exc).__name__)
                res = HostResult(st.target.host, st.target.platform, status="failed", error_kind="internal")
            if res.status != "complete":
                res.status = res.status if res.status in ("partial", "failed") else "partial"
            st.scans += 1
            st.last_status = res.status
            report.results[st.key] = res
            actionable = False
            try:
                actionable = await self.on_result(st.target, res)
            except Exception as exc:  # noqa: BLE001
                log.error("scan.result_handler_failed", "result handling raised", error=type(exc).__name__)
            self._reschedule(st, res, actionable)
        finally:
            st.running = False

    async def _owner_keys(self, host: str) -> tuple[str, ...]:
        if self.owner_keys is None or self.ownership.mode() == "all":
            return (host,)  # every target is ours: no lookup needed
        return await self.owner_keys(host)

    async def run_round(self) -> RoundReport:
        """Start the due, owned hosts in due-time order within the limits; results are handed to
        ``on_result`` per host as each finishes. Returns when every started host is done."""
        self.rounds += 1
        report = RoundReport()
        round_end = self.clock() + self.round_deadline_s
        sem = asyncio.Semaphore(self.concurrency)
        tasks: list[asyncio.Task[None]] = []
        due = self.due()
        keys = await asyncio.gather(*(self._owner_keys(st.target.host) for st in due))  # lookups at once
        for st, owner_keys in zip(due, keys, strict=True):
            local = st.target.transport is Transport.LOCAL  # the appliance always scans itself
            if not local and not self.ownership.owns(*owner_keys):
                report.skipped_not_owned += 1
                st.next_due = self.clock() + self._jitter(self.interval_s)
                continue
            st.running = True

            async def go(st: HostState = st) -> None:
                async with sem:
                    left = round_end - self.clock()
                    if left <= 1.0:
                        st.running = False
                        report.left_due += 1
                        return  # the round deadline passed: stays due for the next round
                    report.started.append(st.key)
                    limit = self.host_timeouts.get(st.target.platform, self.host_timeouts["linux"])
                    await self._one(st, min(limit, left), report)

            tasks.append(asyncio.create_task(go(), name=f"scan:{st.key}"))
        if tasks:
            await asyncio.gather(*tasks)
        return report

    def status(self) -> dict[str, Any]:
        return {"hosts": len(self.hosts), "running": sum(1 for s in self.hosts.values() if s.running),
                "rounds": self.rounds, "ownership": self.ownership.mode(),
                "incomplete": sum(1 for s in self.hosts.values() if s.last_status in ("partial", "failed"))}
