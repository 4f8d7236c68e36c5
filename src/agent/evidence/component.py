"""The evidence component: the store, the spool drain job and the scanner's entry point.

The scanner calls :meth:`EvidenceComponent.record_scan` with a :class:`ScanResult`; chained bundles
are created durably and, with an empty backlog, submitted at once; network bundles are sent once.
The spool drains after every successful checkin (and on a 5-minute fallback tick), bounded by
120 s (runtime.md §4.2), only while the Central Command breaker lets requests through.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.config import Config
from agent.crypto.keys import Ed25519Key
from agent.events import CheckinSucceeded
from agent.evidence.bundle import Bundle, ScanResult, scan_result_from_host
from agent.evidence.store import EvidenceStore, Limits
from agent.evidence.submit import EvidenceSubmitter
from agent.evidence.witness import WitnessQueue
from agent.jobs import BaseComponent, Job, JobHost
from agent.log import get_logger
from agent.scan.events import HostScanned
from agent.site import DirectivesView
from agent.uplink import Uplink, routes

if TYPE_CHECKING:
    from agent.exec import Target
    from agent.scan.model import HostResult

log = get_logger("evidence")

DRAIN_DEADLINE_S = 120.0
CLOSE_WAIT_S = 5.0
FALLBACK_S = 300.0


class EvidenceComponent(BaseComponent):
    name = "evidence"

    def __init__(self, config: Config, key: Ed25519Key, *, uplink: Uplink,
                 directives: DirectivesView, witness: WitnessQueue | None = None,
                 clock: Callable[[], float] = time.time, limits: Limits | None = None,
                 free_bytes: Callable[[], int] | None = None) -> None:
        self.config = config
        self.uplink = uplink
        self.directives = directives
        self.witness = witness
        self.store = EvidenceStore(Path(config.state_dir), key, config.site_id,
                                   limits=limits or Limits.from_config(config),
                                   clock=clock, free_bytes=free_bytes)
        self.submitter = EvidenceSubmitter(
            self.store, self._request, max_age_s=float(config.evidence_max_age_seconds))
        self.host: JobHost | None = None
        self._force = False
        #: Hand-offs and network-bundle sends in flight: owned here, awaited or cancelled at close.
        self._tasks: set[asyncio.Task[Any]] = set()

    def health_figures(self) -> dict[str, Any]:
        """``daemon_health`` figures of the spool (central-api.md §6.3)."""
        return self.store.health()

    async def _request(self, method: str, path: str, body: bytes | None,
                       probe: bool) -> tuple[int, bytes, float | None]:
        if probe or body is None:
            reply = await self.uplink.send(routes.EVIDENCE_VERIFY, None, path=path)
        else:
            reply = await self.uplink.send_encoded(routes.EVIDENCE_SUBMIT, body, path=path,
                                                   kind="evidence")
        return reply.status, reply.body, reply.retry_after()

    # --- the scanner's entry point ------------------------------------------------------

    def record_scan(self, scan: ScanResult) -> list[Bundle]:
        """Create the scan's evidence (durable when this returns) and schedule delivery."""
        backlog = self.store.pending()
        bundles = self.store.record_scan(scan)
        self._deliver(bundles, backlog)
        return bundles

    async def record_scan_async(self, scan: ScanResult) -> list[Bundle]:
        """:meth:`record_scan` with the durable writes (fsync) in a worker thread."""
        backlog = self.store.pending()
        bundles = await asyncio.get_running_loop().run_in_executor(None, self.store.record_scan, scan)
        self._deliver(bundles, backlog)
        return bundles

    def on_host_scanned(self, event: HostScanned) -> None:
        """The scan hand-off (healing.md §6.6): every complete or partial host result becomes
        evidence (zero findings and ``unknown`` checks included, disabled checks left out); the
        writes run off the event loop."""
        self.on_host_result(event.target, event.result)

    def on_host_result(self, target: Target, res: HostResult) -> None:
        scan = scan_result_from_host(res, self.directives.directives.disabled_checks)
        if scan is not None:
            self._spawn(self._handoff(scan))

    async def _handoff(self, scan: ScanResult) -> None:
        try:
            await self.record_scan_async(scan)
        except Exception as exc:  # noqa: BLE001  # the scan loop never sees evidence trouble
            log.error("evidence.handoff_failed", "scan result not recorded as evidence",
                      scan_type=scan.scan_type, error=type(exc).__name__)

    async def settle(self) -> None:
        """Wait for hand-offs and sends started so far (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _deliver(self, bundles: list[Bundle], backlog: int) -> None:
        if not self.config.enable_evidence_upload:
            return
        for b in bundles:
            if not b.chained:
                self._spawn(self.submitter.send_network(b))
        if bundles and bundles[0].chained and backlog == 0:
            self.trigger(force=True)  # §3 step 7: submit at once

    def _spawn(self, coro: Any) -> None:
        try:
            task = asyncio.get_running_loop().create_task(coro)
        except RuntimeError:
            coro.close()
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- jobs -------------------------------------------------------------------------

    def after_checkin(self, event: CheckinSucceeded | None = None) -> None:
        self.trigger(force=True)

    def trigger(self, *, force: bool = False) -> None:
        self._force = self._force or force
        if self.host is not None:
            self.host.run_job_now(self.name)

    def install(self, host: JobHost) -> None:
        self.host = host
        host.add_job(Job(name=self.name, run=self.run_once, delay=lambda: FALLBACK_S,
                               deadline=DRAIN_DEADLINE_S, first_delay=FALLBACK_S,
                               from_completion=True))

    async def run_once(self) -> int:
        force, self._force = self._force, False
        if not self.config.enable_evidence_upload or not self.store.pending():
            return 0
        if self.uplink.breaker_state == "open":
            return 0
        return await self.submitter.drain(force=force)

    def status(self) -> dict[str, Any]:
        store = self.store.status()
        spool = store.get("spool") or {}
        return {**store, **self.submitter.status(),
                "witness_queued": len(self.witness.queue) if self.witness is not None else 0,
                # `status` is degraded while the oldest unsent bundle is older than the bound
                "oldest_undelivered_s": spool.get("oldest_age_s"),
                "undelivered_alert_s": self.config.evidence_undelivered_alert_s
                if self.config.enable_evidence_upload else 0}

    def reload(self, config: Config) -> None:
        self.config = config

    async def close(self) -> None:
        """Let hand-offs in flight finish (bounded), then cancel what is left."""
        if self._tasks:
            _, pending = await asyncio.wait(list(self._tasks), timeout=CLOSE_WAIT_S)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def summary(self) -> str:
        pending = self.store.pending()
        return f"evidence seq {self.store.head_seq}" + (f", {pending} unsent" if pending else "")
