"""Self-healing in the daemon (healing.md §4, §5): the healing component.

:class:`HealingComponent` consumes :class:`~agent.scan.events.IncidentsFound` from the bus into
the bounded, coalescing heal queue and owns the healing journal, the pipeline (gates, L1 through
the rule service, runbooks, L2) and its workers. It publishes
:class:`~agent.scan.events.HealQueued` / :class:`~agent.scan.events.HealFinished` (the scan moves
the host's next scan). It installs ``heal-worker-<n>`` (``heal_concurrency`` long-lived workers,
at most one heal per host at a time) and ``housekeeping`` (every 10 min: idle dedup entries
pruned, the journal compacted, the state file asked to save). :meth:`replay` (§4.6) runs before
any heal, and the scan waits for it before its first round.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol

from agent.bus import Bus
from agent.config import Config
from agent.exec import SshCredential, Target, WinrmCredential
from agent.exec.pool import ExecutorPool
from agent.healing.journal import HealingJournal
from agent.healing.pipeline import GateState, HealingPipeline, PipelineResult, ReportSink
from agent.jobs import BaseComponent, Job, JobHost
from agent.l2.budget import L2Budget
from agent.l2.client import L2Client, L2Settings
from agent.log import get_logger
from agent.priv.client import default_client
from agent.rules.service import RuleService
from agent.runbooks.registry import RunbookRegistry
from agent.scan.events import HealFinished, HealQueued, IncidentsFound, WorkstationHealed
from agent.scan.model import SEVERITY_RANK, Incident, new_incident_id
from agent.state.daemon_state import GoHeal
from agent.uplink import Uplink, routes

log = get_logger("healing")

HOUSEKEEPING_S: Final = 600.0  # runtime.md §4.2: prune cooldowns, compact the journal
HOUSEKEEPING_DEADLINE_S: Final = 30.0
HEAL_QUEUE_MAX: Final = 256


class HealQueue:
    """Bounded and coalescing (§4.1): a newer incident of a queued ``(host, check_type)`` replaces
    it; when full, the lowest-severity queued incident is evicted (counted and logged)."""

    def __init__(self, maxsize: int = HEAL_QUEUE_MAX) -> None:
        self.maxsize = maxsize
        self._items: dict[tuple[str, str], Incident] = {}
        self._event = asyncio.Event()
        self.coalesced = 0
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._items)

    def put(self, inc: Incident) -> None:
        key = (inc.host, inc.check_type)
        if key in self._items:
            del self._items[key]
            self.coalesced += 1
        elif len(self._items) >= self.maxsize:
            victim = min(self._items.items(), key=lambda kv: SEVERITY_RANK.get(kv[1].severity, 0))
            if SEVERITY_RANK.get(victim[1].severity, 0) > SEVERITY_RANK.get(inc.severity, 0):
                victim = (key, inc)  # the newcomer is the lowest
            self.evicted += 1
            log.warning("heal.queue_evicted", "heal queue full: incident evicted",
                        incident_id=victim[1].incident_id, check_type=victim[1].check_type)
            if victim[0] == key:
                return
            del self._items[victim[0]]
        self._items[key] = inc
        self._event.set()

    def take(self, busy: set[str]) -> Incident | None:
        for key, inc in self._items.items():
            if inc.host not in busy:
                del self._items[key]
                return inc
        return None

    async def wait(self) -> None:
        self._event.clear()
        await self._event.wait()

    def wake(self) -> None:
        self._event.set()


@dataclass
class _Reported:
    incident_id: str
    host: str
    check_type: str
    at: float
    label: str = ""


#: How many server incident ids are remembered (oldest forgotten first).
MAX_SERVER_INCIDENTS = 5000


class HealOrderError(Exception):
    """A ``healing`` order that did not heal: the message, and the result to report."""

    def __init__(self, message: str, result: dict[str, Any]) -> None:
        super().__init__(message)
        self.result = result


class HealSite(Protocol):
    """What healing reads of the site: identity, directives, target credentials."""

    @property
    def appliance_id(self) -> str | None: ...

    @property
    def directives(self) -> Any: ...

    @property
    def credentials(self) -> Any: ...


class HealingComponent(BaseComponent):
    name = "healing"

    def __init__(
        self,
        config: Config,
        *,
        executors: ExecutorPool,
        site: HealSite,
        rules: RuleService,
        registry: RunbookRegistry,
        sink: ReportSink,
        bus: Bus,
        uplink: Uplink | None = None,
        on_state_changed: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.state_dir = Path(config.state_dir)
        self.executors = executors
        self.site = site
        self.rules = rules
        self.engine = rules.engine
        self.registry = registry
        self.sink = sink
        self.bus = bus
        self.uplink = uplink
        self.on_state_changed = on_state_changed
        self.clock = clock
        self.journal = HealingJournal(self.state_dir)
        self._open_heals = self.journal.open()
        self.l2 = L2Client(
            site_id=config.site_id,
            post=self._post_l2,
            budget=L2Budget(self.state_dir, calls_per_hour=config.l2_max_calls_per_hour,
                            daily_usd=config.l2_daily_budget_usd,
                            cost_per_call=config.l2_cost_per_call_usd,
                            price_input_per_mtok=config.l2_price_input_per_mtok,
                            price_output_per_mtok=config.l2_price_output_per_mtok, clock=clock),
            registry=self.registry,
            settings=L2Settings(
                enabled=lambda: self.config.l2_enabled and self.uplink is not None,
                api_key_configured=lambda: bool(self.uplink and self.uplink.credentials.api_key),
                server_breaker_open=lambda: bool(self.uplink and self.uplink.breaker_state == "open"),
                server_threshold=lambda: site.directives.l2_confidence_threshold,
                allowed_actions=lambda: self.config.l2_allowed_actions,
                known_secrets=self.known_secrets,
                timeout_s=float(config.l2_api_timeout),
                queue_wait_s=float(config.l2_queue_wait_s),
                max_concurrent=config.l2_max_concurrent_calls,
            ),
        )
        self.gates = GateState(
            healing_enabled=config.healing_enabled,
            dry_run=config.healing_dry_run,
            disabled_checks=lambda: site.directives.disabled_checks,
            paused=lambda: site.directives.healing_paused(datetime.now(UTC)),
            subscription_ok=self._subscription_ok,
            state_dir=self.state_dir,
        )
        self.pipeline = HealingPipeline(
            site_id=config.site_id,
            appliance_id=lambda: site.appliance_id,
            engine=self.engine,
            registry=self.registry,
            journal=self.journal,
            sink=sink,
            gates=self.gates,
            credentials=self.credential_for,
            executor_for=executors.for_target,
            clock=clock,
            max_per_host_per_hour=config.heal_max_per_host_per_hour,
            max_per_hour=config.heal_max_per_hour,
            on_healed=self._on_healed,
            l2=self.l2,
            l2_dry_run_plans=config.l2_dry_run_plans,
        )
        # Appliance self-remediation: the privileged helper, as the orders' nix_gc reaches it.
        self.pipeline.runner.priv = default_client(self.state_dir)
        self.queue = HealQueue()
        self._busy: set[str] = set()
        self.replayed = False
        self._replay_lock = asyncio.Lock()
        #: The server's incident id -> (real host, check type) of the incident this agent
        #: reported (bound from the answers to incident reports; in memory: after a restart no
        #: healing order selects by incident id until the incident is reported again).
        self.server_incidents: dict[str, tuple[str, str]] = {}
        self.results: list[PipelineResult] = []  # the last results (bounded), for status and tests
        self.stats = {"incidents": 0, "healed": 0, "escalated": 0, "agent_heals": 0}

    # --- sources ----------------------------------------------------------------------------------

    def report_go_crashed(self, h: GoHeal) -> None:
        """A heal the Go daemon's journal left open (adopted at start-up, runtime.md §3.3)."""
        self.pipeline.report_crashed(h.heal_id, h.incident_id, h.host, h.platform, h.check_type,
                                     h.runbook_id, h.level)

    def _subscription_ok(self) -> bool:
        return bool(self.site.directives.subscription_ok())

    def known_secrets(self) -> list[str | None]:
        creds = self.site.credentials
        out: list[str | None] = [self.uplink.credentials.api_key if self.uplink else None,
                                 self.config.dc_password, self.config.dc_username]
        for w in creds.windows_targets:
            out += [w.password, w.username]
        for lt in creds.linux_targets:
            out += [lt.password, lt.sudo_password, lt.private_key, lt.username]
            if lt.private_key:
                out += [ln for ln in lt.private_key.splitlines() if len(ln) >= 16]
        return out

    def credential_for(self, host: str) -> tuple[Target, Any] | None:
        """The host's own credential only (§4.2 step 11): never another host's."""
        if host == Target.local().host:
            return Target.local(), None
        creds = self.site.credentials
        for wt in creds.windows_targets:
            if wt.hostname == host:
                return Target.from_windows(wt), WinrmCredential.from_windows(wt)
        for lt in creds.linux_targets:
            if lt.hostname == host:
                return Target.from_linux(lt), SshCredential.from_linux(lt)
        return None

    async def _post_l2(self, path: str, body: bytes, timeout_s: float) -> tuple[int, bytes]:
        if self.uplink is None:
            raise ConnectionError("no connection to Central Command")
        reply = await self.uplink.send_encoded(routes.L2_PLAN, body, path=path)
        return reply.status, reply.body

    # --- intake -------------------------------------------------------------------------------------

    def on_incidents(self, event: IncidentsFound) -> None:
        """:class:`IncidentsFound` from the scan: into the heal queue (coalescing, bounded)."""
        for inc in event.incidents:
            self.stats["incidents"] += 1
            self.queue.put(inc)
            self.bus.publish(HealQueued(inc.host))

    def on_workstation_healed(self, event: WorkstationHealed) -> None:
        """:class:`WorkstationHealed` from the hub: the incident is resolved once reported."""
        self.stats["agent_heals"] += 1
        self.pipeline.agent_healed(event.host, event.check_type, event.source)

    def _on_healed(self, host: str) -> None:
        self.bus.publish(HealFinished(host, ran=True))

    async def housekeeping_tick(self) -> None:
        """Every 10 min (runtime.md §4.2, healing.md §4.4): drop idle dedup entries, compact the
        healing journal past its size limit (file I/O off the loop), ask for a state save."""
        self.pipeline.prune()
        await asyncio.get_running_loop().run_in_executor(None, self.journal.compact)
        self.on_state_changed()

    async def replay(self) -> None:
        """§4.6: before any scan or heal."""
        async with self._replay_lock:  # the scan job and every heal worker wait for it
            if self.replayed:
                return
            open_heals, self._open_heals = self._open_heals, []
            if open_heals:
                outcomes = await self.pipeline.replay(open_heals)
                log.info("heal.replayed", "interrupted heals settled",
                         outcomes=[o.outcome for o in outcomes])
            self.journal.compact()
            self.replayed = True

    # --- healing ------------------------------------------------------------------------------------

    async def heal_pending(self) -> list[PipelineResult]:
        """Drain the heal queue now, one heal per host at a time (tests, demo, shutdown-free use)."""
        await self.replay()
        out = []
        while (inc := self.queue.take(set())) is not None:
            out.append(await self._heal(inc))
        return out

    async def _heal(self, inc: Incident) -> PipelineResult:
        self._busy.add(inc.host)
        try:
            res = await self.pipeline.handle(inc)
        finally:
            self._busy.discard(inc.host)
            self.queue.wake()
        if res.stage == "healed":
            self.stats["healed"] += 1
        elif res.stage == "escalated" or (res.outcome is not None and not res.outcome.healed):
            self.stats["escalated"] += 1
        # a runbook ran: early rescan (§6.1); otherwise the host's schedule resumes
        self.bus.publish(HealFinished(inc.host, ran=res.outcome is not None))
        self.results = [*self.results[-99:], res]
        self.on_state_changed()
        return res

    def idle(self) -> bool:
        return not self._busy and len(self.queue) == 0

    async def worker(self) -> None:
        await self.replay()
        while True:
            inc = self.queue.take(self._busy)
            if inc is None:
                await self.queue.wait()
                continue
            await self._heal(inc)

    # --- orders -------------------------------------------------------------------------------------

    @property
    def incidents(self) -> _IncidentLookup:
        """The orders' incident journal (central-api.md §7.8)."""
        return _IncidentLookup(self)

    def bind_server_incident(self, sent: dict[str, Any], answer: dict[str, Any]) -> None:
        """The server's answer to an incident report (``POST /incidents``: ``incident_id``, the
        id its healing orders carry) bound to the incident this agent reported. ``sent`` is the
        report as it left (its ``host_id`` may be PHI-scrubbed)."""
        sid, host, ct = answer.get("incident_id"), sent.get("host_id"), sent.get("check_type")
        if not (isinstance(sid, str | int) and not isinstance(sid, bool) and str(sid)
                and isinstance(host, str) and isinstance(ct, str)):
            return
        found = self.lookup_incident(host, ct, datetime.fromtimestamp(0, UTC))
        if found is None:
            return
        self.server_incidents.pop(str(sid), None)
        self.server_incidents[str(sid)] = (found.host, ct)
        while len(self.server_incidents) > MAX_SERVER_INCIDENTS:
            self.server_incidents.pop(next(iter(self.server_incidents)))

    def open_incident(self, server_id: str, since: datetime) -> _Reported | None:
        """The incident the server's ``incident_id`` names, if this agent reported it (bound
        from the server's answer), reported it since ``since`` and has not healed it since."""
        bound = self.server_incidents.get(server_id)
        if bound is None:
            return None
        rec = self.lookup_incident(bound[0], bound[1], since)
        if rec is None or not self.pipeline.is_open(rec.host, rec.check_type):
            return None
        return rec

    def lookup_incident(self, host: str, check_type: str, since: datetime) -> _Reported | None:
        rec = self.pipeline.reported.get((host, check_type))
        if rec is None:
            from agent.phi.egress import egress

            for (real, ct), r in self.pipeline.reported.items():
                if ct == check_type and egress(real, kind="lookup") == host:
                    host, rec = real, r
                    break
        if rec is None or rec[1] < since.timestamp():
            return None
        found = self.credential_for(host)
        return _Reported(rec[0], host, check_type, rec[1], found[0].label or "" if found else "")

    async def order_heal(self, host: str, check_type: str, runbook_id: str,
                         params: dict[str, Any]) -> dict[str, Any]:
        """The ``healing`` order: one runbook on one host, now (orders.md)."""
        rb = self.registry.get(runbook_id)
        found = self.credential_for(host)
        if rb is None or found is None:
            raise HealOrderError("runbook or target not known", {"status": "blocked"})
        target, _ = found
        inc = self.pipeline.last_reported.get((host, check_type))
        if inc is None:
            rec = self.pipeline.reported.get((host, check_type))
            inc = Incident(rec[0] if rec else new_incident_id(), host, check_type, "medium", "",
                           "", "", {}, target.platform, "order", target.label, (), self.clock())
        res = await self.pipeline.execute(inc, rb, params, phases=("detect", "remediate", "verify"),
                                          level="order", trigger="order")
        result = {"status": res.stage, "runbook_id": runbook_id, "incident_id": inc.incident_id,
                  "reason": res.reason[:500]}
        if res.stage not in ("healed", "already_compliant"):
            raise HealOrderError(f"healing order not healed: {res.stage}", result)
        return result

    # --- component hooks ----------------------------------------------------------------------------

    def install(self, host: JobHost) -> None:
        host.add_job(Job(name="housekeeping", run=self.housekeeping_tick,
                         delay=lambda: HOUSEKEEPING_S, deadline=HOUSEKEEPING_DEADLINE_S,
                         first_delay=HOUSEKEEPING_S, from_completion=True))
        for n in range(max(1, self.config.heal_concurrency)):
            host.spawn(f"heal-worker-{n}", self.worker)

    def reload(self, config: Config) -> None:
        self.config = config
        self.gates.healing_enabled = config.healing_enabled
        self.gates.dry_run = config.healing_dry_run

    def flush(self) -> None:
        self.journal.flush()

    async def close(self) -> None:
        self.journal.close()

    def status(self) -> dict[str, Any]:
        return {**self.stats, "queue": len(self.queue), "queue_evicted": self.queue.evicted,
                "l2": self.l2.status(), "rules": len(self.engine.rules),
                "runbooks": len(self.registry)}

    def summary(self) -> str:
        return f"{self.stats['healed']} healed" if self.stats["healed"] else ""


class _IncidentLookup:
    """The orders' incident journal (central-api.md §7.8): what this agent reported recently."""

    def __init__(self, comp: HealingComponent) -> None:
        self.comp = comp

    def lookup(self, host_id: str, check_type: str, since: datetime) -> Any:
        return self.comp.lookup_incident(host_id, check_type, since)

    def open_incident(self, server_id: str, since: datetime) -> Any:
        return self.comp.open_incident(server_id, since)
