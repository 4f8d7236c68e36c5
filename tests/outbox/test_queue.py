"""The shared durable queue and drainer: order, bounds and overflow policies, dead letters,
expiry, backoff, and a long outage followed by an in-order drain."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from tests.fakeclock import FakeClock

from agent.outbox import Drainer, DurableQueue, Outcome, Policy, QueueFull, Result, kinds
from agent.outbox.queue import Item
from agent.outbox.reports import ReportQueues
from agent.protocol.incidents import IncidentReport, IncidentResolve
from agent.protocol.telemetry import Execution, ExecutionReport

T0 = 1_779_289_200.0


def q(tmp_path: Path, **kw: object) -> DurableQueue:
    policy = Policy(**{"kind": "test", "max_files": 100, **kw})  # type: ignore[arg-type]
    return DurableQueue(tmp_path / "q", policy, clock=FakeClock(T0))


def test_creation_order_survives_a_clock_going_backwards(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    queue = DurableQueue(tmp_path / "q", Policy("t", 100), clock=clock)
    a = queue.put(b"1", key="a")
    clock.t -= 3600
    b = queue.put(b"2", key="b")
    reopened = DurableQueue(tmp_path / "q", Policy("t", 100), clock=clock)
    c = reopened.put(b"3", key="c")
    assert [i.key for i in reopened.items()] == ["a", "b", "c"]
    assert a.order < b.order < c.order
    assert oct(a.path.stat().st_mode & 0o777) == "0o600"
    assert oct(queue.dir.stat().st_mode & 0o777) == "0o700"


def test_overflow_policies(tmp_path: Path) -> None:
    dl = q(tmp_path / "1", max_files=3, overflow="dead_letter_oldest")
    for i in range(5):
        dl.put(str(i).encode(), key=f"k{i}")
    assert [i.key for i in dl.items()] == ["k2", "k3", "k4"]
    assert sorted(p.name.split("-", 1)[1] for p in dl.dead_letters()) == ["k0.json", "k1.json"]
    reason = json.loads(next(dl.dead_dir.glob("*k0.reason.json")).read_text())
    assert reason["reason"] == "overflow" and dl.counters.overflowed == 2

    drop = q(tmp_path / "2", max_files=2, overflow="drop_oldest")
    for i in range(4):
        drop.put(b"x", key=f"k{i}")
    assert [i.key for i in drop.items()] == ["k2", "k3"] and drop.counters.dropped == 2

    refuse = q(tmp_path / "3", max_files=1, overflow="refuse")
    refuse.put(b"x", key="a")
    with pytest.raises(QueueFull):
        refuse.put(b"y", key="b")
    assert [i.key for i in refuse.items()] == ["a"] and refuse.counters.refused == 1

    size = q(tmp_path / "4", max_bytes=10, overflow="drop_oldest")
    size.put(b"123456", key="a")
    size.put(b"123456", key="b")
    assert [i.key for i in size.items()] == ["b"]


def test_report_coalescing_keeps_resolve_after_its_incident(tmp_path: Path) -> None:
    rq = ReportQueues(tmp_path, clock=FakeClock(T0))
    rq.reports.queue.policy = Policy("report", max_files=4, overflow="drop_oldest")

    def inc(host: str) -> IncidentReport:
        return IncidentReport(site_id="s", host_id=host, incident_type="t", severity="low",
                              check_type="firewall_status")

    rq.enqueue_incident(inc("a"))  # followed by a resolve: must not be coalesced
    rq.enqueue_resolve(IncidentResolve(site_id="s", host_id="a", check_type="firewall_status",
                                       resolution_tier="L1", runbook_id="r"))
    rq.enqueue_incident(inc("b"))  # superseded by the next "b": coalesced first
    rq.enqueue_incident(inc("b"))
    rq.enqueue_incident(inc("a"))  # the queue is full: coalesce instead of dropping
    docs = [(i.key, i.json()["host_id"]) for i in rq.reports.queue.items()]
    assert docs == [("incident", "a"), ("resolve", "a"), ("incident", "b"), ("incident", "a")]
    assert rq.reports.queue.counters.coalesced == 1 and rq.reports.queue.counters.dropped == 1
    rq.enqueue_incident(inc("c"))  # nothing to coalesce any more: the oldest is dropped (logged)
    assert rq.reports.queue.counters.dropped == 2 and rq.reports.queue.pending() == 4


def test_expiry_and_drainer_outcomes(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    queue = DurableQueue(tmp_path / "q", Policy("t", 100, max_age_s=60), clock=clock)
    queue.put(b"old", key="old")
    clock.t += 120
    for k in ("ok", "bad", "later"):
        queue.put(k.encode(), key=k)
    answers = {"ok": Result(Outcome.DELIVERED, 200), "bad": Result(Outcome.REFUSED, 422, "no"),
               "later": Result(Outcome.RETRY, 503)}
    sent: list[str] = []

    async def send(item: Item) -> Result:
        sent.append(item.key)
        return answers[item.key]

    import asyncio

    d = Drainer(queue, clock=clock)
    assert asyncio.run(d.drain(send)) == 2
    assert sent == ["ok", "bad", "later"]  # the expired item was never sent
    assert [i.key for i in queue.items()] == ["later"]
    reasons = {json.loads(p.read_text())["reason"] for p in queue.dead_dir.glob("*.reason.json")}
    assert reasons == {"expired", "http_422"}
    assert asyncio.run(d.drain(send)) == 0 and sent.count("later") == 1  # backing off
    clock.t += d.backoff_min_s
    answers["later"] = Result(Outcome.DELIVERED, 200)
    assert asyncio.run(d.drain(send)) == 1 and queue.pending() == 0 and d.failures == 0


async def test_long_outage_then_everything_drains_in_order(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    rq = ReportQueues(tmp_path, clock=clock)
    server_up = False
    received: list[tuple[str, int]] = []

    async def post(path: str, body: bytes) -> tuple[int, bytes]:
        if not server_up:
            raise OSError("connection refused")
        doc = json.loads(body)
        n = doc["details"]["n"] if "details" in doc else doc["execution"]["input_tokens"]
        received.append((path, n))
        return 200, b"{}"

    for n in range(150):
        rq.enqueue_incident(IncidentReport(site_id="s", host_id="h", incident_type="t",
                                           severity="low", check_type=f"c{n}", details={"n": n}))
        rq.enqueue_execution(ExecutionReport(site_id="s", reported_at="2026-05-20T15:00:00Z",
                                             execution=Execution(
            execution_id="e", incident_id="i", runbook_id="r", hostname="h", incident_type="t",
            duration_seconds=1.0, success=True, status="success", confidence=1.0,
            resolution_level="L1", input_tokens=n)))
        if n % 10 == 0:  # drains keep failing for hours
            clock.t += 600
            assert await rq.drain_reports(post, force=True) == 0
            assert await rq.drain_telemetry(post, force=True) == 0
    assert rq.reports.failures > 0 and rq.telemetry.queue.pending() == 150
    server_up = True
    assert await rq.drain_reports(post, force=True) == 150
    assert await rq.drain_telemetry(post, force=True) == 150
    assert [n for p, n in received if p == "/incidents"] == list(range(150))
    assert [n for p, n in received if p == "/api/agent/executions"] == list(range(150))
    assert rq.reports.queue.pending() == 0 and rq.telemetry.queue.pending() == 0


def test_telemetry_keeps_the_go_file_format(tmp_path: Path) -> None:
    queue = kinds.telemetry_queue(tmp_path, clock=FakeClock(T0))
    item = queue.put(b"{}")
    assert item.path.parent.name == "telemetry_queue"
    assert item.path.name == "telem_1779289200000000000.json"


def test_listing_is_reused_only_while_nothing_changed(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import agent.outbox.queue as queue_mod

    calls: list[Path] = []
    real = queue_mod.list_items

    def counting(directory: Path, naming: object) -> list[Item]:
        calls.append(directory)
        return real(directory, naming)  # type: ignore[arg-type]

    monkeypatch.setattr(queue_mod, "list_items", counting)
    queue = q(tmp_path)
    a = queue.put(b"{}", key="a")
    assert [i.key for i in queue.items()] == ["a"]
    listed = len(calls)
    assert queue.status()["pending"] == 1 and [i.key for i in queue.items()] == ["a"]
    assert len(calls) == listed  # nothing changed: no new listing
    b = queue.put(b"{}", key="b")
    assert [i.key for i in queue.items()] == ["a", "b"]
    queue.delivered(a)
    assert [i.key for i in queue.items()] == ["b"]
    queue.dead_letter(b, reason="rejected")
    assert queue.items() == [] and queue.status()["dead_letter_pending"] == 1
    # A file another process put there: seen once the directory's modification time moved.
    other = queue.dir / queue.naming.make(queue.next_order(), "c")
    other.write_bytes(b"{}")
    st = queue.dir.stat()
    os.utime(queue.dir, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert [i.key for i in queue.items()] == ["c"]
    # The caller's list is its own.
    queue.items().clear()
    assert [i.key for i in queue.items()] == ["c"]
