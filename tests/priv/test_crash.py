"""kill -9 of the helper at each named step of an install, a switch and a rollback: the appliance
is always left on a complete release that runs, and the watchdog brings it back to the previous
one when the new one is not healthy. Real processes, real virtual environments, a real ``current``
link; the helper is killed by SIGKILL at the named point."""

from __future__ import annotations

import subprocess

import pytest

from agent.priv.client import PrivError
from agent.priv.releases import is_complete

from .conftest import Base
from .releases import release

INSTALL_STEPS = ["install.copied", "install.verified", "install.venv", "install.pip",
                 "install.marked"]
SWITCH_STEPS = ["switch.recorded", "switch.linked", "switch.swapped", "switch.restarted"]


def runs(base: Base) -> str:
    """The current release: complete, and its ``msp-agent version`` runs (exit 0)."""
    h = base.h
    assert is_complete(h.releases / "current"), h.current()
    proc = subprocess.run([str(h.releases / "current" / "bin" / "msp-agent"), "version"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return h.current()


def fail_agent_unit(base: Base) -> None:
    (base.h.root / "units" / "msp-agent.service").write_text("failed")


@pytest.mark.parametrize("point", INSTALL_STEPS)
async def test_kill_during_install_leaves_the_running_release(base: Base, point: str) -> None:
    base.stage("b", release("1.1.0", base.seed))
    base.h.set_helper_env(MSP_AGENT_PRIV_CRASH_AT=point)
    with pytest.raises(PrivError, match="left no result"):
        await base.client.run("agent-install", {"bundle": "b", "version": "1.1.0"})
    assert runs(base) == "1.0.0"
    assert is_complete(base.h.releases / "releases" / "1.1.0") == (point == "install.marked")
    base.h.set_helper_env(MSP_AGENT_PRIV_CRASH_AT="")  # the next attempt completes it
    res = await base.client.run("agent-install", {"bundle": "b", "version": "1.1.0"})
    assert res.ok and is_complete(base.h.releases / "releases" / "1.1.0")
    assert runs(base) == "1.0.0"


@pytest.mark.parametrize("point", SWITCH_STEPS)
async def test_kill_during_switch_then_the_watchdog_rolls_back(base: Base, point: str) -> None:
    base.stage("b", release("1.1.0", base.seed))
    assert (await base.client.run("agent-install", {"bundle": "b", "version": "1.1.0"})).ok
    base.h.set_helper_env(MSP_AGENT_PRIV_CRASH_AT=point)
    with pytest.raises(PrivError, match="left no result"):
        await base.client.run("agent-switch", {"version": "1.1.0", "health_deadline_s": 600})
    expected = "1.0.0" if point in ("switch.recorded", "switch.linked") else "1.1.0"
    assert runs(base) == expected  # either release, complete and runnable
    base.h.set_helper_env(MSP_AGENT_PRIV_CRASH_AT="")
    assert (await base.client.run("watchdog")).result == {"status": "waiting",
                                                          "version": "1.1.0"}
    fail_agent_unit(base)  # the new release never became healthy
    res = await base.client.run("watchdog")
    assert res.ok and res.result is not None and res.result["status"] == "rolled_back"
    assert runs(base) == "1.0.0" and base.h.trial()["status"] == "rolled_back"
    assert (await base.client.run("watchdog")).result == {"status": "idle"}


async def test_kill_during_rollback_then_the_watchdog_finishes_it(base: Base) -> None:
    base.stage("b", release("1.1.0", base.seed))
    assert (await base.client.run("agent-install", {"bundle": "b", "version": "1.1.0"})).ok
    assert (await base.client.run("agent-switch",
                                  {"version": "1.1.0", "health_deadline_s": 600})).ok
    fail_agent_unit(base)
    base.h.set_helper_env(MSP_AGENT_PRIV_CRASH_AT="rollback.swapped")
    with pytest.raises(PrivError, match="left no result"):
        await base.client.run("watchdog")
    assert runs(base) == "1.0.0" and base.h.trial()["status"] == "trial"
    base.h.set_helper_env(MSP_AGENT_PRIV_CRASH_AT="")
    res = await base.client.run("watchdog")
    assert res.result is not None and res.result["status"] == "rolled_back"
    assert runs(base) == "1.0.0" and base.h.trial()["status"] == "rolled_back"


async def test_a_rollback_on_request_and_a_switch_to_a_missing_release(base: Base) -> None:
    base.stage("b", release("1.1.0", base.seed))
    assert (await base.client.run("agent-install", {"bundle": "b", "version": "1.1.0"})).ok
    assert (await base.client.run("agent-switch",
                                  {"version": "1.1.0", "health_deadline_s": 600})).ok
    res = await base.client.run("agent-rollback")
    assert res.ok and runs(base) == "1.0.0"
    res = await base.client.run("agent-switch", {"version": "9.9.9", "health_deadline_s": 600})
    assert not res.ok and res.error is not None and "not installed" in res.error
