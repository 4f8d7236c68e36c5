"""Scan-health findings from real scans (healing.md §2.5 "Scan health", §2.6; exec.md §5):
closed and blackholed ports over the real SSH executor, garbage output over the local executor,
the 7-day staleness clock, and the round-level subnet_dark decision."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.fakeclock import FakeClock
from tests.sshfixtures import SshEnv

from agent.exec import LocalExecutor, SshCredential, SshExecutor, Target, Transport
from agent.scan.health import STATE_FILE, ScanHealth, is_dark
from agent.scan.linux import LinuxScanner
from agent.scan.model import HostResult, aggregate

GARBAGE = "echo 'not a scan record'; echo 'MSP_CHECK {broken'; echo 'MSP_SCAN_END {\"checks\": 1}'"
GOOD = (
    'echo \'MSP_CHECK {"id":"linux_ntp_sync","data":{"synchronized":true}}\'; '
    "echo 'MSP_SCAN_END {\"checks\":1}'"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A listening socket that never accepts: TCP connects, the SSH banner never comes."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(4)
    yield int(s.getsockname()[1])
    s.close()


@pytest.fixture
def state(tmp_path: Path) -> Path:
    d = tmp_path / "hstate"
    d.mkdir(mode=0o700)
    return d


def _ssh(host: str, port: int) -> Target:
    return Target(Transport.SSH, host, port, "linux", "linux")


async def _scan_ssh(state: Path, target: Target, deadline_s: float = 10.0) -> HostResult:
    ex = SshExecutor(state)
    try:
        return await LinuxScanner(ex).scan(
            target, SshCredential("nobody", password="x"), deadline_s=deadline_s
        )
    finally:
        await ex.close()


async def test_closed_port_is_device_unreachable(state: Path) -> None:
    target = _ssh("127.0.0.1", _free_port())
    res = await _scan_ssh(state, target)
    assert res.status == "failed" and res.error_kind == "unreachable"
    health = ScanHealth(state)
    v = health.observe(target.host, target.platform, target.label, res)
    assert v.immediate == []  # held until the round is settled
    (f,) = health.finish_round()
    assert f.check_type == "device_unreachable" and f.host == "127.0.0.1"
    assert f.details == {"error_kind": "unreachable"} and f.severity == "medium"
    assert f.hipaa_control == "164.312(a)(1)" and f.source == "linuxscan"
    assert health.finish_round() == []  # the round buffer is cleared


async def test_blackholed_port_is_connect_timeout(state: Path, blackhole: int) -> None:
    target = _ssh("127.0.0.1", blackhole)
    res = await _scan_ssh(state, target, deadline_s=3.0)
    assert res.status == "failed" and res.error_kind == "connect_timeout"
    health = ScanHealth(state)
    health.observe(target.host, target.platform, target.label, res)
    (f,) = health.finish_round()
    assert f.check_type == "device_unreachable" and f.details["error_kind"] == "connect_timeout"


async def test_wrong_password_is_credential_stale_high(ssh_env: SshEnv, state: Path) -> None:
    target = _ssh("127.0.0.1", ssh_env.sshd.port)
    ex = SshExecutor(state)
    try:
        res = await LinuxScanner(ex).scan(target, ssh_env.pw_cred(password="wrong-password"), deadline_s=20)
    finally:
        await ex.close()
    assert res.status == "failed" and res.error_kind == "auth_failed"
    health = ScanHealth(state)
    v = health.observe(target.host, target.platform, target.label, res)
    (f,) = v.immediate
    assert f.check_type == "credential_stale" and f.severity == "high" and f.hipaa_control == "164.312(d)"
    assert f.details == {"error_kind": "auth_failed"}
    assert health.finish_round() == []  # reachable: no device_unreachable, no subnet_dark


async def test_garbage_output_twice_is_scan_output_invalid(tmp_path: Path, state: Path) -> None:
    local = LocalExecutor(tmp_path / "run")
    target = Target.local()
    health = ScanHealth(state)

    async def scan(script: str) -> list[str]:
        res = await LinuxScanner(local, script=script).scan(target, None, deadline_s=10)
        v = health.observe(target.host, target.platform, target.label, res, remote=False)
        return [f"{f.check_type}:{f.details.get('error_kind')}" for f in v.immediate]

    assert await scan(GARBAGE) == []  # once: no incident
    assert await scan(GARBAGE) == ["device_unreachable:scan_output_invalid"]
    assert await scan(GOOD) == []  # a valid record resets the count
    assert await scan(GARBAGE) == []
    await local.close()


def test_remote_garbage_is_held_for_the_round(state: Path) -> None:
    health = ScanHealth(state)
    bad = HostResult("10.0.0.9", "linux", status="failed", error_kind="scan_output_invalid")
    assert health.observe("10.0.0.9", "linux", "", bad).held == []
    assert health.observe("10.0.0.9", "linux", "", bad).held != []
    (f,) = health.finish_round()
    assert f.details == {"error_kind": "scan_output_invalid"}


def test_neutral_kinds_raise_nothing(state: Path) -> None:
    health = ScanHealth(state)
    for kind in ("cancelled", "no_credentials", "cancelled"):
        v = health.observe("h", "linux", "", HostResult("h", "linux", status="failed", error_kind=kind))
        assert v.immediate == [] and v.held == []
    assert health.finish_round() == []


def test_no_success_for_seven_days_once_per_day(state: Path) -> None:
    clock = FakeClock()
    health = ScanHealth(state, clock=clock)
    fail = HostResult("ws1", "windows", status="failed", error_kind="command_timeout")
    ok = HostResult("ws1", "windows", status="complete")

    def stale() -> list[str]:
        v = health.observe("ws1", "windows", "WS", fail)
        return [f"{f.severity}:{f.hipaa_control}" for f in v.immediate if f.check_type == "credential_stale"]

    assert health.observe("ws1", "windows", "WS", ok).immediate == []
    clock.t += 7 * 86400 - 60
    assert stale() == []
    clock.t += 120
    assert stale() == ["medium:164.308(a)(8)"]
    clock.t += 23 * 3600
    assert stale() == []  # at most once per 24 h
    clock.t += 3600
    assert stale() == ["medium:164.308(a)(8)"]
    # The last-success time survives a restart; a success resets the clock.
    mode = (state / STATE_FILE).stat().st_mode & 0o777
    assert mode == 0o600 and "ws1" in json.loads((state / STATE_FILE).read_text())["hosts"]
    again = ScanHealth(state, clock=clock)
    clock.t += 86400
    v = again.observe("ws1", "windows", "WS", fail)
    (f,) = [f for f in v.immediate if f.check_type == "credential_stale"]
    assert f.details == {"days_since_success": 9} and f.source == "driftscan"
    assert again.observe("ws1", "windows", "WS", ok).immediate == []
    clock.t += 86400
    assert again.observe("ws1", "windows", "WS", fail).immediate == []


def test_auth_and_age_merge_into_one_high_incident(state: Path) -> None:
    clock = FakeClock()
    health = ScanHealth(state, clock=clock)
    res = HostResult("db1", "linux", status="failed", error_kind="auth_failed")
    health.observe("db1", "linux", "linux", res)
    clock.t += 8 * 86400
    v = health.observe("db1", "linux", "linux", res)
    (inc,) = aggregate(v.immediate)
    assert inc.check_type == "credential_stale" and inc.severity == "high"
    assert inc.hipaa_control == "164.312(d)" and inc.discriminators == ("auth", "no_success")


def _round(health: ScanHealth, unreachable: int, reachable: int) -> list[str]:
    for i in range(unreachable):
        res = HostResult(f"10.0.0.{i}", "linux", status="failed", error_kind="unreachable")
        health.observe(f"10.0.0.{i}", "linux", "linux", res)
    for i in range(reachable):
        health.observe(f"10.0.1.{i}", "linux", "linux", HostResult(f"10.0.1.{i}", "linux", status="complete"))
    return sorted(f"{f.host}:{f.check_type}" for f in health.finish_round())


def test_subnet_dark_replaces_device_unreachable(state: Path) -> None:
    health = ScanHealth(state)
    assert _round(health, 4, 1) == ["network:subnet_dark"]
    assert _round(health, 2, 0) == ["10.0.0.0:device_unreachable", "10.0.0.1:device_unreachable"]
    assert _round(health, 3, 1) == [f"10.0.0.{i}:device_unreachable" for i in range(3)]  # 75 %
    assert _round(health, 3, 0) == ["network:subnet_dark"]
    health.observe(
        "10.0.0.1", "linux", "", HostResult("10.0.0.1", "linux", status="failed", error_kind="unreachable")
    )
    for _ in range(4):  # the appliance itself does not count towards the ratio
        health.observe(
            "localhost",
            "linux",
            "",
            HostResult("localhost", "linux", status="failed", error_kind="unreachable"),
            remote=False,
        )
    assert [f.check_type for f in health.finish_round()] == ["device_unreachable"]


def test_subnet_dark_finding_shape(state: Path) -> None:
    health = ScanHealth(state)
    _round(health, 0, 0)
    for i in range(5):
        health.observe(
            f"h{i}",
            "windows",
            "WS",
            HostResult(f"h{i}", "windows", status="failed", error_kind="connect_timeout"),
        )
    (f,) = health.finish_round()
    assert (f.host, f.platform, f.severity, f.hipaa_control) == (
        "network",
        "network",
        "high",
        "164.312(a)(1)",
    )
    assert f.details["unreachable"] == 5 and f.details["total"] == 5
    assert f.details["hosts"] == [f"h{i}" for i in range(5)]


@pytest.mark.parametrize(
    ("down", "total", "dark"),
    [(2, 2, False), (3, 3, True), (4, 5, True), (3, 4, False), (8, 10, True), (7, 10, False), (0, 0, False)],
)
def test_is_dark_threshold(down: int, total: int, dark: bool) -> None:
    assert is_dark(down, total) is dark


def test_unreadable_state_is_ignored(state: Path) -> None:
    (state / STATE_FILE).write_text("{not json")
    health = ScanHealth(state)
    assert health.hosts == {}
    health.observe("h", "linux", "", HostResult("h", "linux", status="complete"))
    assert "h" in json.loads((state / STATE_FILE).read_text())["hosts"]
