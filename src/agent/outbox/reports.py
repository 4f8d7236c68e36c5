"""Execution telemetry (``telemetry_queue/``) and incident reports (``report_outbox/``).

Both go through the egress scrubber **before** they are written (runtime.md §4.4: queued files hold
no PHI and no secrets) and are drained oldest first by the shared :class:`~agent.outbox.Drainer`:

* executions (central-api.md §7.10): 200/201 done; 403/422 refused → dead letter (ERROR);
  401 kept; 5xx/transport kept with backoff; at most 200 files, 24 h (Go format and bounds);
* incidents and resolves (§7.8): same outcomes, in creation order, so a resolve is never sent
  before its incident report; at most 5000 files / 7 days, superseded incident reports are
  coalesced before anything is dropped. ``on_incident`` receives each report's 200 answer (the
  incident journal binds healing orders through it).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec

from agent.log import get_logger
from agent.outbox import kinds
from agent.outbox.drain import Drainer, Outcome, Result, classify_status, json_sender
from agent.outbox.queue import Item
from agent.phi.egress import egress
from agent.protocol.incidents import INCIDENTS_PATH, RESOLVE_PATH, IncidentReport, IncidentResolve
from agent.protocol.telemetry import ExecutionReport

log = get_logger("telemetry")

EXECUTIONS_PATH = "/api/agent/executions"
REFUSED = frozenset({400, 403, 404, 422})

#: ``post(path, body) -> (status, response body)``; raises on transport errors.
Post = Callable[[str, bytes], Awaitable[tuple[int, bytes]]]


class ReportQueues:
    def __init__(self, state_dir: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.telemetry = Drainer(kinds.telemetry_queue(state_dir, clock=clock))
        self.reports = Drainer(kinds.report_queue(state_dir, clock=clock))
        self.on_incident: Callable[[dict[str, Any], dict[str, Any]], None] | None = None

    # --- enqueue (durable when these return; raise QueueError otherwise) ---------------------

    def enqueue_execution(self, report: ExecutionReport) -> Item:
        body = egress(msgspec.to_builtins(report), kind="execution")
        return self.telemetry.queue.put(kinds.dumps(body))

    def enqueue_incident(self, report: IncidentReport) -> Item:
        body = egress(msgspec.to_builtins(report), kind="incident")
        return self.reports.queue.put(kinds.dumps(body), key="incident")

    def enqueue_resolve(self, resolve: IncidentResolve) -> Item:
        body = egress(msgspec.to_builtins(resolve), kind="resolve")
        return self.reports.queue.put(kinds.dumps(body), key="resolve")

    # --- drains ----------------------------------------------------------------------

    async def drain_telemetry(self, post: Post, *, force: bool = False) -> int:
        return await self.telemetry.drain(json_sender(post, EXECUTIONS_PATH, permanent=REFUSED),
                                          force=force)

    async def drain_reports(self, post: Post, *, force: bool = False) -> int:
        async def send(item: Item) -> Result:
            try:
                body = item.read()
                doc = json.loads(body)
            except (OSError, ValueError):
                return Result(Outcome.REFUSED, detail="unreadable", reason="unreadable")
            path = RESOLVE_PATH if item.key == "resolve" else INCIDENTS_PATH
            status, reply = await post(path, body)
            res = classify_status(status, permanent=REFUSED,
                                  detail=reply[:512].decode("utf-8", "replace"))
            if res.outcome is Outcome.DELIVERED and item.key == "incident" \
                    and self.on_incident is not None:
                try:
                    answer = json.loads(reply)
                except ValueError:
                    answer = {}
                self.on_incident(doc, answer if isinstance(answer, dict) else {})
            return res

        return await self.reports.drain(send, force=force)

    def status(self) -> dict[str, Any]:
        return {"telemetry": self.telemetry.status(), "reports": self.reports.status()}
