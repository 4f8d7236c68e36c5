"""Durable outboxes: appending an incident report (file + directory fsync, per item) and
draining reports through the one ``Drainer`` to a sender that answers 200 at once (the agent's
own cost; ``bench/outbox_throughput.py`` drains to the local Central Command over HTTP).
The Go daemon has no durable outbox: no Go row."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import pytest

from agent.outbox import kinds
from agent.outbox.reports import ReportQueues
from bench.conftest import GoBaseline
from bench.outbox_throughput import incident

pytestmark = pytest.mark.benchmark(group="outboxes")
DRAIN_ITEMS = 50


def _queues(root: Path) -> ReportQueues:
    rq = ReportQueues(root)
    rq.reports.queue.policy = kinds.REPORT.__class__("report", max_files=10**9)
    return rq


def test_append_incident(benchmark: Any, go: GoBaseline, tmp_path: Path) -> None:
    rq = _queues(tmp_path)
    counter = itertools.count()
    def append() -> None:
        rq.enqueue_incident(incident(next(counter)))

    benchmark(append)
    go.attach(benchmark, None, unit="item (fsync)", fn=append)


def test_drain_reports(benchmark: Any, go: GoBaseline, tmp_path: Path) -> None:
    rounds = itertools.count()
    sent: list[int] = []

    async def post(path: str, body: bytes) -> tuple[int, bytes]:
        sent.append(len(body))
        return 200, b'{"status":"ok"}'

    def setup() -> tuple[tuple[ReportQueues], dict[str, Any]]:
        rq = _queues(tmp_path / str(next(rounds)))
        for i in range(DRAIN_ITEMS):
            rq.enqueue_incident(incident(i))
        return (rq,), {}

    def drain(rq: ReportQueues) -> int:
        return asyncio.run(rq.drain_reports(post, force=True))

    benchmark.pedantic(drain, setup=setup, rounds=5)
    assert len(sent) >= DRAIN_ITEMS
    go.attach(benchmark, None, per_call=DRAIN_ITEMS, unit="item")
