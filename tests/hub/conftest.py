"""A real hub on loopback (TLS, port 0) with its own CA in tmp_path, a site with a target list,
and a bus that records what the hub publishes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tests.hub.agentclient import Agent

from agent.bus import Bus
from agent.config import parse_config
from agent.hub.component import HubComponent
from agent.hub.registry import AgentRegistry
from agent.protocol import CredentialSet
from agent.protocol.credentials import WindowsTarget
from agent.scan.events import IncidentsFound
from agent.site.state import Directives

LISTED = ("ws-01", "ws-02", "dc-01")


@dataclass
class Site:
    directives: Directives = field(default_factory=Directives)
    credentials: CredentialSet = field(default_factory=lambda: CredentialSet(
        windows_targets=[WindowsTarget(hostname=h, username="u", password="p") for h in LISTED]))


@dataclass
class Harness:
    hub: HubComponent
    port: int
    tmp: Path
    incidents: list[Any]
    agents: list[Agent] = field(default_factory=list)

    @property
    def registry(self) -> AgentRegistry:
        return self.hub.registry

    @property
    def ca_pem(self) -> bytes:
        return self.hub.ca.ca_pem()

    def agent(self, hostname: str) -> Agent:
        a = Agent(hostname, self.port, self.ca_pem, self.tmp)
        self.agents.append(a)
        return a


def hub_config(state: Path, **extra: object) -> Any:
    lines = ["site_id: clinic-1", "api_key: test-api-key-0123456789", f"state_dir: {state}",
             "grpc_hub_enabled: true"]
    lines += [f"{k}: {str(v).lower() if isinstance(v, bool) else v}" for k, v in extra.items()]
    return parse_config("\n".join(lines) + "\n", environ={}).config


async def start_hub(tmp: Path, **extra: object) -> Harness:
    state = tmp / "state"
    state.mkdir(exist_ok=True)
    config = hub_config(state, **extra)
    bus = Bus()
    seen: list[Any] = []
    bus.subscribe(IncidentsFound, lambda ev: seen.extend(ev.incidents))
    bus.freeze()
    comp = HubComponent(config, AgentRegistry(state), site=Site(), bus=bus, bind="127.0.0.1",
                        port=0)
    port = await comp.start()
    return Harness(comp, port, tmp, seen)


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Harness]:
    h = await start_hub(tmp_path)
    yield h
    for a in h.agents:
        a.close()
    await h.hub.close(grace_s=1.0)


@pytest.fixture
async def compat_hub(tmp_path: Path) -> AsyncIterator[Harness]:
    h = await start_hub(tmp_path, grpc_hub_compat_enrollment=True)
    yield h
    for a in h.agents:
        a.close()
    await h.hub.close(grace_s=1.0)
