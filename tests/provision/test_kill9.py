"""kill -9 during provisioning, at named points: afterwards there is either no config or a
complete one, and the next start finishes the job (claim-v2 may be repeated; the server then
deactivates the key of the interrupted claim)."""

from __future__ import annotations

import asyncio
import signal
import sys

import pytest
from tests.conftest import ROOT, clean_env

from agent.central import CentralCommand
from agent.config import load_config

from .conftest import SITE, Image


async def _child(image: Image, point: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.provision.crash_child", str(image.root), str(image.config),
        str(image.state), point, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=clean_env(PYTHONPATH=str(ROOT)))
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode() + err.decode()


@pytest.mark.parametrize("point", ["answered", "renaming", "written"])
async def test_kill9_leaves_no_config_or_a_complete_one(image: Image, cc: CentralCommand,
                                                         point: str) -> None:
    code, out = await _child(image, point)
    assert code == -signal.SIGKILL, out
    if point == "written":
        assert load_config(image.config, environ={}).config.site_id == SITE  # complete
        code, out = await _child(image, "-")
        assert code == 1 and "REFUSED config_present" in out  # kept, not provisioned twice
        assert len(cc.provisioning.claim_events()) == 1
        return
    assert not image.config.exists()
    leftovers = list(image.tmp.glob(".config.yaml.tmp.*"))
    assert len(leftovers) == (1 if point == "renaming" else 0)
    code, out = await _child(image, "-")
    assert code == 0 and "DONE claim_v2" in out, out
    cfg = load_config(image.config, environ={}).config
    assert cfg.site_id == SITE
    assert len(cc.provisioning.claim_events()) == 2  # the interrupted claim, then the one kept
    assert list(image.tmp.glob(".config.yaml.tmp.*")) == []
