"""``run --once`` (runtime.md §8): one checkin, then one round of every job — the order worker
included — the heal queue drained, everything flushed, exit."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from tests.conftest import clean_env

from agent.central import CentralCommand

from . import agentparts
from .conftest import SITE


async def test_run_once_runs_every_job_and_completes_delivered_orders(
        tmp_path: Path, cc: CentralCommand) -> None:
    cfg = agentparts.write_config(tmp_path, cc.url, SITE, cc.create_api_key(SITE))
    with cfg.open("a") as fh:
        fh.write("workstation_enabled: false\n")
    order = cc.issue_order(SITE, "force_checkin", {})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent", "run", "--once", "--config", str(cfg), env=clean_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 300)
    assert proc.returncode == 0, out.decode()[-2000:] + err.decode()[-2000:]
    done = {c["order_id"]: c for c in cc.completions(SITE)}
    assert done[order]["success"] is True
    status = json.loads((tmp_path / "state" / "run" / "status.json").read_text())
    jobs = status["supervisor"]["jobs"]
    assert jobs["checkin"]["runs"] >= 1
    for name in ("orders", "scan", "evidence", "reports", "logship", "housekeeping"):
        assert jobs[name]["runs"] >= 1, (name, jobs[name])
