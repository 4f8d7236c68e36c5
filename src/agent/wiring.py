"""The composition root: builds every service and component and hands each exactly what it needs.

Nothing else in the agent constructs a component or a shared service, and no component reaches
into or writes into another: they share services (below) and talk through the typed
:class:`~agent.bus.Bus`, whose subscriptions are all made here and frozen before the agent starts.

Services (one of each, owned here, closed by :meth:`Wired.close` after the components):

* :class:`~agent.uplink.Uplink` — the one way out to Central Command;
* :class:`~agent.site.SiteState` (written by the checkin only; read-only views elsewhere),
  :class:`~agent.site.ServerKeys`, :class:`~agent.site.SealedCredentials`;
* :class:`~agent.exec.pool.ExecutorPool` — the executors, shared by scanning and healing;
* :class:`~agent.rules.service.RuleService` — the L1 rules and rule sync;
* :class:`~agent.outbox.reports.ReportQueues` — incident and execution queues;
* :class:`~agent.evidence.witness.WitnessQueue`; :class:`~agent.bus.Figures` (daemon_health).

Events: checkin → :class:`CheckinSucceeded` (queues drain, the state file saves),
:class:`OrdersReceived` (orders); orders → :class:`CheckinRequested` (checkin); scan →
:class:`HostScanned` (evidence, the state file), :class:`IncidentsFound` (healing); healing →
:class:`HealQueued`/:class:`HealFinished` (scan).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.bus import Bus, Figures
from agent.checkin import CheckinComponent
from agent.checkin.sysinfo import interface_macs
from agent.config import Config
from agent.crypto.keys import Ed25519Key
from agent.events import CheckinRequested, CheckinSucceeded, OrdersReceived
from agent.evidence.component import EvidenceComponent
from agent.evidence.store import Limits
from agent.evidence.witness import WitnessQueue
from agent.exec.pool import ExecutorPool
from agent.exec.types import Executor
from agent.healing.component import HealingComponent, HealOrderError
from agent.healing.pipeline import ReportSink
from agent.healing.sink import queues_sink
from agent.jobs import BaseComponent, Component
from agent.log import get_logger
from agent.logship.component import LogShipComponent
from agent.logship.source import Source
from agent.orders.deploy import DeployAccess
from agent.orders.handlers import HandlerError, Hooks
from agent.orders.worker import OrderComponent
from agent.outbox.reports import ReportQueues
from agent.rules.builtin import builtin_rules
from agent.rules.service import RuleService, RuleSyncError
from agent.runbooks.registry import RunbookRegistry, default_registry
from agent.runtime.control import ControlSocket
from agent.scan.catalog import CATALOG
from agent.scan.component import ScanComponent
from agent.scan.events import (
    HealFinished,
    HealQueued,
    HostScanned,
    IncidentsFound,
    WorkstationHealed,
)
from agent.scan.inventory import InventoryComponent
from agent.site import SealedCredentials, ServerKeys, SiteState
from agent.state import Keys
from agent.state.daemon_state import Adoption, DaemonStatePersistence
from agent.state.keys import IDENTITY_KEY
from agent.state.reserve import DiskReserve
from agent.telemetry.component import ReportsComponent
from agent.uplink import Uplink

log = get_logger("wiring")


@dataclass
class Options:
    """What a caller (the daemon, the demo, a test) may choose; everything else is derived."""

    restart: Callable[[], None] | None = None  # restart_agent / reprovision: a clean stop
    ssl_context: Any = None
    log_source: Source | None = None
    local_executor: Executor | None = None
    registry: RunbookRegistry | None = None
    sink: ReportSink | None = None  # default: the durable report queues
    appliance_params: Mapping[str, str | Sequence[str]] | None = None
    own_mac: str | None = None  # default: this machine's first interface MAC
    evidence_limits: Limits | None = None
    #: Extra subscribers (the demo's progress lines, tests), added before the bus is frozen.
    subscribe: Callable[[Bus], None] | None = None
    clock: Callable[[], float] = time.time


@dataclass
class Wired:
    """The built agent: its components (in start order) and the services they share."""

    config: Config
    uplink: Uplink
    bus: Bus
    figures: Figures
    site: SiteState
    executors: ExecutorPool
    rules: RuleService
    reports_queues: ReportQueues
    checkin: CheckinComponent
    orders: OrderComponent
    evidence: EvidenceComponent
    reports: ReportsComponent
    scan: ScanComponent
    healing: HealingComponent
    state_file: StateFileComponent
    logship: LogShipComponent
    adoption: Adoption
    inventory: InventoryComponent | None = None
    extra: list[Component] = field(default_factory=list)

    @property
    def components(self) -> list[Component]:
        return [self.checkin, self.orders, self.evidence, self.reports, self.scan,
                *([self.inventory] if self.inventory is not None else []), self.healing,
                self.state_file, self.logship, *self.extra]

    def freeze(self) -> None:
        self.bus.freeze()
        self.figures.freeze()

    async def close_services(self) -> None:
        """The shared services, after the components (the runtime closes those)."""
        await self.executors.close()
        await self.uplink.close()

    async def close(self) -> None:
        """Close the components, then the services they shared (each exactly once)."""
        for comp in reversed(self.components):
            try:
                await comp.close()
            except Exception:  # noqa: BLE001 - one failing close must not skip the others
                log.error("wiring.close_failed", f"closing {comp.name} failed", exc=True)
        await self.close_services()


class StateFileComponent(BaseComponent):
    """``daemon_state.json`` (runtime.md §3.2): saved after checkins, scans and heals (debounced)
    and at shutdown; the scan's, healing's and rules' live state is what it writes."""

    name = "state_file"

    def __init__(self, persistence: DaemonStatePersistence) -> None:
        self.persistence = persistence

    def on_checkin(self, event: CheckinSucceeded) -> None:
        self.persistence.request_save()

    def on_host_scanned(self, event: HostScanned) -> None:
        res = event.result
        self.persistence.record_scan(res.host, res.status == "complete",
                                     res.finished_at or self.persistence.clock())

    def on_heal_finished(self, event: HealFinished) -> None:
        self.persistence.request_save()

    def flush(self) -> None:
        self.persistence.flush()

    async def close(self) -> None:
        self.persistence.close()

    def status(self) -> dict[str, Any]:
        return {"saves": self.persistence.saves}


def _own_mac() -> str:
    try:
        macs = interface_macs()
        return macs[0][1] if macs else ""
    except (OSError, IndexError, ValueError):
        return ""


def build(config: Config, config_path: Path, keys: Keys, options: Options | None = None) -> Wired:
    """Build the agent for ``config``: every service once, every component with what it needs,
    every subscription; the bus is frozen before this returns."""
    opt = options or Options()
    clock = opt.clock
    state_dir = Path(config.state_dir)
    identity = Ed25519Key(bytes(keys.identity))
    evidence_key = Ed25519Key(bytes(keys.evidence))

    # --- services ---------------------------------------------------------------------------
    bus = Bus()
    figures = Figures()
    uplink = Uplink.for_config(config, identity, ssl_context=opt.ssl_context)
    site = SiteState()
    server_keys = ServerKeys(state_dir, config.server_public_key)
    sealed = SealedCredentials(state_dir, keys.envelope)
    witness = WitnessQueue(evidence_key, clock=clock, state_dir=state_dir)
    executors = ExecutorPool(config, local=opt.local_executor)
    registry = opt.registry or default_registry()
    rules = RuleService(state_dir, builtin=builtin_rules(registry), runbooks=registry,
                        catalog=CATALOG, trusted_keys=server_keys.trusted_keys,
                        require_signed=lambda: config.require_signed_rules, uplink=uplink,
                        site_id=config.site_id, clock=clock)
    reports_queues = ReportQueues(state_dir, clock=clock)

    # --- workstation hub (issue 23): only with grpc_hub_enabled, imported lazily ---------------
    hub_agents = None
    if config.grpc_hub_enabled:
        from agent.hub.assemble import hub_registry
        hub_agents = hub_registry(config, clock)
    # --- end workstation hub ----------------------------------------------------------------------

    # --- components -------------------------------------------------------------------------
    checkin = CheckinComponent(config, config_path, keys, uplink=uplink, site=site,
                               server_keys=server_keys, sealed=sealed, bus=bus, figures=figures,
                               witness=witness, agents=hub_agents, clock=clock)
    state_file: StateFileComponent | None = None

    def state_changed() -> None:
        if state_file is not None:
            state_file.persistence.request_save()

    healing = HealingComponent(config, executors=executors, site=site, rules=rules,
                               registry=registry, sink=opt.sink or queues_sink(reports_queues),
                               bus=bus, uplink=uplink, on_state_changed=state_changed, clock=clock)
    # the server's incident ids (its answers to our reports) select healing orders' incidents
    reports_queues.on_incident = healing.bind_server_incident
    scan = ScanComponent(config, executors=executors, site=site, bus=bus, engine=rules.engine,
                         uplink=uplink, ready=healing.replay, appliance_params=opt.appliance_params,
                         own_mac=_own_mac() if opt.own_mac is None else opt.own_mac, clock=clock,
                         agent_presence=hub_agents)
    persistence = DaemonStatePersistence(
        state_dir, healing=healing.pipeline, rules=rules.engine, schedule=scan.scheduler,
        linux_targets=lambda: [{"hostname": t.hostname, "port": t.port, "username": t.username,
                                "label": t.label or ""} for t in site.credentials.linux_targets],
        subscription_status=lambda: site.directives.billing_status, clock=clock)
    # daemon_state.json and a Go daemon's state, before any scan or heal (runtime.md §3.3).
    adoption = persistence.start(sealed=sealed, on_credentials=site.adopt_credentials,
                                 journal=healing.journal, on_crashed=healing.report_go_crashed)
    if site.directives.billing_status is None and persistence.subscription_status:
        site.directives.billing_status = persistence.subscription_status
    state_file = StateFileComponent(persistence)
    reserve = DiskReserve(Path(config.state_dir))  # order records stay writable on a full disk
    reserve.ensure()
    orders = OrderComponent(config, config_path, uplink=uplink, site=site,
                            trusted_keys=server_keys.trusted_keys,
                            untrusted=server_keys.reseed_reason, bus=bus, status=checkin.status,
                            restart=opt.restart, hooks=_order_hooks(scan, healing, rules, registry),
                            clock=clock, established=IDENTITY_KEY not in keys.created,
                            reserve=reserve)
    evidence = EvidenceComponent(config, evidence_key, uplink=uplink, directives=site,
                                 witness=witness, clock=clock, limits=opt.evidence_limits)
    reports = ReportsComponent(reports_queues, uplink=uplink)
    inventory = InventoryComponent(config.site_id, site=site, uplink=uplink,
                                   neighbours=lambda: scan.netscan.neighbours, clock=clock)
    logship = LogShipComponent(config, uplink=uplink, source=opt.log_source, clock=clock)
    extra: list[Component] = []
    hub = None
    if hub_agents is not None:  # workstation hub (issue 23)
        from agent.hub.assemble import build_hub
        hub = build_hub(config, hub_agents, site=site, bus=bus, clock=clock)
        extra.append(hub)
    # --- deployment orders (issue 23 deliverable 4): the signed host's own credential, the
    # executor pool, the hub's registry and address (None without the hub) ------------------------
    orders.worker.hooks.deploy = DeployAccess(
        executors=executors, credential_for=healing.credential_for, agents=hub_agents,
        appliance_addr=hub.appliance_addr if hub is not None else None)
    # --- end deployment orders -------------------------------------------------------------------

    # --- events and figures (frozen below) -------------------------------------------------------
    bus.subscribe(CheckinRequested, checkin.on_checkin_requested)
    bus.subscribe(OrdersReceived, orders.on_orders)
    bus.subscribe(CheckinSucceeded, orders.on_checkin)
    bus.subscribe(CheckinSucceeded, evidence.after_checkin)
    bus.subscribe(CheckinSucceeded, reports.after_checkin)
    bus.subscribe(CheckinSucceeded, state_file.on_checkin)
    bus.subscribe(HostScanned, state_file.on_host_scanned)
    bus.subscribe(HostScanned, evidence.on_host_scanned)  # scan → evidence (healing.md §6.6)
    bus.subscribe(HostScanned, inventory.on_host_scanned)  # scan → device inventory sync
    bus.subscribe(CheckinSucceeded, inventory.after_checkin)  # mesh ack
    bus.subscribe(IncidentsFound, healing.on_incidents)
    bus.subscribe(WorkstationHealed, healing.on_workstation_healed)  # hub → healing (resolve)
    bus.subscribe(HealQueued, scan.on_heal_queued)
    bus.subscribe(HealFinished, scan.on_heal_finished)
    bus.subscribe(HealFinished, state_file.on_heal_finished)
    figures.add(evidence.health_figures)
    figures.add(orders.health_figures)
    if opt.subscribe is not None:
        opt.subscribe(bus)

    wired = Wired(config=config, uplink=uplink, bus=bus, figures=figures, site=site,
                  executors=executors, rules=rules, reports_queues=reports_queues, checkin=checkin,
                  orders=orders, evidence=evidence, reports=reports, scan=scan, healing=healing,
                  state_file=state_file, logship=logship, adoption=adoption,
                  inventory=inventory, extra=extra)
    wired.freeze()
    return wired


def _order_hooks(scan: ScanComponent, healing: HealingComponent, rules: RuleService,
                 registry: RunbookRegistry) -> Hooks:
    """The orders' entry points into scanning, healing and the rules (orders.md §5)."""

    async def sync_rules() -> None:
        try:
            await rules.sync()
        except RuleSyncError as exc:
            raise HandlerError(str(exc)) from None

    async def run_heal(host: str, check_type: str, runbook_id: str,
                       params: dict[str, Any]) -> dict[str, Any]:
        try:
            return await healing.order_heal(host, check_type, runbook_id, params)
        except HealOrderError as exc:
            raise HandlerError(str(exc), exc.result) from None

    return Hooks(run_drift=scan.order_run_drift, sync_rules=sync_rules,
                 reload_rules=rules.reload, runbooks=registry, known_targets=scan.known_targets,
                 incidents=healing.incidents, run_heal=run_heal)


def daemon(config: Config, config_path: Path, keys: Keys, *,
           restart: Callable[[], None]) -> Wired:
    """The daemon's agent (``python -m agent run``), with its local control socket (read-only
    questions from the operator's commands: ``preview``)."""
    wired = build(config, config_path, keys, Options(restart=restart))
    wired.extra.append(ControlSocket(Path(config.state_dir),
                                     {"preview_checkin": wired.checkin.preview,
                                      "loaded_modules": loaded_modules}))
    return wired


async def loaded_modules() -> dict[str, Any]:
    """The control socket's ``loaded_modules``: the names of the imported modules (what
    ``bench/daemon.py`` imports in a bare interpreter to measure the library floor)."""
    import sys

    return {"modules": sorted(sys.modules)}


__all__ = ["Options", "StateFileComponent", "Wired", "build", "daemon"]
