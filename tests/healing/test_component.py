"""The healing component wired to the checkin, the report queues and the orders (healing.md §4–§6),
against a local Central Command on loopback; the appliance itself is scanned and healed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.bus import Bus
from agent.central import CentralCommand
from agent.config import load_config
from agent.healing.journal import HealingJournal
from agent.orders.handlers import HandlerError
from agent.scan.linux import EVALUATORS
from agent.state import load_or_create
from agent.wiring import Options, Wired, build

SITE = "clinic-heal"
RULE = """\
id: L1-TEST-APPLIANCE-PERM
name: appliance watched file
description: watched file on the appliance is writable by others
conditions:
  - {field: check_type, operator: eq, value: linux_file_permissions}
  - {field: label, operator: eq, value: appliance}
action: run_linux_runbook
action_params: {runbook_id: APPL-PERM-001}
priority: 1
"""


@dataclass
class Env:
    tmp: Path
    cc: CentralCommand
    config_path: Path
    state: Path
    watched: Path
    built: list[Wired] = field(default_factory=list)

    async def agent(self, subscribe: Callable[[Bus], None] | None = None) -> Wired:
        """The agent as the root builds it, after one real checkin (directives, appliance id)."""
        params = {"perm_files": [str(self.watched)], "sshd_config": str(self.tmp / "absent")}
        w = build(load_config(self.config_path, environ={}).config, self.config_path,
                  load_or_create(self.state),
                  Options(appliance_params=params, own_mac="AABBCCDDEEFF", subscribe=subscribe))
        self.built.append(w)
        assert await w.checkin.run_once()
        return w


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    cc = CentralCommand(tmp_path / "central.db")
    await cc.start()
    cc.create_site(SITE)
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    (state / "rules").mkdir(mode=0o700)
    (state / "rules" / "appliance.yaml").write_text(RULE)
    cfg_path = tmp_path / "config.yaml"
    cfg_path.write_text(
        f"site_id: {SITE}\napi_key: {cc.create_api_key(SITE)}\napi_endpoint: {cc.url}\n"
        f"state_dir: {state}\npoll_interval: 60\n"
    )
    cc.set_directives(SITE, disabled_checks=sorted(c for c in EVALUATORS if c != "linux_file_permissions"))
    watched = tmp_path / "watched" / "agent.conf"
    watched.parent.mkdir()
    watched.write_text("x\n")
    watched.chmod(0o666)
    env = Env(tmp_path, cc, cfg_path, state, watched)
    yield env
    for w in env.built:
        await w.close()
    await cc.stop()
    cc.close()


async def _deliver(w: Wired) -> None:
    w.reports.after_checkin()
    await w.reports.run_once()


async def test_appliance_scanned_healed_and_reported_with_no_targets(env: Env) -> None:
    w = await env.agent()
    h, scan = w.healing, w.scan
    assert scan.targets()[0][0].host == "localhost" and len(scan.targets()) == 1  # no targets configured
    await scan.scan_now()
    (host,) = scan.scheduler.hosts.values()
    assert host.last_status == "complete" and len(h.queue) == 1
    (res,) = await h.heal_pending()
    assert res.stage == "healed" and res.rule_id == "L1-TEST-APPLIANCE-PERM"
    assert env.watched.stat().st_mode & 0o777 == 0o644
    await _deliver(w)
    (inc,) = [i for i in env.cc.incidents(SITE) if i["check_type"] == "linux_file_permissions"]
    assert inc["status"] == "resolved" and inc["resolution"]["resolution_tier"] == "L1"
    (ex,) = env.cc.executions(SITE)
    assert ex["execution"]["runbook_id"] == "APPL-PERM-001" and ex["execution"]["success"] is True
    assert ex["execution"]["appliance_id"] == w.checkin.shared.appliance_id
    await scan.scan_now()
    assert len(h.queue) == 0 and h.status()["healed"] == 1


async def test_disabled_check_is_dropped_everywhere(env: Env) -> None:
    env.cc.set_directives(SITE, disabled_checks=list(EVALUATORS))
    w = await env.agent()
    h = w.healing
    await w.scan.scan_now()
    assert len(h.queue) == 0 and env.watched.stat().st_mode & 0o777 == 0o666


async def test_order_hooks(env: Env) -> None:
    w = await env.agent()
    h = w.healing
    hooks = w.orders.worker.hooks
    assert hooks.run_drift is not None and hooks.sync_rules is not None and hooks.run_heal is not None
    assert hooks.known_targets is not None and hooks.known_targets("linux") == {"localhost"}
    out = await hooks.run_drift({})
    assert out == {"status": "scan_completed", "hosts": 1} and len(h.queue) == 1
    env.cc.set_rules(
        SITE,
        [
            {
                "id": "CC-TEST-PERM-001",
                "name": "perm",
                "description": "server rule",
                "conditions": [{"field": "check_type", "operator": "eq", "value": "linux_file_permissions"}],
                "actions": ["run_linux_runbook:LIN-PERM-001"],
                "priority": 50,
                "enabled": True,
            }
        ],
    )
    await hooks.sync_rules()  # fetched, signature verified against the trusted key, stored, loaded
    assert (w.checkin.state_dir / "rules" / "synced_rules.json").is_file()
    assert any(r.id == "CC-TEST-PERM-001" and r.source == "synced" for r in h.engine.rules)
    assert hooks.incidents is not None
    assert (
        hooks.incidents.lookup("localhost", "linux_file_permissions", datetime.now(UTC) - timedelta(hours=1))
        is None
    )
    result = await hooks.run_heal(
        "localhost", "linux_file_permissions", "APPL-PERM-001", {"files": [str(env.watched)]}
    )
    assert result["status"] == "healed" and env.watched.stat().st_mode & 0o777 == 0o644
    again = await hooks.run_heal(
        "localhost", "linux_file_permissions", "APPL-PERM-001", {"files": [str(env.watched)]}
    )
    assert again["status"] == "already_compliant"  # detect runs first for orders
    with pytest.raises(HandlerError):
        await hooks.run_heal("10.0.0.9", "linux_file_permissions", "APPL-PERM-001", {})
    await _deliver(w)
    (ex,) = env.cc.executions(SITE)
    assert (
        ex["execution"]["execution_id"].startswith("order-") and ex["execution"]["resolution_level"] == "L2"
    )


async def test_interrupted_remediation_is_reverified_at_startup(env: Env) -> None:
    j = HealingJournal(env.state)
    j.open()
    params = {"files": [str(env.watched)]}
    j.save_params("heal1", params)
    j.append(
        "heal1",
        "begin",
        durable=True,
        level="L1",
        incident_id="drift-" + "c" * 32,
        rule_id="R",
        runbook_id="APPL-PERM-001",
        host="localhost",
        platform="linux",
        check_type="linux_file_permissions",
    )
    j.append("heal1", "phase_begin", durable=True, phase="remediate")
    j.close()
    env.watched.chmod(0o644)  # the remediation did land before the crash
    w = await env.agent()
    h = w.healing
    await w.scan.scan_tick()  # replay runs before the first scan
    events = [json.loads(x) for x in h.journal.path.read_text().splitlines()]
    ends = [e for e in events if e["heal_id"] == "heal1" and e["event"] == "end"]
    assert [e["outcome"] for e in ends] == ["healed_after_restart"]
    await _deliver(w)
    assert [e["execution"]["runbook_id"] for e in env.cc.executions(SITE)] == ["APPL-PERM-001"]


async def test_housekeeping_prunes_idle_dedup_and_compacts_the_journal(env: Env) -> None:
    from agent.healing.journal import COMPACT_OVER
    from agent.healing.pipeline import _Dedup
    from agent.runtime.supervisor import Supervisor

    h = (await env.agent()).healing
    now = h.pipeline.clock()
    h.pipeline.dedup["10.0.0.9:linux_ntp_sync"] = _Dedup(now - 3 * 3600, 1, 600.0, set())  # idle 3 h
    h.pipeline.dedup["10.0.0.9:linux_firewall"] = _Dedup(now - 60, 1, 600.0, set())
    finished = b"".join(
        b'{"seq": %d, "ts": "2026-01-01T00:00:00.000Z", "heal_id": "h%d", "event": "end", '
        b'"outcome": "healed"}\n' % (i, i)
        for i in range(COMPACT_OVER // 90)
    )
    h.journal.path.write_bytes(finished)
    assert h.journal.path.stat().st_size > COMPACT_OVER
    sup = Supervisor()
    h.install(sup)
    job = sup.jobs["housekeeping"]
    assert job.delay() == 600.0 and job.deadline == 30.0
    task = sup.run_job_now("housekeeping")
    assert task is not None
    await task
    assert set(h.pipeline.dedup) == {"10.0.0.9:linux_firewall"}
    lines = h.journal.path.read_bytes().splitlines()
    assert len(lines) == 500 and lines[-1] == finished.splitlines()[-1]
