"""Scan scheduling (healing.md §6) with a fake clock and fake scanners."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from tests.fakeclock import FakeClock

from agent.exec import ErrorKind, ExecError, ExecRequest, ExecResult, Stage, Target, Transport
from agent.protocol import TargetAssignments
from agent.scan.linux import LinuxScanner
from agent.scan.model import Finding, HostResult
from agent.scan.scheduler import HashRing, Ownership, ScanScheduler, ring_hash

NODES = ["AABBCCDDEEFF", "112233445566", "7CD30A7C5518"]
VECTORS = [
    ("10.0.0.1", "AABBCCDDEEFF"),
    ("172.16.0.50", "AABBCCDDEEFF"),
    ("192.168.0.11", "AABBCCDDEEFF"),
    ("192.168.88.1", "7CD30A7C5518"),
    ("192.168.88.100", "AABBCCDDEEFF"),
    ("192.168.88.200", "7CD30A7C5518"),
    ("192.168.88.232", "7CD30A7C5518"),
    ("192.168.88.250", "AABBCCDDEEFF"),
    ("192.168.88.251", "AABBCCDDEEFF"),
    ("192.168.88.50", "7CD30A7C5518"),
]


def _t(host: str, platform: str = "linux") -> Target:
    return Target(Transport.SSH, host, 22, platform, platform)


def _finding(host: str, ct: str = "linux_ntp_sync", sev: str = "medium", disc: str = "") -> Finding:
    return Finding(host, ct, sev, "", "", "", {}, "linux", "linuxscan", discriminator=disc)


@pytest.mark.parametrize(("key", "owner"), VECTORS)
def test_hash_ring_vectors(key: str, owner: str) -> None:
    assert HashRing(NODES).owner(key) == owner
    assert HashRing(["aa:bb:cc:dd:ee:ff", "11-22-33-44-55-66", "7cd30a7c5518"]).owner(key) == owner


def test_ring_hash_is_sha256_prefix() -> None:
    assert ring_hash("") == 0xE3B0C442
    assert HashRing([]).owner("10.0.0.1") is None


def test_ownership_assignment_ring_and_fallback() -> None:
    clock = FakeClock(1000.0)
    own = Ownership(own_mac="AA:BB:CC:DD:EE:FF", now=clock)
    assert own.mode() == "all" and own.owns("10.9.9.9")
    own.update(None, None, ["112233445566", "7CD30A7C5518"])
    assert own.mode() == "ring"
    assert own.owns("10.0.0.1") and not own.owns("192.168.88.1")
    own.update(TargetAssignments(your_targets=["192.168.88.1"], ring_members=[]), clock(), own.mesh_peers)
    assert own.mode() == "assignment" and own.owns("192.168.88.1") and not own.owns("10.0.0.1")
    assert own.owns("10.0.0.2", "192.168.88.1")  # by name or by address
    clock.t += 60
    own.update(None, clock() - 60, own.mesh_peers)  # a response without assignment: previous stays
    assert own.mode() == "assignment"
    clock.t += 15 * 60
    assert own.mode() == "ring"  # 15 minutes without a new assignment: back to the local ring
    own.update(None, own.received_at, [])
    assert own.mode() == "all"


def test_empty_your_targets_owns_nothing() -> None:
    clock = FakeClock(1000.0)
    own = Ownership(own_mac="AABBCCDDEEFF", now=clock)
    own.update(TargetAssignments(your_targets=[], assignment_epoch=4), clock(), [])
    assert own.mode() == "assignment" and not own.owns("10.0.0.1") and not own.owns("localhost")


class Scans:
    def __init__(self, clock: FakeClock, findings: dict[str, list[Finding]] | None = None) -> None:
        self.clock = clock
        self.findings = findings or {}
        self.calls: list[tuple[str, float]] = []
        self.inflight = 0
        self.max_inflight = 0
        self.status = "complete"
        self.advance = 0.0

    async def scan(self, target: Target, cred: Any, deadline_s: float) -> HostResult:
        self.calls.append((target.host, deadline_s))
        self.inflight += 1
        self.max_inflight = max(self.max_inflight, self.inflight)
        await asyncio.sleep(0)
        self.clock.t += self.advance
        self.inflight -= 1
        return HostResult(
            target.host,
            target.platform,
            status=self.status,
            findings=list(self.findings.get(target.host, [])),
        )


def _sched(
    clock: FakeClock, scans: Scans, actionable: bool = False, **kw: Any
) -> tuple[ScanScheduler, list[str]]:
    seen: list[str] = []

    async def on_result(target: Target, res: HostResult) -> bool:
        seen.append(target.host)
        return actionable

    s = ScanScheduler(scan_host=scans.scan, on_result=on_result, clock=clock, rng=random.Random(7), **kw)
    return s, seen


async def test_first_scans_spread_and_per_host_cadence() -> None:
    clock = FakeClock(1000.0)
    scans = Scans(clock)
    s, seen = _sched(clock, scans)
    s.set_targets([(_t(f"10.0.0.{i}"), None) for i in range(20)])
    dues = [h.next_due - clock() for h in s.hosts.values()]
    assert all(0 <= d < 60 for d in dues) and len(set(dues)) > 10  # spread over the first minute
    assert (await s.run_round()).started == []
    clock.t += 60
    report = await s.run_round()
    assert len(report.started) == 20 and sorted(seen) == sorted(f"10.0.0.{i}" for i in range(20))
    for h in s.hosts.values():
        assert 900 * 0.9 <= h.next_due - clock() <= 900 * 1.1  # normal interval with ±10 % jitter
    assert (await s.run_round()).started == []


async def test_actionable_rescans_early_then_damps() -> None:
    clock = FakeClock(1000.0)
    scans = Scans(clock, {"h1": [_finding("h1", "linux_firewall", "high")]})
    s, _ = _sched(clock, scans, actionable=True)
    s.set_targets([(_t("h1"), None)])
    gaps = []
    for _ in range(6):
        s.force()
        await s.run_round()
        gaps.append(next(iter(s.hosts.values())).next_due - clock())
    # The first scan and two unchanged rescans stay early; the third unchanged rescan returns the
    # host to the normal interval (persistent findings do not pin the fast cadence).
    assert all(g <= 300 * 1.1 for g in gaps[:3]) and all(g >= 900 * 0.9 for g in gaps[3:])
    s.heal_queued("h1")
    s.force()
    await s.run_round()
    assert next(iter(s.hosts.values())).next_due - clock() <= 330  # a pending heal keeps it early
    s.heal_finished("h1")
    assert next(iter(s.hosts.values())).next_due - clock() <= 120 * 1.1


async def test_incomplete_host_rescheduled_early() -> None:
    clock = FakeClock(1000.0)
    scans = Scans(clock)
    scans.status = "partial"
    s, _ = _sched(clock, scans)
    s.set_targets([(_t("h1"), None)])
    s.force()
    await s.run_round()
    assert next(iter(s.hosts.values())).next_due - clock() <= 330


async def test_concurrency_and_platform_deadlines() -> None:
    clock = FakeClock(1000.0)
    scans = Scans(clock)
    s, _ = _sched(clock, scans, concurrency=3, host_timeouts={"linux": 50.0, "macos": 70.0})
    s.set_targets([(_t(f"l{i}"), None) for i in range(7)] + [(_t("m1", "macos"), None)])
    s.force()
    report = await s.run_round()
    assert len(report.started) == 8 and scans.max_inflight == 3
    deadlines = dict(scans.calls)
    assert deadlines["m1"] == 70.0 and {deadlines[f"l{i}"] for i in range(7)} == {50.0}


async def test_not_owned_hosts_are_skipped() -> None:
    clock = FakeClock(1000.0)
    own = Ownership(own_mac="AABBCCDDEEFF", now=clock)
    own.update(TargetAssignments(your_targets=["10.0.0.1"]), clock(), [])
    s, seen = _sched(clock, Scans(clock), ownership=own)
    s.set_targets([(_t("10.0.0.1"), None), (_t("10.0.0.2"), None)])
    s.force()
    report = await s.run_round()
    assert seen == ["10.0.0.1"] and report.skipped_not_owned == 1


async def test_round_deadline_keeps_completed_hosts_and_caps_the_rest() -> None:
    clock = FakeClock(1000.0)
    scans = Scans(clock)
    scans.advance = 400.0  # every host scan "takes" 400 s of the 600 s round
    s, seen = _sched(clock, scans, concurrency=1, round_deadline_s=600.0, host_timeouts={"linux": 180.0})
    s.set_targets([(_t("a"), None), (_t("b"), None), (_t("c"), None)])
    s.force()
    report = await s.run_round()
    assert seen == ["a", "b"] and report.started == [s.host_key(_t(h)) for h in ("a", "b")]
    assert len(report.results) == 2 and report.left_due == 1  # c stays due for the next round
    assert [d for _, d in scans.calls] == [180.0, 180.0]
    left = [h for h in s.hosts.values() if not h.scans]
    assert len(left) == 1 and left[0].next_due <= clock()


class StreamThenHang:
    """Streams one record, then runs into the request deadline (as the real executors report)."""

    async def run(self, target: Target, credential: Any, request: ExecRequest) -> ExecResult:
        line = 'MSP_CHECK {"id":"linux_ntp_sync","data":{"synchronized":"no"}}'
        assert request.on_line is not None
        request.on_line(line, False)
        await asyncio.sleep(request.deadline_s)
        err = ExecError(ErrorKind.COMMAND_TIMEOUT, Stage.RUN, "deadline", started=True)
        return ExecResult(Transport.SSH, target.host, target.port, stdout=line + "\n", error=err)

    async def close(self) -> None:
        pass


async def test_host_deadline_keeps_streamed_checks() -> None:
    clock = FakeClock(1000.0)
    scanner = LinuxScanner(StreamThenHang())
    results: list[HostResult] = []

    async def scan(target: Target, cred: Any, deadline_s: float) -> HostResult:
        return await scanner.scan(target, cred, deadline_s=deadline_s)

    async def on_result(target: Target, res: HostResult) -> bool:
        results.append(res)
        return False

    s = ScanScheduler(scan_host=scan, on_result=on_result, clock=clock, host_timeouts={"linux": 0.05})
    s.set_targets([(_t("h1"), None)])
    s.force()
    await s.run_round()
    (res,) = results
    assert res.status == "partial" and res.checks["linux_ntp_sync"] == "drift"
    assert res.checks["linux_firewall"] == "unknown" and [f.check_type for f in res.findings] == [
        "linux_ntp_sync"
    ]
    assert next(iter(s.hosts.values())).next_due - clock() <= 330  # incomplete: early rescan
