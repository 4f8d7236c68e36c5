"""What the composition root calls, lazily and only with ``grpc_hub_enabled``:

    from agent.hub.assemble import build_hub, hub_registry
    agents = hub_registry(config)            # before the checkin and the scan (they read it)
    hub = build_hub(config, agents, site=site, bus=bus, clock=clock)   # a jobs.Component

The registry is what the checkin reads (``connected_agents``) and what the scan reads (hosts
whose agent pushes its own results are not pulled over WinRM, healing.md §6.2).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from agent.bus import Bus
from agent.config import Config
from agent.hub.component import HubComponent, HubSite
from agent.hub.registry import AgentRegistry


def hub_registry(config: Config, clock: Callable[[], float] = time.time) -> AgentRegistry:
    return AgentRegistry(Path(config.state_dir), clock=clock)


def build_hub(config: Config, registry: AgentRegistry, *, site: HubSite, bus: Bus,
              clock: Callable[[], float] = time.time) -> HubComponent:
    return HubComponent(config, registry, site=site, bus=bus, clock=clock)
