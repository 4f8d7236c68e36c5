"""The Drainer's hooks (what a kind may do differently without a loop of its own) and its
backoff: items, probe, poison, defer, Retry-After."""

from __future__ import annotations

import json
from pathlib import Path

from tests.fakeclock import FakeClock

from agent.backoff import Backoff
from agent.outbox import Drainer, DurableQueue, Outcome, Policy, Result
from agent.outbox.drain import DEFAULT_BACKOFF
from agent.outbox.queue import Item

T0 = 1_779_289_200.0


def queue(tmp_path: Path, *keys: str) -> DurableQueue:
    q = DurableQueue(tmp_path / "q", Policy("t", 100), clock=FakeClock(T0))
    for k in keys:
        q.put(k.encode(), key=k)
    return q


class Script:
    """``send``: answers by item key, in turn; records what was sent."""

    def __init__(self, **answers: list[Result]) -> None:
        self.answers = answers
        self.sent: list[str] = []

    async def __call__(self, item: Item) -> Result:
        self.sent.append(item.key)
        return self.answers[item.key].pop(0)


OK = Result(Outcome.DELIVERED, 200)


def reasons(q: DurableQueue) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted(q.dead_dir.glob("*.reason.json"))]


async def test_backoff_doubles_honours_retry_after_and_resets(tmp_path: Path) -> None:
    q = queue(tmp_path, "a")
    clock = q.clock
    assert isinstance(clock, FakeClock)
    d = Drainer(q, backoff=Backoff(30.0, 600.0))
    assert (d.backoff_min_s, d.backoff_max_s) == (30.0, 600.0)
    assert Drainer(q).backoff == DEFAULT_BACKOFF
    send = Script(a=[Result(Outcome.RETRY, 503)] * 3 + [Result(Outcome.RETRY, 429, retry_after=500),
                                                        OK])
    delays = []
    for _ in range(4):
        assert await d.drain(send) == 0
        delays.append(d.next_drain - clock())
        assert not d.due() and await d.drain(send) == 0  # backing off: nothing sent
        clock.t = d.next_drain
    assert delays == [30, 60, 120, 500] and d.failures == 4 and d.last_error == "http_429"
    assert await d.drain(send) == 1 and d.failures == 0 and d.next_drain == 0.0
    assert send.sent == ["a"] * 5


async def test_defer_backs_off_like_a_failed_send(tmp_path: Path) -> None:
    q = queue(tmp_path, "a")
    d = Drainer(q)
    assert d.defer("journal: gone") == 5.0 and d.defer("scrub") == 10.0
    assert d.failures == 2 and d.last_error == "scrub" and not d.due()
    assert await d.drain(Script(a=[OK]), force=True) == 1 and d.failures == 0


async def test_items_hook_and_settled_order(tmp_path: Path) -> None:
    q = queue(tmp_path, "b", "c")
    extra = q.dir.parent / "extra-a.json"
    extra.write_text("{}")
    first = Item(extra, 0, "a", 0.0, 2)
    settled: list[tuple[str, Outcome]] = []
    d = Drainer(q, items=lambda: ([first] if extra.exists() else []) + q.items(),
                on_settled=lambda it, res: settled.append((it.key, res.outcome)))
    send = Script(a=[OK], b=[Result(Outcome.REFUSED, 422, "no", reason="http_422", attempts=4)],
                  c=[OK])
    assert await d.drain(send) == 3
    assert send.sent == ["a", "b", "c"] and not extra.exists() and q.pending() == 0
    assert settled == [("a", Outcome.DELIVERED), ("b", Outcome.REFUSED), ("c", Outcome.DELIVERED)]
    [reason] = reasons(q)
    assert (reason["reason"], reason["http_status"], reason["attempts"]) == ("http_422", 422, 4)


async def test_probe_settles_without_sending(tmp_path: Path) -> None:
    q = queue(tmp_path, "a", "b")
    probed: list[str] = []

    async def probe(item: Item) -> Result | None:
        probed.append(item.key)
        return OK if item.key == "a" else None

    send = Script(b=[OK])
    assert await Drainer(q, probe=probe).drain(send) == 2
    assert probed == ["a", "b"] and send.sent == ["b"] and q.pending() == 0


async def test_poison_head_dead_lettered_when_the_next_goes(tmp_path: Path) -> None:
    q = queue(tmp_path, "head", "next", "last")
    failing = Result(Outcome.RETRY, 502)
    drains = {"n": 0}

    def poison(item: Item, res: Result) -> Result | None:
        if drains["n"] < 2:
            return None
        return Result(Outcome.REFUSED, res.status, reason="poison_5xx", attempts=drains["n"] + 1)

    d = Drainer(q, poison=poison)
    send = Script(head=[failing] * 3, next=[OK], last=[OK])
    for drains["n"] in range(2):
        d.next_drain = 0.0
        assert await d.drain(send) == 0  # stops at the head, nothing behind it tried
    assert send.sent == ["head", "head"] and d.failures == 2
    drains["n"], d.next_drain = 2, 0.0
    assert await d.drain(send) == 3  # the next one went: head dead-lettered, the rest drained
    assert send.sent == ["head", "head", "head", "next", "last"] and q.pending() == 0
    [reason] = reasons(q)
    assert (reason["reason"], reason["http_status"], reason["attempts"]) == ("poison_5xx", 502, 3)
    assert d.failures == 0


async def test_poison_not_applied_when_the_next_fails_too(tmp_path: Path) -> None:
    q = queue(tmp_path, "head", "next", "last")
    d = Drainer(q, poison=lambda item, res: Result(Outcome.REFUSED, reason="poison_5xx"))
    send = Script(head=[Result(Outcome.RETRY, 502)], next=[Result(Outcome.RETRY, None, "timeout")])
    assert await d.drain(send) == 0
    assert send.sent == ["head", "next"] and q.pending() == 3 and reasons(q) == []
    assert d.failures == 1 and d.last_error == "http_502"  # the head's failure backs off, once
