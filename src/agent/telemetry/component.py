"""Drains the report queues (:class:`~agent.outbox.reports.ReportQueues`) through the Uplink: after
each successful checkin; the report outbox also every 30 s while non-empty (runtime.md §4.2)."""

from __future__ import annotations

import asyncio
from typing import Any

from agent.events import CheckinSucceeded
from agent.jobs import BaseComponent, Job, JobHost
from agent.log import get_logger
from agent.outbox.reports import EXECUTIONS_PATH, ReportQueues
from agent.uplink import Route, Uplink, routes

DEADLINE_S = 60.0
_ROUTES: dict[str, Route] = {EXECUTIONS_PATH: routes.EXECUTIONS, routes.INCIDENTS.path: routes.INCIDENTS,
                             routes.RESOLVE.path: routes.RESOLVE}
log = get_logger("telemetry")


class ReportsComponent(BaseComponent):
    name = "reports"

    def __init__(self, queues: ReportQueues, *, uplink: Uplink) -> None:
        self.uplink = uplink
        self.queues = queues
        self.host: JobHost | None = None
        self._force = False

    async def _post(self, path: str, body: bytes) -> tuple[int, bytes]:
        reply = await self.uplink.send_encoded(_ROUTES[path], body, path=path)
        return reply.status, reply.body

    def after_checkin(self, event: CheckinSucceeded | None = None) -> None:
        self._force = True
        if self.host is not None:
            self.host.run_job_now(self.name)

    def install(self, host: JobHost) -> None:
        self.host = host
        host.add_job(Job(name=self.name, run=self.run_once, delay=lambda: 30.0,
                               deadline=2 * DEADLINE_S + 5, first_delay=30.0,
                               from_completion=True))

    async def run_once(self) -> None:
        force, self._force = self._force, False
        if self.uplink.breaker_state == "open":
            return
        q = self.queues
        for name, pending, drain in (
                ("reports", q.reports.queue.pending, q.drain_reports),
                ("telemetry", q.telemetry.queue.pending, q.drain_telemetry)):
            if not pending() or (name == "telemetry" and not force):
                continue  # telemetry drains after successful checkins only
            try:
                async with asyncio.timeout(DEADLINE_S):
                    await drain(self._post, force=force)
            except TimeoutError:
                log.warning("outbox.drain_timeout", f"{name} drain stopped at its deadline")

    def status(self) -> dict[str, Any]:
        return self.queues.status()
