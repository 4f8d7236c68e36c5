"""Drift scanning in the daemon (healing.md §2, §6): the scan component.

:class:`ScanComponent` owns the scan scheduler (ownership, cadence, deadlines), the platform
scanners, the network scan, Windows threat detection with its security-event archive, and scan
health. It publishes on the bus, and knows nothing of healing or evidence:

* :class:`~agent.scan.events.HostScanned` for every host result (evidence, the state file);
* :class:`~agent.scan.events.IncidentsFound` for the aggregated incidents (healing).

It listens to :class:`~agent.scan.events.HealQueued` / :class:`~agent.scan.events.HealFinished`
to hold or advance a host's next scan (§6.1). Jobs: ``scan`` (every 15 s, a round of the due
hosts) and ``netscan``. Before its first round it waits for ``ready`` (the healing journal's
replay, §4.6). The appliance itself is always a target (the local executor).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Protocol

from agent.bus import Bus
from agent.config import Config
from agent.exec import SshCredential, Target, Transport, WinrmCredential
from agent.exec.pool import ExecutorPool
from agent.jobs import BaseComponent, Job, JobHost
from agent.log import get_logger
from agent.rules import Deferred, Match, RuleEngine
from agent.scan.events import HealFinished, HealQueued, HostScanned, IncidentsFound
from agent.scan.health import ScanHealth
from agent.scan.model import SEVERITY_RANK, Finding, HostResult, Incident, aggregate
from agent.scan.network import NameCache, NetScanSettings, NetworkScanner, settings_from
from agent.scan.scheduler import Ownership, ScanScheduler
from agent.scan.threats import SecurityArchive, ThreatDetector
from agent.uplink import Uplink, routes

log = get_logger("scan")

SCAN_TICK_S: Final = 15.0
NETSCAN_DEADLINE_S: Final = 150.0  # runtime.md §4.2
ARCHIVE_DEADLINE_S: Final = 30.0


class ScanSite(Protocol):
    """What the scan reads of the site (and the one directive it consumes)."""

    @property
    def directives(self) -> Any: ...

    @property
    def credentials(self) -> Any: ...

    def take_immediate_scan(self) -> bool: ...


class AgentPresence(Protocol):
    """Hosts whose workstation agent pushes its own results (the hub's registry, when enabled)."""

    def pushes_own_results(self, host: str) -> bool: ...


def check_counts(res: HostResult) -> dict[str, int]:
    """``pass``/``fail``/``unknown`` counts of one host's checks (``drift`` counts as fail)."""
    counts = {"pass": 0, "fail": 0, "unknown": 0}
    for verdict in res.checks.values():
        counts["pass" if verdict == "pass" else "fail" if verdict in ("drift", "fail")
               else "unknown"] += 1
    return counts


def log_scan_result(res: HostResult) -> None:
    """One line per host scan with its pass/fail/unknown counts; a failed or partial scan says
    why (its error kind and first diagnostic)."""
    counts = check_counts(res)
    fields: dict[str, Any] = {"host": res.host, "platform": res.platform, "status": res.status,
                              "passed": counts["pass"], "failed": counts["fail"],
                              "unknown": counts["unknown"], "findings": len(res.findings),
                              "duration_ms": max(0, int((res.finished_at - res.started_at) * 1000))}
    msg = (f"scan {res.status}: {counts['pass']} pass, {counts['fail']} fail, "
           f"{counts['unknown']} unknown")
    if res.status == "complete":
        log.info("scan.host", msg, **fields)
        return
    reason = res.error_kind or (res.diagnostics[0] if res.diagnostics else "") or "no reason recorded"
    log.warning("scan.host", f"{msg} ({reason})", reason=reason, error_kind=res.error_kind or None,
                **fields)


async def _no_wait() -> None:
    return None


def _windows_label(role: str) -> str:
    """:func:`agent.scan.windows.windows_label`, importing the Windows scanner only when a Windows
    target asks."""
    from agent.scan.windows import windows_label

    return windows_label(role)


class ScanComponent(BaseComponent):
    name = "scan"

    def __init__(self, config: Config, *, executors: ExecutorPool, site: ScanSite, bus: Bus,
                 engine: RuleEngine, uplink: Uplink | None = None,
                 ready: Callable[[], Awaitable[None]] = _no_wait,
                 appliance_params: Mapping[str, str | Sequence[str]] | None = None,
                 own_mac: str = "", clock: Callable[[], float] = time.time,
                 agent_presence: AgentPresence | None = None) -> None:
        self.config = config
        self.agent_presence = agent_presence
        self.state_dir = Path(config.state_dir)
        self.executors = executors
        self.site = site
        self.bus = bus
        self.engine = engine
        self.uplink = uplink
        self.ready = ready
        self.appliance_params = dict(appliance_params or {})
        self.clock = clock
        self.ownership = Ownership(own_mac=own_mac)
        self.names = NameCache()  # §6.2 item 1: named targets resolved for ownership
        self.scheduler = ScanScheduler(
            scan_host=self._scan_host,
            on_result=self._on_result,
            interval_s=float(config.scan_interval_s),
            rescan_s=float(config.scan_rescan_s),
            concurrency=config.scan_concurrency,
            host_timeouts={"windows": float(config.scan_host_timeout_windows_s),
                           "linux": float(config.scan_host_timeout_linux_s),
                           "macos": float(config.scan_host_timeout_macos_s)},
            round_deadline_s=float(config.scan_round_deadline_s),
            ownership=self.ownership,
            owner_keys=self.names.keys,
        )
        self.health = ScanHealth(self.state_dir, clock=clock)
        self.netscan = NetworkScanner(self._netscan_settings(), self.state_dir, clock=clock)
        # Windows threat detection (§2.5) and the security-event archive (central-api.md §7.7).
        self.security_archive = SecurityArchive(self.state_dir, site_id=lambda: self.config.site_id,
                                                source_host=socket.gethostname(), clock=clock)
        self.threats = ThreatDetector(self.state_dir, clock=clock, archive=self.security_archive)
        self.host: JobHost | None = None
        self.stats = {"scans": 0, "incidents": 0}

    # --- targets ----------------------------------------------------------------------------

    def targets(self) -> list[tuple[Target, Any]]:
        """The appliance, then the Windows and Linux/macOS targets from the checkin."""
        out: list[tuple[Target, Any]] = [(Target.local(), None)]
        creds = self.site.credentials
        for wt in creds.windows_targets:
            out.append((Target.from_windows(wt), WinrmCredential.from_windows(wt)))
        for lt in creds.linux_targets:
            out.append((Target.from_linux(lt), SshCredential.from_linux(lt)))
        return out

    def scan_targets(self) -> list[tuple[Target, Any]]:
        """:meth:`targets` less the Windows hosts whose workstation agent sent a heartbeat in
        the last 10 minutes: they push their own results (healing.md §6.2)."""
        presence = self.agent_presence
        if presence is None:
            return self.targets()
        return [(t, c) for t, c in self.targets()
                if t.transport is not Transport.WINRM or not presence.pushes_own_results(t.host)]

    def known_targets(self, platform: str) -> set[str]:
        return {t.host for t, _ in self.targets() if t.platform == platform}

    # --- one host -----------------------------------------------------------------------------

    async def _scan_host(self, target: Target, cred: Any, deadline_s: float) -> HostResult:
        directives = self.site.directives
        await self.executors.prepare(target)  # its library imported off the event loop
        executor = self.executors.for_target(target)
        # Each platform's scanner (and its scripts) is imported at its first host.
        if target.transport is Transport.WINRM:
            from agent.scan.windows import WindowsScanner

            win = WindowsScanner(executor, disabled=lambda: directives.disabled_checks)
            win.threats = self.threats  # security events and shadow copies (§2.5)
            scanner: Any = win
        elif target.platform == "macos":
            from agent.scan.macos import MacosScanner

            scanner = MacosScanner(executor, disabled=lambda: directives.disabled_checks)
        else:
            from agent.scan.linux import LinuxScanner

            scanner = LinuxScanner(executor, disabled=lambda: directives.disabled_checks)
        params: dict[str, str | Sequence[str]] | None = None
        if target.transport is Transport.LOCAL:
            from agent.scan.appliance import self_check_params

            params = {**self._site_scan_params(),
                      **self_check_params(self.config.appliance_backup_unit),
                      **self.appliance_params}
        elif target.transport is Transport.SSH:
            params = self._site_scan_params()
        result: HostResult = await scanner.scan(target, cred, deadline_s=deadline_s,
                                                params=params)
        return result

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
        """Per host as soon as it finishes (§6.4): the result, then its incidents, on the bus."""
        self.stats["scans"] += 1
        log_scan_result(res)
        self.bus.publish(HostScanned(target, res))
        verdict = self.health.observe(target.host, target.platform, target.label, res,
                                      remote=target.transport is not Transport.LOCAL)
        return self.publish_findings([*res.findings, *verdict.immediate])

    def publish_findings(self, findings: Sequence[Finding]) -> bool:
        """Disabled-check filter and aggregation (§2.2), then :class:`IncidentsFound`; True if any
        incident is actionable (a rule would act on it, or it is high/critical: early rescan)."""
        disabled = self.site.directives.disabled_checks
        incidents: list[Incident] = list(aggregate(f for f in findings
                                                   if f.check_type not in disabled))
        actionable = False
        for inc in incidents:
            self.stats["incidents"] += 1
            m = self.engine.match(inc.data_map(), inc.severity, claim=False)
            if isinstance(m, Match | Deferred) or SEVERITY_RANK.get(inc.severity, 0) >= 2:
                actionable = True
        if incidents:
            self.bus.publish(IncidentsFound(incidents))
        return actionable

    # --- heal progress (healing.md §6.1) --------------------------------------------------------

    def on_heal_queued(self, event: HealQueued) -> None:
        self.scheduler.heal_queued(event.host)

    def on_heal_finished(self, event: HealFinished) -> None:
        if event.ran:
            self.scheduler.heal_finished(event.host)  # a runbook ran: early rescan
        else:
            self.scheduler.heal_settled(event.host)

    # --- rounds -----------------------------------------------------------------------------------

    def _netscan_settings(self) -> NetScanSettings:
        creds = self.site.credentials
        return settings_from(self.config, creds.windows_targets, labeller=_windows_label,
                             linux_targets=creds.linux_targets)

    async def netscan_tick(self) -> HostResult:
        """The network scan (§2.5, §6.1): findings go the way host findings go."""
        await self.ready()
        self.netscan.settings = self._netscan_settings()
        res = await self.netscan.scan()
        target = Target(Transport.LOCAL, res.host, None, res.platform, res.platform)
        self.bus.publish(HostScanned(target, res))
        self.publish_findings(res.findings)
        return res

    def settle_round(self) -> None:
        """After a scheduler round: its ``device_unreachable`` findings, or one ``subnet_dark``."""
        self.publish_findings([*self.health.finish_round(), *self.threats.take_pending()])

    async def archive_security_events(self) -> int:
        """After the round's Windows collection: drain the security-event archive (§7.7)."""
        if (self.uplink is None or not self.security_archive.pending()
                or self.uplink.breaker_state == "open"):
            return 0
        post = self.uplink.poster(routes.SECURITY_EVENTS)
        try:
            async with asyncio.timeout(ARCHIVE_DEADLINE_S):
                return await self.security_archive.drain(post)
        except TimeoutError:
            log.warning("threats.archive_timeout", "security-event archive stopped at its deadline")
            return 0

    async def scan_tick(self) -> None:
        await self.ready()
        d = self.site.directives
        self.ownership.update(d.assignment, d.assignment_received, d.mesh_peers)
        self.scheduler.set_targets(self.scan_targets())
        if self.site.take_immediate_scan():
            self.scheduler.force()
        await self.scheduler.run_round()
        self.settle_round()
        await self.archive_security_events()

    async def scan_now(self) -> None:
        """One forced round of every owned host (also usable without the supervisor)."""
        await self.ready()
        self.scheduler.set_targets(self.scan_targets())
        self.scheduler.force()
        await self.scheduler.run_round()
        self.settle_round()
        await self.archive_security_events()

    async def order_run_drift(self, params: dict[str, Any]) -> dict[str, Any]:
        """The ``run_drift`` order: a forced round now (as a job when installed)."""
        self.scheduler.set_targets(self.scan_targets())
        self.scheduler.force()
        if self.host is not None and self.host.run_job_now("scan") is not None:
            return {"status": "scan_triggered", "hosts": len(self.scheduler.hosts)}
        await self.scan_now()
        return {"status": "scan_completed", "hosts": len(self.scheduler.hosts)}

    # --- component hooks --------------------------------------------------------------------------

    def install(self, host: JobHost) -> None:
        self.host = host
        host.add_job(Job(name="scan", run=self.scan_tick, delay=lambda: SCAN_TICK_S,
                         deadline=float(self.config.scan_round_deadline_s) + 60.0,
                         first_delay=SCAN_TICK_S, from_completion=True,
                         enabled=lambda: self.config.enable_drift_detection))
        host.add_job(Job(name="netscan", run=self.netscan_tick,
                         delay=lambda: float(self.config.netscan_interval_s),
                         deadline=NETSCAN_DEADLINE_S, first_delay=2 * SCAN_TICK_S,
                         from_completion=True,
                         enabled=lambda: self.config.enable_drift_detection))

    def reload(self, config: Config) -> None:
        self.config = config

    def status(self) -> dict[str, Any]:
        return {**self.stats, "scheduler": self.scheduler.status(),
                "security_archive": self.security_archive.status()}
