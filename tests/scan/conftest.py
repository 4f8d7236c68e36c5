"""Shared fixtures for scans through the healing component: a local Central Command, a real checkin
that delivers targets, and the component built on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent.central import CentralCommand
from agent.checkin import CheckinComponent
from agent.config import load_config
from agent.healing.component import HealingComponent
from agent.scan.linux import EVALUATORS
from agent.scan.model import Incident
from agent.state import load_or_create
from agent.telemetry.component import ReportsComponent

SITE = "clinic-health"


@dataclass
class Env:
    tmp: Path
    cc: CentralCommand
    checkin: CheckinComponent

    async def healing(self, linux_targets: list[dict[str, Any]]) -> HealingComponent:
        self.cc.set_credentials(SITE, [], linux_targets)
        assert await self.checkin.run_once()
        return HealingComponent(self.checkin, ReportsComponent(self.checkin), own_mac="AABBCCDDEEFF")


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    cc = CentralCommand(tmp_path / "central.db")
    await cc.start()
    cc.create_site(SITE)
    state = tmp_path / "agent-state"
    state.mkdir(mode=0o700)
    cfg_path = tmp_path / "config.yaml"
    cfg_path.write_text(
        f"site_id: {SITE}\napi_key: {cc.create_api_key(SITE)}\napi_endpoint: {cc.url}\n"
        f"state_dir: {state}\npoll_interval: 60\n"
    )
    checkin = CheckinComponent(load_config(cfg_path, environ={}).config, cfg_path, load_or_create(state))
    cc.set_directives(SITE, disabled_checks=sorted(EVALUATORS))  # the appliance scan stays quiet
    yield Env(tmp_path, cc, checkin)
    await checkin.close()
    await cc.stop()
    cc.close()


def drain(h: HealingComponent) -> list[Incident]:
    out = []
    while (inc := h.queue.take(set())) is not None:
        out.append(inc)
    return out
