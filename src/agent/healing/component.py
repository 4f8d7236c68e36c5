"""Drift scanning and self-healing in the daemon (healing.md §4, §5, §6).

One :class:`HealingComponent` owns the rule engine, the runbook registry, the healing journal,
the pipeline, the L2 client, the scan scheduler and the heal queue, and installs:

* ``scan`` — every 15 s: journal replay first (once, before any scan or heal), then ownership and
  targets from the last checkin, a forced round when asked (``run_drift``,
  ``trigger_immediate_scan``), and one scheduler round of the due hosts;
* ``heal-worker-<n>`` — ``heal_concurrency`` long-lived workers on the bounded, coalescing heal
  queue (at most one heal per host at a time).

The appliance itself is always a target (through :class:`~agent.exec.LocalExecutor`), so scans work
with no targets configured. Linux/macOS targets from the checkin are scanned over SSH, Windows
targets over WinRM (:class:`~agent.scan.windows.WindowsScanner`).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from agent.exec import LocalExecutor, SshCredential, Target, Transport, WinrmCredential
from agent.exec.types import Executor
from agent.healing.journal import HealingJournal
from agent.healing.pipeline import GateState, HealingPipeline, PipelineResult, ReportSink
from agent.l2.budget import L2Budget
from agent.l2.client import L2Client, L2Settings
from agent.log import get_logger
from agent.orders.handlers import HandlerError, Hooks
from agent.rules import RuleEngine, load_all
from agent.rules.builtin import builtin_rules
from agent.rules.engine import Deferred, Match
from agent.rules.loader import store_bundle
from agent.runbooks.registry import RunbookRegistry, default_registry
from agent.runtime.component import BaseComponent
from agent.runtime.status import runtime_dir
from agent.runtime.supervisor import Job, Supervisor
from agent.scan.catalog import CATALOG
from agent.scan.health import ScanHealth
from agent.scan.linux import LinuxScanner
from agent.scan.macos import MacosScanner
from agent.scan.model import SEVERITY_RANK, Finding, HostResult, Incident, aggregate, new_incident_id
from agent.scan.network import NameCache, NetScanSettings, NetworkScanner, settings_from
from agent.scan.scheduler import Ownership, ScanScheduler
from agent.scan.threats import SecurityArchive, ThreatDetector
from agent.scan.windows import WindowsScanner, windows_label
from agent.state.daemon_state import DaemonStatePersistence, GoHeal
from agent.uplink import Uplink, routes

if TYPE_CHECKING:
    from agent.checkin import CheckinComponent
    from agent.telemetry.component import ReportsComponent

log = get_logger("healing")

SCAN_TICK_S: Final = 15.0
NETSCAN_DEADLINE_S: Final = 150.0  # runtime.md §4.2
HOUSEKEEPING_S: Final = 600.0  # runtime.md §4.2: prune cooldowns, compact the journal
HOUSEKEEPING_DEADLINE_S: Final = 30.0
HEAL_QUEUE_MAX: Final = 256
ARCHIVE_DEADLINE_S: Final = 30.0
SYNC_PATH: Final = "/agent/sync"


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


class HealingComponent(BaseComponent):
    name = "healing"

    def __init__(
        self,
        checkin: CheckinComponent,
        reports: ReportsComponent | None = None,
        *,
        sink: ReportSink | None = None,
        registry: RunbookRegistry | None = None,
        appliance_params: Mapping[str, str | Sequence[str]] | None = None,
        local_executor: Executor | None = None,
        own_mac: str = "",
        clock: Callable[[], float] = time.time,
        uplink: Uplink | None = None,
    ) -> None:
        cfg = checkin.config
        self.checkin = checkin
        self.uplink = uplink or checkin.uplink
        self.config = cfg
        self.shared = checkin.shared
        self.state_dir = Path(cfg.state_dir)
        self.registry = registry or default_registry()
        self.appliance_params = dict(appliance_params or {})
        self.clock = clock
        if sink is None:
            if reports is None:
                raise ValueError("HealingComponent needs the report queues or a sink")
            from agent.healing.sink import queues_sink

            sink = queues_sink(reports.queues)
        self.sink = sink
        self.journal = HealingJournal(self.state_dir)
        self._open_heals = self.journal.open()
        self.engine = RuleEngine(self._load_rules())
        self._local = local_executor
        self._ssh: Executor | None = None
        self._winrm: Executor | None = None
        shared = self.shared
        self.l2 = L2Client(
            site_id=cfg.site_id,
            post=self._post_l2,
            budget=L2Budget(self.state_dir, calls_per_hour=cfg.l2_max_calls_per_hour,
                            daily_usd=cfg.l2_daily_budget_usd, cost_per_call=cfg.l2_cost_per_call_usd,
                            price_input_per_mtok=cfg.l2_price_input_per_mtok,
                            price_output_per_mtok=cfg.l2_price_output_per_mtok, clock=clock),
            registry=self.registry,
            settings=L2Settings(
                enabled=lambda: self.config.l2_enabled,
                api_key_configured=lambda: bool(checkin.credentials.api_key),
                server_breaker_open=lambda: self.uplink.breaker_state == "open",
                server_threshold=lambda: shared.directives.l2_confidence_threshold,
                allowed_actions=lambda: self.config.l2_allowed_actions,
                known_secrets=self.known_secrets,
                timeout_s=float(cfg.l2_api_timeout),
                queue_wait_s=float(cfg.l2_queue_wait_s),
                max_concurrent=cfg.l2_max_concurrent_calls,
            ),
        )
        self.gates = GateState(
            healing_enabled=cfg.healing_enabled,
            dry_run=cfg.healing_dry_run,
            disabled_checks=lambda: shared.directives.disabled_checks,
            paused=lambda: shared.directives.healing_paused(datetime.now(UTC)),
            subscription_ok=self._subscription_ok,
            state_dir=self.state_dir,
        )
        self.pipeline = HealingPipeline(
            site_id=cfg.site_id,
            appliance_id=lambda: shared.appliance_id,
            engine=self.engine,
            registry=self.registry,
            journal=self.journal,
            sink=sink,
            gates=self.gates,
            credentials=self.credential_for,
            executor_for=self.executor_for,
            clock=clock,
            max_per_host_per_hour=cfg.heal_max_per_host_per_hour,
            max_per_hour=cfg.heal_max_per_hour,
            on_healed=self._on_healed,
            l2=self.l2,
            l2_dry_run_plans=cfg.l2_dry_run_plans,
        )
        self.ownership = Ownership(own_mac=own_mac or _own_mac())
        self.names = NameCache()  # §6.2 item 1: named targets resolved for ownership
        self.scheduler = ScanScheduler(
            scan_host=self._scan_host,
            on_result=self._on_result,
            interval_s=float(cfg.scan_interval_s),
            rescan_s=float(cfg.scan_rescan_s),
            concurrency=cfg.scan_concurrency,
            host_timeouts={"windows": float(cfg.scan_host_timeout_windows_s),
                           "linux": float(cfg.scan_host_timeout_linux_s),
                           "macos": float(cfg.scan_host_timeout_macos_s)},
            round_deadline_s=float(cfg.scan_round_deadline_s),
            ownership=self.ownership,
            owner_keys=self.names.keys,
        )
        self.health = ScanHealth(self.state_dir, clock=clock)
        self.netscan = NetworkScanner(self._netscan_settings(), self.state_dir, clock=clock)
        # Windows threat detection (§2.5) and the security-event archive (central-api.md §7.7).
        self.security_archive = SecurityArchive(self.state_dir, site_id=lambda: self.config.site_id,
                                                source_host=_hostname(), clock=clock)
        self.threats = ThreatDetector(self.state_dir, clock=clock, archive=self.security_archive)
        self.queue = HealQueue()
        self._busy: set[str] = set()
        self.replayed = False
        self._replay_lock = asyncio.Lock()
        self.supervisor: Supervisor | None = None
        self.results: list[PipelineResult] = []  # the last results (bounded), for status and tests
        self.host_results: list[Callable[[Target, HostResult], None]] = []  # evidence hand-off hooks
        self.stats = {"scans": 0, "incidents": 0, "healed": 0, "escalated": 0}
        # daemon_state.json (runtime.md §3.2, §3.3): cooldowns, counters, schedule; Go adoption.
        self.daemon_state = DaemonStatePersistence(
            self.state_dir, healing=self.pipeline, rules=self.engine, schedule=self.scheduler,
            linux_targets=lambda: [{"hostname": t.hostname, "port": t.port, "username": t.username,
                                    "label": t.label or ""} for t in shared.credentials.linux_targets],
            subscription_status=lambda: shared.directives.billing_status, clock=clock)
        self.adoption = self.daemon_state.start(
            sealed=checkin.sealed, on_credentials=self._adopted_credentials, journal=self.journal,
            on_crashed=self._go_heal_crashed)
        if shared.directives.billing_status is None and self.daemon_state.subscription_status:
            shared.directives.billing_status = self.daemon_state.subscription_status
        checkin.after_success.append(self.daemon_state.request_save)

    # --- sources ----------------------------------------------------------------------------------

    def _load_rules(self) -> list[Any]:
        rules, report = load_all(
            self.state_dir, builtin=builtin_rules(self.registry), runbooks=self.registry, catalog=CATALOG,
            trusted_keys=self.checkin.server_keys.trusted_keys(),
            require_signed=self.config.require_signed_rules)
        if report.errors:
            log.warning("rules.load_errors", "some rules were rejected", count=len(report.errors))
        return rules

    def reload_rules(self) -> None:
        self.engine.swap(self._load_rules())

    def _adopted_credentials(self, creds: Any) -> None:
        self.shared.credentials = creds  # Go plaintext credentials, now sealed (runtime.md §3.3)

    def _go_heal_crashed(self, h: GoHeal) -> None:
        self.pipeline.report_crashed(h.heal_id, h.incident_id, h.host, h.platform, h.check_type,
                                     h.runbook_id, h.level)

    def _subscription_ok(self) -> bool:
        st = self.shared.directives.billing_status
        return not st or st in ("active", "trialing")

    def known_secrets(self) -> list[str | None]:
        creds = self.shared.credentials
        out: list[str | None] = [self.checkin.credentials.api_key, self.config.dc_password,
                                 self.config.dc_username]
        for w in creds.windows_targets:
            out += [w.password, w.username]
        for lt in creds.linux_targets:
            out += [lt.password, lt.sudo_password, lt.private_key, lt.username]
            if lt.private_key:
                out += [ln for ln in lt.private_key.splitlines() if len(ln) >= 16]
        return out

    def targets(self) -> list[tuple[Target, Any]]:
        """The appliance, then the Windows and Linux/macOS targets from the checkin."""
        out: list[tuple[Target, Any]] = [(Target.local(), None)]
        for wt in self.shared.credentials.windows_targets:
            out.append((Target.from_windows(wt), WinrmCredential.from_windows(wt)))
        for lt in self.shared.credentials.linux_targets:
            out.append((Target.from_linux(lt), SshCredential.from_linux(lt)))
        return out

    def credential_for(self, host: str) -> tuple[Target, Any] | None:
        """The host's own credential only (§4.2 step 11): never another host's."""
        if host == Target.local().host:
            return Target.local(), None
        for wt in self.shared.credentials.windows_targets:
            if wt.hostname == host:
                return Target.from_windows(wt), WinrmCredential.from_windows(wt)
        for lt in self.shared.credentials.linux_targets:
            if lt.hostname == host:
                return Target.from_linux(lt), SshCredential.from_linux(lt)
        return None

    def known_targets(self, platform: str) -> set[str]:
        return {t.host for t, _ in self.targets() if t.platform == platform}

    def executor_for(self, target: Target) -> Executor:
        if target.transport is Transport.LOCAL:
            if self._local is None:
                rd = runtime_dir(self.state_dir)
                rd.mkdir(mode=0o700, parents=True, exist_ok=True)
                self._local = LocalExecutor(rd, max_concurrency=self.config.local_max_concurrency)
            return self._local
        if target.transport is Transport.SSH:
            if self._ssh is None:
                from agent.exec import SshExecutor

                c = self.config
                self._ssh = SshExecutor(self.state_dir, per_host_concurrency=c.ssh_per_host_concurrency,
                                        max_concurrency=c.ssh_max_concurrency, pool_size=c.ssh_pool_size,
                                        conn_max_age_s=float(c.ssh_conn_max_age_s))
            return self._ssh
        if target.transport is Transport.WINRM:
            if self._winrm is None:
                from agent.exec.winrm import WinrmExecutor

                self._winrm = WinrmExecutor.from_config(self.config)
            return self._winrm
        raise ValueError(f"no executor for {target.transport.value} in this build")

    async def _post_l2(self, path: str, body: bytes, timeout_s: float) -> tuple[int, bytes]:
        reply = await self.uplink.send_encoded(routes.L2_PLAN, body, path=path)
        return reply.status, reply.body

    # --- scanning -----------------------------------------------------------------------------------

    async def _scan_host(self, target: Target, cred: Any, deadline_s: float) -> HostResult:
        directives = self.shared.directives
        cls: type[LinuxScanner] | type[WindowsScanner] = LinuxScanner
        if target.transport is Transport.WINRM:
            cls = WindowsScanner
        elif target.platform == "macos":
            cls = MacosScanner
        scanner = cls(self.executor_for(target), disabled=lambda: directives.disabled_checks)
        if isinstance(scanner, WindowsScanner):
            scanner.threats = self.threats  # security events and shadow copies (§2.5)
        params: dict[str, str | Sequence[str]] | None = None
        if target.transport is Transport.LOCAL:
            params = {**self._site_scan_params(), **self.appliance_params}
        elif target.transport is Transport.SSH:
            params = self._site_scan_params()
        return await scanner.scan(target, cred, deadline_s=deadline_s, params=params)

    def _site_scan_params(self) -> dict[str, str | Sequence[str]]:
        """The site's watched certificates and backups for SSH scans (config, hot-reloadable);
        an empty setting leaves the scan script's defaults."""
        c = self.config
        out: dict[str, str | Sequence[str]] = {}
        if c.scan_cert_paths:
            out["cert_paths"] = list(c.scan_cert_paths)
        if c.scan_backup_paths:
            out["backup_paths"] = list(c.scan_backup_paths)
        if c.scan_backup_unit:
            out["backup_unit"] = c.scan_backup_unit
        return out

    async def _on_result(self, target: Target, res: HostResult) -> bool:
        """Per host as soon as it finishes (§6.4): incidents to the heal queue, evidence hooks."""
        self.stats["scans"] += 1
        self.daemon_state.record_scan(res.host, res.status == "complete", res.finished_at or self.clock())
        for hook in self.host_results:
            try:
                hook(target, res)
            except Exception as exc:  # noqa: BLE001
                log.error("scan.handoff_failed", "host result hand-off failed", error=type(exc).__name__)
        verdict = self.health.observe(target.host, target.platform, target.label, res,
                                      remote=target.transport is not Transport.LOCAL)
        return self._queue_findings([*res.findings, *verdict.immediate])

    def _queue_findings(self, findings: Sequence[Finding]) -> bool:
        """Disabled-check filter, aggregation (§2.2), heal queue; True if any is actionable."""
        disabled = self.shared.directives.disabled_checks
        actionable = False
        for inc in aggregate(f for f in findings if f.check_type not in disabled):
            self.stats["incidents"] += 1
            m = self.engine.match(inc.data_map(), inc.severity, claim=False)
            if isinstance(m, Match | Deferred) or SEVERITY_RANK.get(inc.severity, 0) >= 2:
                actionable = True
            self.queue.put(inc)
            self.scheduler.heal_queued(inc.host)
        return actionable

    def _netscan_settings(self) -> NetScanSettings:
        creds = self.shared.credentials
        return settings_from(self.config, creds.windows_targets, labeller=windows_label,
                             linux_targets=creds.linux_targets)

    async def housekeeping_tick(self) -> None:
        """Every 10 min (runtime.md §4.2, healing.md §4.4): drop idle dedup entries, compact the
        healing journal past its size limit (file I/O off the loop), save the state if it changed."""
        self.pipeline.prune()
        await asyncio.get_running_loop().run_in_executor(None, self.journal.compact)
        self.daemon_state.request_save()

    async def netscan_tick(self) -> HostResult:
        """The network scan (§2.5, §6.1): findings through the same pipeline as host findings."""
        await self.replay()
        self.netscan.settings = self._netscan_settings()
        res = await self.netscan.scan()
        target = Target(Transport.LOCAL, res.host, None, res.platform, res.platform)
        for hook in self.host_results:
            try:
                hook(target, res)
            except Exception as exc:  # noqa: BLE001
                log.error("scan.handoff_failed", "host result hand-off failed", error=type(exc).__name__)
        self._queue_findings(res.findings)
        return res

    def settle_round(self) -> None:
        """After a scheduler round: its ``device_unreachable`` findings, or one ``subnet_dark``."""
        self._queue_findings([*self.health.finish_round(), *self.threats.take_pending()])

    async def archive_security_events(self) -> int:
        """After the round's Windows collection: drain the security-event archive (§7.7)."""
        if not self.security_archive.pending() or self.uplink.breaker_state == "open":
            return 0
        post = self.uplink.poster(routes.SECURITY_EVENTS)

        try:
            async with asyncio.timeout(ARCHIVE_DEADLINE_S):
                return await self.security_archive.drain(post)
        except TimeoutError:
            log.warning("threats.archive_timeout", "security-event archive stopped at its deadline")
            return 0

    def _on_healed(self, host: str) -> None:
        self.scheduler.heal_finished(host)

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

    async def scan_tick(self) -> None:
        await self.replay()
        d = self.shared.directives
        self.ownership.update(d.assignment, d.assignment_received, d.mesh_peers)
        self.scheduler.set_targets(self.targets())
        if d.trigger_immediate_scan:
            d.trigger_immediate_scan = False
            self.scheduler.force()
        await self.scheduler.run_round()
        self.settle_round()
        await self.archive_security_events()

    async def scan_now(self) -> None:
        """One forced round of every owned host (also usable without the supervisor)."""
        await self.replay()
        self.scheduler.set_targets(self.targets())
        self.scheduler.force()
        await self.scheduler.run_round()
        self.settle_round()
        await self.archive_security_events()

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
        if res.outcome is not None:
            self.scheduler.heal_finished(inc.host)  # a runbook ran: early rescan (§6.1)
        else:
            self.scheduler.heal_settled(inc.host)
        self.results = [*self.results[-99:], res]
        self.daemon_state.request_save()
        return res

    async def worker(self) -> None:
        await self.replay()
        while True:
            inc = self.queue.take(self._busy)
            if inc is None:
                await self.queue.wait()
                continue
            await self._heal(inc)

    # --- orders -------------------------------------------------------------------------------------

    def hooks(self, hooks: Hooks | None = None) -> Hooks:
        h = hooks or Hooks()
        h.run_drift = self._order_run_drift
        h.sync_rules = self.sync_rules
        h.reload_rules = self.reload_rules
        h.runbooks = self.registry
        h.known_targets = self.known_targets
        h.incidents = _IncidentLookup(self)
        h.run_heal = self._order_heal
        return h

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
        return _Reported(rec[0], host, check_type, rec[1])

    async def _order_run_drift(self, params: dict[str, Any]) -> dict[str, Any]:
        self.scheduler.set_targets(self.targets())
        self.scheduler.force()
        if self.supervisor is not None and self.supervisor.run_job_now("scan") is not None:
            return {"status": "scan_triggered", "hosts": len(self.scheduler.hosts)}
        await self.scan_now()
        return {"status": "scan_completed", "hosts": len(self.scheduler.hosts)}

    async def _order_heal(self, host: str, check_type: str, runbook_id: str,
                          params: dict[str, Any]) -> dict[str, Any]:
        rb = self.registry.get(runbook_id)
        found = self.credential_for(host)
        if rb is None or found is None:
            raise HandlerError("runbook or target not known", {"status": "blocked"})
        target, _ = found
        rec = self.pipeline.reported.get((host, check_type))
        inc = Incident(rec[0] if rec else new_incident_id(), host, check_type, "medium", "", "", "",
                       {}, target.platform, "order", target.label, (), self.clock())
        res = await self.pipeline.execute(inc, rb, params, phases=("detect", "remediate", "verify"),
                                          level="order", trigger="order")
        result = {"status": res.stage, "runbook_id": runbook_id, "incident_id": inc.incident_id,
                  "reason": res.reason[:500]}
        if res.stage not in ("healed", "already_compliant"):
            raise HandlerError(f"healing order not healed: {res.stage}", result)
        return result

    async def sync_rules(self) -> None:
        from urllib.parse import quote

        resp = await self.uplink.send(routes.RULES, None,
                                      path=f"{SYNC_PATH}?site_id={quote(self.config.site_id)}")
        if resp.status != 200:
            raise HandlerError(f"rule sync failed: HTTP {resp.status}")
        try:
            bundle = json.loads(resp.body)
            store_bundle(self.state_dir, bundle, self.checkin.server_keys.trusted_keys())
        except ValueError as exc:
            raise HandlerError(f"rule bundle rejected: {exc}") from None
        self.reload_rules()
        log.info("rules.synced", "rule bundle verified and loaded", rules=len(self.engine.rules))

    # --- component hooks ----------------------------------------------------------------------------

    def install(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        supervisor.add_job(Job(name="scan", run=self.scan_tick, delay=lambda: SCAN_TICK_S,
                               deadline=float(self.config.scan_round_deadline_s) + 60.0,
                               first_delay=SCAN_TICK_S, from_completion=True,
                               enabled=lambda: self.config.enable_drift_detection))
        supervisor.add_job(Job(name="netscan", run=self.netscan_tick,
                               delay=lambda: float(self.config.netscan_interval_s),
                               deadline=NETSCAN_DEADLINE_S, first_delay=2 * SCAN_TICK_S, from_completion=True,
                               enabled=lambda: self.config.enable_drift_detection))
        supervisor.add_job(Job(name="housekeeping", run=self.housekeeping_tick, delay=lambda: HOUSEKEEPING_S,
                               deadline=HOUSEKEEPING_DEADLINE_S, first_delay=HOUSEKEEPING_S,
                               from_completion=True))
        for n in range(max(1, self.config.heal_concurrency)):
            supervisor.spawn(f"heal-worker-{n}", self.worker)

    def reload(self, config: Any) -> None:
        self.config = config
        self.gates.healing_enabled = config.healing_enabled
        self.gates.dry_run = config.healing_dry_run

    def flush(self) -> None:
        self.journal.flush()
        self.daemon_state.flush()

    async def close(self) -> None:
        self.daemon_state.close()
        for ex in (self._ssh, self._winrm, self._local):
            if ex is not None:
                await ex.close()
        self.journal.close()

    def status(self) -> dict[str, Any]:
        return {**self.stats, "queue": len(self.queue), "queue_evicted": self.queue.evicted,
                "scheduler": self.scheduler.status(), "l2": self.l2.status(),
                "rules": len(self.engine.rules), "runbooks": len(self.registry)}

    def summary(self) -> str:
        return f"{self.stats['healed']} healed" if self.stats["healed"] else ""


def _hostname() -> str:
    import socket

    return socket.gethostname()


def _own_mac() -> str:
    try:
        from agent.checkin.sysinfo import interface_macs

        macs = interface_macs()
        return macs[0][1] if macs else ""
    except (OSError, IndexError, ValueError):
        return ""


class _IncidentLookup:
    """The orders' incident journal (central-api.md §7.8): what this agent reported recently."""

    def __init__(self, comp: HealingComponent) -> None:
        self.comp = comp

    def lookup(self, host_id: str, check_type: str, since: datetime) -> Any:
        return self.comp.lookup_incident(host_id, check_type, since)
