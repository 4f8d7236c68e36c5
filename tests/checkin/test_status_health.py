"""``status`` judges the daemon's real health (runtime.md §8, §11): the agent as the composition
root builds it, its checkin job run by the runtime's supervisor against the local Central
Command, its status file written by the runtime's board, and ``python -m agent status`` run as a
subprocess on that file. The breaker's clock is a :class:`FakeClock` (no waiting for 5 minutes)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from tests.checkin.conftest import Env
from tests.conftest import run_agent
from tests.fakeclock import FakeClock

from agent.evidence.bundle import CheckResult, ScanResult
from agent.jobs import Job
from agent.outbox import kinds
from agent.runtime.status import StatusBoard
from agent.runtime.supervisor import Supervisor
from agent.wiring import Wired

CHECKIN = "/api/appliances/checkin"


@dataclass
class Daemon:
    env: Env
    wired: Wired
    supervisor: Supervisor
    board: StatusBoard
    clock: FakeClock

    @property
    def job(self) -> Job:
        return self.supervisor.jobs["checkin"]

    async def checkin(self) -> bool:
        task = self.supervisor.run_job_now("checkin")
        assert task is not None
        await task
        return bool(self.job.last_ok)

    def status(self, *extra: str) -> tuple[int, str, dict[str, object]]:
        """Write the status file as the running daemon does, then run ``status`` on it."""
        self.board.write()
        r = run_agent("status", "--config", str(self.env.config_path), *extra)
        js = run_agent("status", "--json", "--config", str(self.env.config_path), *extra)
        assert r.returncode == js.returncode, (r.stdout, js.stdout)
        return r.returncode, r.stdout, json.loads(js.stdout)


@pytest.fixture
async def daemon(env: Env) -> AsyncIterator[Daemon]:
    wired = env.wired(evidence_undelivered_alert_s=600)
    clock = FakeClock(1_000.0)
    wired.checkin.uplink.breaker.clock = clock
    sup = Supervisor()
    board = StatusBoard(env.state, "asyncio")
    board.state = "running"
    board.add_section("supervisor", sup.snapshot)
    for comp in wired.components:
        if comp is wired.checkin:  # the other jobs are not this test's business
            comp.install(sup)
        board.add_section(comp.name, comp.status)
    (env.state / "agent.lock").write_text(f"{os.getpid()}\n")  # "the daemon" is this process
    yield Daemon(env, wired, sup, board, clock)
    await wired.close()


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", None) == name]


async def test_degraded_until_the_first_checkin_then_healthy(daemon: Daemon) -> None:
    code, out, doc = await asyncio.to_thread(daemon.status)
    assert code == 1
    assert out.splitlines()[0] == ("msp-agent: degraded: no successful checkin since start "
                                   "(no attempt completed yet)")
    assert doc["healthy"] is False
    assert await daemon.checkin()
    code, out, doc = await asyncio.to_thread(daemon.status)
    assert code == 0, out
    assert out.splitlines()[0] == "msp-agent: healthy" and doc["problems"] == []


async def test_server_down_half_open_and_recovered(daemon: Daemon,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    assert await daemon.checkin()
    daemon.env.cc.inject_fault(CHECKIN, status=503, body=b"down", count=6)
    for _ in range(5):
        assert not await daemon.checkin()
    # the failed checkins are the checkin job's failures
    assert daemon.job.failures == 5 and daemon.job.last_error == "attempt failed"
    code, out, doc = await asyncio.to_thread(daemon.status)
    assert code == 1
    assert out.splitlines()[0] == ("msp-agent: degraded: Central Command unreachable (server); "
                                   "breaker open")
    jobs = doc["supervisor"]["jobs"]  # type: ignore[index]
    assert jobs["checkin"]["failures"] == 5 and jobs["checkin"]["last_ok"] is False
    # every failure is logged, each with the streak so far (not merged by the rate limit)
    failed = events(caplog, "checkin.failed")
    assert [r.fields["consecutive"] for r in failed] == [1, 2, 3, 4, 5]  # type: ignore[attr-defined]
    assert len({r.fields["first_failure_at"] for r in failed}) == 1  # type: ignore[attr-defined]
    assert "5 failures in a row since" in failed[-1].getMessage()
    assert len(events(caplog, "breaker.open")) == 1
    # five minutes later: half-open (still degraded), logged once however often it is read
    daemon.clock.advance(300)
    for _ in range(3):
        assert daemon.wired.checkin.uplink.breaker_state == "half_open"
    code, out, _ = await asyncio.to_thread(daemon.status)
    assert code == 1 and "breaker half-open" in out.splitlines()[0]
    assert len(events(caplog, "breaker.half_open")) == 1
    # the probe fails: open again (a second open line, the only other one)
    assert not await daemon.checkin()
    assert daemon.wired.checkin.uplink.breaker_state == "open"
    assert len(events(caplog, "breaker.open")) == 2
    # the server is back: closed, healthy, the streak summarised once
    daemon.clock.advance(300)
    assert await daemon.checkin()
    code, out, _ = await asyncio.to_thread(daemon.status)
    assert code == 0 and out.splitlines()[0] == "msp-agent: healthy"
    assert len(events(caplog, "breaker.closed")) == 1
    [rec] = events(caplog, "checkin.recovered")
    assert rec.fields["failures"] == 6 and rec.fields["error_kinds"] == {"server": 6}  # type: ignore[attr-defined]
    assert daemon.job.failures == 6 and daemon.job.last_ok is True


async def test_a_queue_over_its_high_water_mark_is_degraded(daemon: Daemon) -> None:
    assert await daemon.checkin()
    queue = kinds.log_queue(daemon.env.state)
    high = queue.high_water()[0]
    for _ in range(high - 1):
        queue.put(b"{}", key="batch")
    assert (await asyncio.to_thread(daemon.status))[0] == 0
    queue.put(b"{}", key="batch")
    code, out, _ = await asyncio.to_thread(daemon.status)
    assert code == 1
    assert out.splitlines()[0] == (f"msp-agent: degraded: logs queue over its high-water mark "
                                   f"({high} items, high-water {high})")


async def test_undelivered_evidence_beyond_the_bound_is_degraded(daemon: Daemon) -> None:
    assert await daemon.checkin()
    scan = ScanResult("linux", "2026-05-20T15:00:00Z", ["192.168.88.20"],
                      [CheckResult("linux_firewall", "192.168.88.20", "pass")])
    [bundle] = daemon.wired.evidence.store.record_scan(scan)
    assert (await asyncio.to_thread(daemon.status))[0] == 0  # unsent, but only just
    [spooled] = (daemon.env.state / "evidence_cache").glob(f"*{bundle.bundle_id}*")
    old = spooled.stat().st_mtime - 700
    os.utime(spooled, (old, old))
    # The queue keeps its listing until its directory changes; back-dating a file is not a
    # change a real spool sees, so the directory's time moves with it here.
    os.utime(spooled.parent, ns=(spooled.parent.stat().st_atime_ns,
                                 spooled.parent.stat().st_mtime_ns + 1_000_000_000))
    code, out, _ = await asyncio.to_thread(daemon.status)
    assert code == 1
    assert "evidence not delivered for 7" in out.splitlines()[0]
    assert "(bound 600s)" in out.splitlines()[0]


async def test_a_broken_config_on_disk_still_reports_the_daemon(daemon: Daemon) -> None:
    assert await daemon.checkin()
    path = daemon.env.config_path
    path.write_text(path.read_text() + "l2_api_timeout: soon\nheal_concurrency: lots\n")
    code, out, doc = await asyncio.to_thread(daemon.status)
    assert code == 0, out  # the running daemon is healthy; not a usage error
    assert out.splitlines()[0] == "msp-agent: healthy"
    assert out.splitlines()[1].startswith("  WARNING the config file on disk is invalid "
                                          "(config: l2_api_timeout: expected an integer; and 1 more)")
    assert len(doc["config_problems"]) == 2  # type: ignore[arg-type]
    daemon.env.cc.inject_fault(CHECKIN, status=503, body=b"down", count=5)
    for _ in range(5):
        await daemon.checkin()
    code, out, _ = await asyncio.to_thread(daemon.status)
    assert code == 1 and "breaker open" in out.splitlines()[0] and "invalid" in out
