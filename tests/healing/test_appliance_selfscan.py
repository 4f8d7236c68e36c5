"""The appliance's own scan starts its self-remediation (issue 22): the agent as the root builds
it scans the appliance (the real scan script through the real local executor, with played
``journalctl`` and ``systemctl`` on PATH), L1 maps the finding to the APPL-* runbook, and the
real privileged helper program runs its action; a journal under the limit, garbage from
``journalctl`` and an appliance without a configured backup start nothing; a backup start that
keeps failing is retried at most three times a day and never opens the global heal breaker."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from tests.fakeclock import FakeClock
from tests.priv import harness

from agent.config import load_config
from agent.priv.client import PrivClient
from agent.scan.events import HostScanned
from agent.scan.linux import EVALUATORS
from agent.scan.model import HostResult
from agent.state import load_or_create
from agent.wiring import Options, Wired, build

from .test_appliance_priv import JOURNALCTL
from .test_component import SITE, Env, _deliver, env  # noqa: F401  (the component test's world)

START_BACKUP = "systemctl start --no-ask-password msp-agent-priv@start-backup.service"
VACUUM = "systemctl start --no-ask-password msp-agent-priv@journal-vacuum.service"


class World:
    """The played system (``systemctl`` running the real helper, ``journalctl``) and the agent,
    scanning only ``check`` on the appliance."""

    def __init__(self, agent_env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 check: str, config: str = "") -> None:
        self.env = agent_env
        self.h = harness.install(tmp_path / "priv", state_dir=tmp_path / "priv-agent-state")
        self.units = self.h.root / "units"
        self.usage = tmp_path / "journal-usage"
        self.usage.write_text("100.0M")
        self.tool("journalctl", JOURNALCTL.format(python=sys.executable, usage=str(self.usage),
                                                  log=str(self.h.log)))
        monkeypatch.setenv("PATH", f"{self.h.bin}:{os.environ.get('PATH', '')}")
        agent_env.cc.set_directives(SITE, disabled_checks=sorted(c for c in EVALUATORS
                                                                 if c != check))
        if config:
            with agent_env.config_path.open("a") as fh:
                fh.write(config)
        self.results: list[HostResult] = []

    def tool(self, name: str, text: str) -> None:
        path = self.h.bin / name
        path.write_text(text)
        path.chmod(0o755)

    async def agent(self, clock: Any = time.time) -> Wired:
        def subscribe(bus: Any) -> None:
            bus.subscribe(HostScanned, lambda e: self.results.append(e.result))

        w = build(load_config(self.env.config_path, environ={}).config, self.env.config_path,
                  load_or_create(self.env.state),
                  Options(own_mac="AABBCCDDEEFF", subscribe=subscribe, clock=clock))
        self.env.built.append(w)
        assert await w.checkin.run_once()
        w.healing.pipeline.runner.priv = PrivClient(self.h.priv_root, systemctl=self.h.systemctl)
        return w

    def calls(self, line: str) -> int:
        return sum(c == line for c in self.h.calls())


async def test_a_journal_over_the_limit_is_vacuumed_by_the_helper_and_verified(
        env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    world = World(env, tmp_path, monkeypatch, "linux_journal_usage")
    world.usage.write_text("2.5G")
    w = await world.agent()
    await w.scan.scan_now()
    (scanned,) = world.results
    assert scanned.checks == {"linux_journal_usage": "drift"}
    (res,) = await w.healing.heal_pending()
    assert (res.stage, res.rule_id) == ("healed", "L1-APPL-JOURNAL-001")
    assert world.calls(VACUUM) == 1
    assert "journalctl --vacuum-size=512M" in world.h.calls()  # run by the helper
    assert res.outcome is not None and res.outcome.verify is not None
    assert res.outcome.verify["observed"] == {"known": True, "usage_mb": 512, "within_limit": True}
    await _deliver(w)
    (ex,) = env.cc.executions(SITE)
    assert (ex["execution"]["runbook_id"], ex["execution"]["success"],
            ex["execution"]["resolution_level"]) == ("APPL-JOURNAL-001", True, "L1")
    # the early rescan sees the journal under the limit
    await w.scan.scan_now()
    assert world.results[-1].checks == {"linux_journal_usage": "pass"}


@pytest.mark.parametrize(("output", "status"), [
    ("Archived and active journals take up 1.0G in the file system.", "pass"),  # at the limit
    ("Archived and active journals take up 800.0M in the file system.", "pass"),
    ("Failed to open journal directory: Permission denied", "unknown"),
    ("Archived and active journals take up lots in the file system.", "unknown"),
    ("", "unknown"),
])
async def test_a_journal_under_the_limit_or_unreadable_starts_nothing(
        env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
        output: str, status: str) -> None:
    world = World(env, tmp_path, monkeypatch, "linux_journal_usage")
    world.tool("journalctl", f"#!{sys.executable}\nprint({output!r})\n")
    w = await world.agent()
    await w.scan.scan_now()
    (scanned,) = world.results
    assert scanned.checks == {"linux_journal_usage": status} and scanned.findings == []
    assert await w.healing.heal_pending() == []
    assert world.calls(VACUUM) == 0


async def test_an_appliance_without_a_configured_backup_has_no_backup_check(
        env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    world = World(env, tmp_path, monkeypatch, "backup")
    (world.units / "restic-backup.service").write_text("failed")  # a unit there, not configured
    w = await world.agent()
    await w.scan.scan_now()
    (scanned,) = world.results
    assert "backup" not in scanned.checks and scanned.findings == []
    assert await w.healing.heal_pending() == []
    assert not [c for c in world.h.calls() if "restic-backup" in c]  # not even asked about
    assert world.calls(START_BACKUP) == 0
    # configured later (a reload): the next scan checks it
    with env.config_path.open("a") as fh:
        fh.write("appliance_backup_unit: restic-backup\n")
    w.scan.reload(load_config(env.config_path, environ={}).config)
    await w.scan.scan_now()
    assert world.results[-1].checks == {"backup": "drift"}


@pytest.mark.parametrize("state", ["failed", "stale", "never_ran"])
async def test_a_configured_backup_that_failed_or_is_stale_is_started_through_the_helper(
        env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
        state: str) -> None:
    world = World(env, tmp_path, monkeypatch, "backup",
                  "appliance_backup_unit: restic-backups-daily.service\n")
    unit = world.units / "restic-backups-daily.service"
    if state != "never_ran":
        unit.write_text("failed" if state == "failed" else "active")
        hours = 2 if state == "failed" else 30
        (world.units / f"{unit.name}.exit").write_text(str(int(time.time()) - hours * 3600))
    w = await world.agent()
    await w.scan.scan_now()
    (scanned,) = world.results
    assert scanned.checks == {"backup": "drift"}
    (finding,) = scanned.findings
    assert finding.details["job_name"] == "restic-backups-daily"
    assert finding.details["last_backup_success"] is (state == "stale")
    (res,) = await w.healing.heal_pending()
    assert (res.stage, res.rule_id) == ("healed", "L1-APPL-BACKUP-001")
    assert world.calls(START_BACKUP) == 1
    assert "systemctl start restic-backups-daily.service" in world.h.calls()  # by the helper
    assert unit.read_text() == "active"
    assert res.outcome is not None and res.outcome.verify is not None
    assert res.outcome.verify["observed"] == {"result": "success", "age_hours": 0, "recent": True}
    await _deliver(w)
    (ex,) = env.cc.executions(SITE)
    assert (ex["execution"]["runbook_id"], ex["execution"]["success"]) == ("APPL-BACKUP-001", True)


async def test_a_recent_successful_backup_starts_nothing(
        env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    world = World(env, tmp_path, monkeypatch, "backup", "appliance_backup_unit: restic-backup\n")
    (world.units / "restic-backup.service").write_text("active")
    (world.units / "restic-backup.service.exit").write_text(str(int(time.time()) - 3600))
    w = await world.agent()
    await w.scan.scan_now()
    assert world.results[0].checks == {"backup": "pass"}
    assert await w.healing.heal_pending() == []
    assert world.calls(START_BACKUP) == 0


async def test_a_backup_start_that_keeps_failing_is_not_retried_every_cycle(
        env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    world = World(env, tmp_path, monkeypatch, "backup", "appliance_backup_unit: restic-backup\n")
    unit = world.units / "restic-backup.service"
    unit.write_text("failed")
    (world.units / "restic-backup.service.fails").write_text("")  # every start fails
    clock = FakeClock(time.time())
    w = await world.agent(clock)
    pipeline = w.healing.pipeline
    stages: list[tuple[str, str]] = []
    for _cycle in range(12):  # three hours of scans: the early rescan 5 min after a heal, then
        for step in (300, 600):  # the next scheduled scan
            clock.advance(step)
            await w.scan.scan_now()
            stages += [(r.stage, r.reason) for r in await w.healing.heal_pending()]
    assert world.results[-1].checks == {"backup": "drift"}  # still drift on every scan
    assert world.calls(START_BACKUP) == 3  # three failed heals, then the key is exhausted
    failed = ("failed", "privileged_helper: exited 1")
    assert stages[:6] == [failed, failed, ("suppressed", "dedup"), failed,
                          ("suppressed", "dedup"), ("escalated", "exhausted")]
    # from then on: scans inside the dedup window suppressed, the others escalated, none started
    assert set(stages[6:]) == {("suppressed", "dedup"), ("escalated", "exhausted")}
    assert pipeline.global_open_until <= clock()  # the global heal breaker stays closed
    assert pipeline.gate(next(iter(pipeline.last_reported.values()))) == ("heal", "")
    await _deliver(w)
    executions = [e["execution"] for e in env.cc.executions(SITE)]
    assert [(e["runbook_id"], e["success"], e["error_message"]) for e in executions] == [
        ("APPL-BACKUP-001", False, "privileged_helper: exited 1")] * 3
    # a day after the last failure the key may try again, once
    clock.advance(86_400)
    await w.scan.scan_now()
    await w.healing.heal_pending()
    assert world.calls(START_BACKUP) == 4
