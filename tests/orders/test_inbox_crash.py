"""Nothing acknowledged is lost, nothing executed twice: the agent dies at each named durability
point of an order's path (a real checkin against the local Central Command, then the order worker)
and starts again; each order runs exactly once and its completion reaches Central Command."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from pathlib import Path

import pytest

from agent.central import CentralCommand
from agent.orders.store import INTERRUPTED

from . import agentparts
from .conftest import SITE
from .crashpoint_child import CRASH_EXIT
from .test_kill9 import ROOT, clean_env

POINTS = ["received", "inboxed", "applying", "admitted", "executed", "queued"]


async def _start(cfg: Path, point: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.orders.crashpoint_child", str(cfg), point, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=clean_env(PYTHONPATH=str(ROOT)))
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode() + err.decode()


@pytest.mark.parametrize("point", POINTS)
async def test_crash_at_named_point_then_restart(tmp_path: Path, cc: CentralCommand,
                                                 point: str) -> None:
    cfg = agentparts.write_config(tmp_path, cc.url, SITE, cc.create_api_key(SITE))
    # An admin order is delivered once (then "delivered" on the server); a fleet order comes
    # again until the server saw it completed.
    admin = cc.issue_order(SITE, "run_drift", {})
    cc.issue_order(SITE, "nix_gc", {"older_than_days": 14}, fleet=True)

    code, out = await _start(cfg, point)
    assert code == CRASH_EXIT, out
    code, out = await _start(cfg, "-")
    assert code == 0 and "DONE" in out, out

    effects = Counter((tmp_path / "effects.log").read_text().splitlines())
    assert all(n == 1 for n in effects.values()), effects  # never twice
    done = {c["order_type"]: c for c in cc.completions(SITE)}
    assert done["nix_gc"]["success"], done
    if point == "received":
        # Died before the inbox write: only what the server delivers again can be saved.
        assert "run_drift" not in done
        assert sorted(line.split()[0] for line in effects) == ["nix_gc"]
        return
    assert done["run_drift"]["order_id"] == admin
    if point == "executed":
        # Ran, then died before its outcome was recorded: reported, never re-run.
        assert not done["run_drift"]["success"]
        assert done["run_drift"]["error_message"] == INTERRUPTED
    else:
        assert done["run_drift"]["success"], done
    assert sorted(line.split()[0] for line in effects) == ["nix_gc", "run_drift"]
