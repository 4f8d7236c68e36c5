"""Linux check → L1 rule → runbook → verify, for real over the loopback sshd (healing.md §3–4)."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.exec.sshd import USER_NOPASSWD

from agent.exec import Target, Transport
from agent.healing.journal import HealingJournal
from agent.healing.pipeline import GateState, HealingPipeline
from agent.rules import RuleEngine, load_all
from agent.rules.builtin import builtin_rules
from agent.runbooks import default_registry
from agent.scan.catalog import CATALOG
from agent.scan.linux import LinuxScanner
from agent.scan.model import aggregate

from .fakes import MemorySink

REG = default_registry()


@pytest.fixture
def drift_dir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="msp-drift-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _pipeline(
    tmp_path: Path, target: Target, cred: Any, executor: Any, sink: MemorySink, **gates: Any
) -> HealingPipeline:
    rules, rep = load_all(None, builtin=builtin_rules(REG), runbooks=REG, catalog=CATALOG)
    assert not rep.errors
    journal = HealingJournal(tmp_path / "state")
    journal.open()
    return HealingPipeline(
        site_id="site-1",
        appliance_id=lambda: "app-1",
        engine=RuleEngine(rules),
        registry=REG,
        journal=journal,
        sink=sink,
        gates=GateState(**gates),
        credentials=lambda host: (target, cred) if host == target.host else None,
        executor_for=lambda _t: executor,
    )


async def test_linux_permissions_drift_healed_and_verified(
    ssh_env: Any, ssh_exec: Any, drift_dir: Path, tmp_path: Path
) -> None:
    shadow = drift_dir / "shadow"
    shadow.write_text("root:*:19000:0:99999:7:::\n")
    shadow.chmod(0o666)  # the drift: world-writable account database
    target = Target(Transport.SSH, "127.0.0.1", ssh_env.sshd.port, "linux", "linux")
    cred = ssh_env.key_cred(USER_NOPASSWD)
    scanner = LinuxScanner(ssh_exec)
    params = {"perm_files": [str(shadow)], "sshd_config": str(drift_dir / "absent")}

    first = await scanner.scan(target, cred, deadline_s=60, params=params)
    assert first.status == "complete"
    assert first.checks["linux_file_permissions"] == "drift"
    assert first.checks["linux_ssh_config"] == "unknown"  # unreadable config: never "pass"
    incidents = [i for i in aggregate(first.findings) if i.check_type == "linux_file_permissions"]
    assert len(incidents) == 1 and incidents[0].details["files"] == [str(shadow)]

    sink = MemorySink()
    pipe = _pipeline(tmp_path, target, cred, ssh_exec, sink)
    res = await pipe.handle(incidents[0])
    assert res.stage == "healed", (res.reason, res.outcome)
    assert res.rule_id == "L1-LIN-PERM-001"
    assert stat.S_IMODE(os.stat(shadow).st_mode) == 0o640
    assert sink.kinds() == ["incident", "execution", "resolve"]
    resolve = sink.items[-1][1]
    assert resolve["runbook_id"] == "L1-LIN-PERM-001" and resolve["resolution_tier"] == "L1"
    execution = sink.items[1][1]["execution"]
    assert execution["runbook_id"] == "LIN-PERM-001" and execution["verification_passed"] is True

    second = await scanner.scan(target, cred, deadline_s=60, params=params)  # independent proof
    assert second.checks["linux_file_permissions"] == "pass"
    journal_text = (tmp_path / "state" / "healing_journal.jsonl").read_text()
    assert '"outcome":"healed"' in journal_text and str(shadow) not in journal_text  # names only


async def test_gates_block_scanner_findings(
    ssh_env: Any, ssh_exec: Any, drift_dir: Path, tmp_path: Path
) -> None:
    shadow = drift_dir / "shadow"
    shadow.write_text("x\n")
    shadow.chmod(0o666)
    target = Target(Transport.SSH, "127.0.0.1", ssh_env.sshd.port, "linux", "linux")
    cred = ssh_env.key_cred(USER_NOPASSWD)
    scan = await LinuxScanner(ssh_exec).scan(
        target, cred, deadline_s=60, params={"perm_files": [str(shadow)]}
    )
    inc = next(i for i in aggregate(scan.findings) if i.check_type == "linux_file_permissions")
    for gates, expect in [
        ({"healing_enabled": False}, ("report_only", "healing_disabled")),
        ({"paused": lambda: "maintenance window"}, ("report_only", "maintenance")),
        ({"paused": lambda: "billing hold"}, ("report_only", "billing_hold")),
        ({"dry_run": True}, ("dry_run", "")),
        ({"disabled_checks": lambda: frozenset({"linux_file_permissions"})}, ("dropped", "check_disabled")),
    ]:
        sink = MemorySink()
        res = await _pipeline(
            tmp_path / str(time.monotonic_ns()), target, cred, ssh_exec, sink, **gates
        ).handle(inc)
        assert (res.stage, res.reason) == expect
        assert stat.S_IMODE(os.stat(shadow).st_mode) == 0o666  # nothing ran
        assert "resolve" not in sink.kinds() and "execution" not in sink.kinds()
        assert sink.kinds() == ([] if expect[0] == "dropped" else ["incident"])
