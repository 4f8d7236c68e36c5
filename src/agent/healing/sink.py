"""The pipeline's :class:`~agent.healing.pipeline.ReportSink` on the durable report queues."""

from __future__ import annotations

from typing import Any

import msgspec

from agent.healing.pipeline import ReportSink
from agent.log import get_logger
from agent.outbox.reports import ReportQueues
from agent.protocol.incidents import IncidentReport, IncidentResolve
from agent.protocol.telemetry import ExecutionReport

log = get_logger("healing")


class QueuesSink:
    """``incident``/``resolve`` → the report outbox (in order), ``execution`` → the telemetry queue.

    A payload the wire model refuses, or a queue that cannot write, is logged (never silently
    dropped) and counted."""

    def __init__(self, queues: ReportQueues) -> None:
        self.queues = queues
        self.errors = 0

    def put(self, kind: str, payload: dict[str, Any]) -> None:
        try:
            if kind == "incident":
                self.queues.enqueue_incident(msgspec.convert(payload, IncidentReport))
            elif kind == "resolve":
                self.queues.enqueue_resolve(msgspec.convert(payload, IncidentResolve))
            elif kind == "execution":
                self.queues.enqueue_execution(msgspec.convert(payload, ExecutionReport))
            else:
                raise ValueError(f"unknown report kind {kind!r}")
        except Exception as exc:  # noqa: BLE001 - QueueError, ValidationError, EgressError
            self.errors += 1
            log.error("healing.report_not_queued", "report could not be queued", kind=kind,
                      error=type(exc).__name__)


def queues_sink(queues: ReportQueues) -> ReportSink:
    return QueuesSink(queues)
