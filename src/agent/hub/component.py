"""The workstation hub as a component of the agent (issue 23).

Drift events become incidents on the bus the way scan findings do (disabled-check filter,
aggregation, :class:`~agent.scan.events.IncidentsFound`, source ``grpc:<agent_id>``); the
heal commands go back on the drift stream (:mod:`agent.hub.checktypes`); heartbeats feed the
registry that the checkin reads for ``connected_agents`` and the scan reads to skip hosts whose
agent pushes its own results. The listener starts with the component's task and stops in
:meth:`HubComponent.close` with a grace period for the calls in flight.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from agent.bus import Bus
from agent.config import Config
from agent.config.schema import DEFAULT_STATE_DIR
from agent.hub.ca import AgentCA
from agent.hub.registry import AgentRegistry
from agent.hub.server import HubServer, site_address
from agent.hub.service import ComplianceService, HealResult, Limits
from agent.jobs import BaseComponent, JobHost
from agent.log import get_logger
from agent.scan.events import IncidentsFound, WorkstationHealed
from agent.scan.model import Finding, aggregate
from agent.state.healing_switch import healing_switch

log = get_logger("hub")

CLOSE_GRACE_S = 5.0
COMPAT_WARNING = ("COMPATIBILITY ENROLLMENT IS ON: workstation agents on the target list receive "
                  "a certificate AND its private key without an enrollment token "
                  "(grpc_hub_compat_enrollment)")


def limits_of(config: Config) -> Limits:
    return Limits(max_message_bytes=config.grpc_max_message_bytes,
                  max_streams=config.grpc_max_streams,
                  max_streams_per_peer=config.grpc_max_streams_per_peer)


class HubSite(Protocol):
    """What the hub reads of the site: directives (disabled checks, pauses) and targets."""

    @property
    def directives(self) -> Any: ...

    @property
    def credentials(self) -> Any: ...


def ca_dir(config: Config) -> Path:
    """``ca_dir``; its default follows a non-default ``state_dir`` (``<state_dir>/ca``)."""
    default = f"{DEFAULT_STATE_DIR}/ca"
    if config.ca_dir == default and config.state_dir != DEFAULT_STATE_DIR:
        return Path(config.state_dir) / "ca"
    return Path(config.ca_dir)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def target_names(site: HubSite) -> list[str]:
    creds = site.credentials
    return [t.hostname for t in (*creds.windows_targets, *creds.linux_targets)]


class HubComponent(BaseComponent):
    name = "hub"

    def __init__(self, config: Config, registry: AgentRegistry, *, site: HubSite, bus: Bus,
                 bind: str | None = None, port: int | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.registry = registry
        self.site = site
        self.bus = bus
        self.clock = clock
        self.ca = AgentCA(ca_dir(config))
        self.service = ComplianceService(
            self.ca, registry, compat=lambda: self.config.grpc_hub_compat_enrollment,
            targets=lambda: target_names(site), on_findings=self.publish_findings,
            heal_allowed=self.heal_allowed, on_heal_result=self.publish_healed,
            limits=limits_of(config), clock=clock)
        host = bind if bind is not None else (config.grpc_bind_address or None)
        self._bind = host
        self.port = config.grpc_port if port is None else port  # 0 picks a free port (tests)
        self.server: HubServer | None = None
        self._closed = asyncio.Event()

    # --- the pipeline -----------------------------------------------------------------------

    def publish_findings(self, findings: list[Finding]) -> None:
        disabled = self.site.directives.disabled_checks
        incidents = aggregate(f for f in findings if f.check_type not in disabled)
        if incidents:
            self.bus.publish(IncidentsFound(incidents))

    def publish_healed(self, result: HealResult) -> None:
        """A heal this hub asked for, reported done: healing resolves the incident."""
        if result.success and result.ours:
            self.bus.publish(WorkstationHealed(result.host, result.check_type,
                                               f"grpc:{result.agent_id}"))

    def heal_allowed(self) -> bool:
        """Heal commands go out only when healing would run here (config, the server's switch,
        no pause directive)."""
        c = self.config
        if not c.healing_enabled or c.healing_dry_run or not healing_switch(Path(c.state_dir)):
            return False
        d = self.site.directives
        return d.subscription_ok() and d.healing_paused(datetime.now(UTC)) is None

    # --- lifecycle ------------------------------------------------------------------------------

    def _address(self) -> str:
        if self._bind:
            return self._bind
        dc = self.config.domain_controller
        found = site_address([*([dc] if dc else []), *target_names(self.site)])
        if found is None:
            raise OSError("no site-facing address found; set grpc_bind_address")
        return found

    def appliance_addr(self) -> str:
        """``address:port`` the workstation agents dial (the configure order's default): the
        site-facing address, also when the hub listens on every interface."""
        host = self._address()
        if _is_ip(host) and ipaddress.ip_address(host).is_unspecified:
            dc = self.config.domain_controller
            found = site_address([*([dc] if dc else []), *target_names(self.site)])
            if found is None:
                raise OSError("no site-facing address found; set grpc_bind_address")
            host = found
        port = self.server.port if self.server is not None and self.port == 0 else self.port
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    async def start(self) -> int:
        """Create the CA if needed and listen; the bound port."""
        if self.config.grpc_hub_compat_enrollment:
            log.warning("hub.compat_enrollment_on", COMPAT_WARNING)
        host = self._address()
        names = {host, "localhost"}
        if _is_ip(host) and ipaddress.ip_address(host).is_unspecified:
            # every interface (set explicitly): name the site-facing address too
            dc = self.config.domain_controller
            names.add(site_address([*([dc] if dc else []), *target_names(self.site)]) or host)
        self.server = HubServer(self.service, self.ca, host=host, port=self.port,
                                names=sorted(names))
        port = await self.server.start()
        log.info("hub.listening", "workstation hub listening", address=host, port=port,
                 compat=self.config.grpc_hub_compat_enrollment)
        return port

    async def run(self) -> None:
        """The component's task: listen until closed. At shutdown (SIGTERM) the supervisor's
        drain cancels it: the graceful stop runs here, inside the drain's budget, before the
        runtime's (shorter) per-component close."""
        if self.server is None:
            await self.start()
        try:
            await self._closed.wait()
        except asyncio.CancelledError:
            await self.close()
            raise

    def install(self, host: JobHost) -> None:
        host.spawn("hub", self.run)

    async def close(self, grace_s: float = CLOSE_GRACE_S) -> None:
        self._closed.set()
        server, self.server = self.server, None
        if server is not None:
            await server.stop(grace_s)

    def flush(self) -> None:
        self.registry.save()

    def idle(self) -> bool:
        return True

    def reload(self, config: Config) -> None:
        """Compatibility enrollment and the caps apply at once; the address at restart."""
        if config.grpc_hub_compat_enrollment and not self.config.grpc_hub_compat_enrollment:
            log.warning("hub.compat_enrollment_on", COMPAT_WARNING)
        self.config = config
        self.service.limits = limits_of(config)

    def status(self) -> dict[str, Any]:
        connected = sum(1 for a in self.registry.agents.values() if a.last_heartbeat)
        return {"connected": connected, "streams": self.service.streams,
                "compat_enrollment": self.config.grpc_hub_compat_enrollment,
                **dict(self.service.stats)}

    def summary(self) -> str:
        n = sum(1 for a in self.registry.agents.values() if a.last_heartbeat)
        return f"hub {n} agents" if n else ""
