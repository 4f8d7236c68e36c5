"""Shared fixtures for scans in the daemon's wiring: no checkin. The test stands in for Central
Command's directives and targets by setting the site state directly; a local Central Command runs
only as a reachable host for the network scan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest

from agent.bus import Bus
from agent.central import CentralCommand
from agent.config import Config, load_config
from agent.healing.component import HealingComponent
from agent.protocol import CredentialSet
from agent.protocol.credentials import LinuxTarget
from agent.scan.events import HostScanned
from agent.scan.linux import EVALUATORS
from agent.scan.model import Incident
from agent.state import load_or_create
from agent.wiring import Options, Wired, build

SITE = "clinic-health"


@dataclass
class Env:
    tmp: Path
    cc: CentralCommand
    config: Config
    config_path: Path
    scanned: list[HostScanned] = field(default_factory=list)
    built: list[Wired] = field(default_factory=list)

    def wired(self, linux_targets: Iterable[dict[str, Any]] = (),
              disabled: Iterable[str] = sorted(EVALUATORS)) -> Wired:
        """The agent as the root builds it; targets and directives as a checkin would set them
        (by default every Linux check disabled, so the appliance's own scan stays quiet)."""
        w = build(self.config, self.config_path, load_or_create(Path(self.config.state_dir)),
                  Options(own_mac="AABBCCDDEEFF", subscribe=self._subscribe))
        w.site.credentials = CredentialSet(
            linux_targets=[msgspec.convert(t, LinuxTarget) for t in linux_targets])
        w.site.directives.disabled_checks = frozenset(disabled)
        self.built.append(w)
        return w

    def _subscribe(self, bus: Bus) -> None:
        bus.subscribe(HostScanned, self.scanned.append)


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
    e = Env(tmp_path, cc, load_config(cfg_path, environ={}).config, cfg_path)
    yield e
    for w in e.built:
        await w.close()
    await cc.stop()
    cc.close()


def drain(h: HealingComponent) -> list[Incident]:
    out = []
    while (inc := h.queue.take(set())) is not None:
        out.append(inc)
    return out
