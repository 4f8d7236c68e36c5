"""``status`` on an appliance that is still provisioning itself (the daemon is not running yet)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_agent

from agent.provision.status import write_status


def test_status_says_what_provisioning_waits_for(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    cfg = tmp_path / "absent.yaml"
    write_status(state, "waiting", detail="Central Command (connect: refused)", method="claim_v2",
                 attempts=3, next_attempt_s=40)
    out = run_agent("status", "--config", str(cfg), "--state-dir", str(state))
    assert out.returncode == 3, out.stderr
    first = out.stdout.splitlines()[0]
    assert first.startswith("msp-agent: not running (provisioning: waiting for Central Command")
    assert "attempt 3" in first
    doc = json.loads(run_agent("status", "--json", "--config", str(cfg), "--state-dir",
                               str(state)).stdout)
    assert doc["provisioning"].startswith("provisioning: waiting for")


def test_status_after_provisioning_is_the_plain_not_running(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    write_status(state, "provisioned", detail="claim_v2", method="claim_v2")
    out = run_agent("status", "--config", str(tmp_path / "absent.yaml"), "--state-dir", str(state))
    assert out.returncode == 3 and out.stdout.splitlines()[0] == "msp-agent: not running"
