"""``run`` makes its long-lived start-up objects with the cyclic collector off, and turns it on
again before the daemon runs (and on every way out)."""

from __future__ import annotations

import gc

import pytest
from tests.conftest import Install

from agent.cli import main as cli


def test_the_collector_is_off_while_assembling_and_on_while_running(
        install: Install, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent import wiring
    from agent.runtime.app import Agent

    seen: dict[str, bool] = {}
    real_daemon = wiring.daemon

    def daemon(*a: object, **kw: object) -> object:
        seen["assembling"] = gc.isenabled()
        return real_daemon(*a, **kw)  # type: ignore[arg-type]

    async def run(self: Agent) -> int:
        seen["running"] = gc.isenabled()
        return 0

    monkeypatch.setattr(wiring, "daemon", daemon)
    monkeypatch.setattr(Agent, "run", run)
    assert gc.isenabled()
    assert cli(["run", "--config", str(install.config)]) == 0
    assert seen == {"assembling": False, "running": True}
    assert gc.isenabled()


def test_the_collector_is_on_again_after_a_config_error(install: Install) -> None:
    install.config.write_text("site_id: [\n")
    assert cli(["run", "--config", str(install.config)]) == 2
    assert gc.isenabled()
