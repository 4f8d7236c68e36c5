"""Draining a durable queue: oldest first, one request at a time, with backoff.

``send(item) -> Result`` does the kind-specific part (decode, scrub, post, classify the answer,
record what must be durable before the item leaves the queue); :class:`Drainer` does the rest, the
same way for every kind:

=============  ==========================================================================
outcome        action
=============  ==========================================================================
DELIVERED      remove the item, continue
REFUSED        permanent refusal: move to the dead-letter folder (reason, status, detail)
DROPPED        remove without delivering (ERROR log, counted) — kinds whose spec says so
KEEP           keep it and go on with the next item (only for kinds where order does not
               matter)
UNSENDABLE     scrubbing (or decoding) failed, so it was not sent: keep it, go on with the
               next item; after ``UNSENDABLE_TRIES`` it moves to the dead-letter folder. Also
               what an :class:`~agent.phi.egress.EgressError` raised by ``send`` means
RETRY          transient (5xx, transport, 429): keep it, stop, back off (the kind's
               :class:`~agent.backoff.Backoff`, by default doubling from 5 s up to 600 s;
               ``Retry-After`` honoured)
AUTH           401: keep it, stop (the checkin's auth flow runs; no backoff growth)
=============  ==========================================================================

A drain forced after a successful checkin ignores the backoff. ``on_settled`` is called for
every item that left the queue (delivered, refused or dropped). What a kind does differently is
said with hooks, never with a loop of its own:

* ``items``: what to drain, oldest first (default: the queue's items; evidence puts the Go
  daemon's legacy bundles first);
* ``probe``: before an item is sent again, ask the server whether an earlier, ambiguous attempt
  arrived; a :class:`Result` settles the item without sending it (evidence's delivery probe);
* ``poison``: after a RETRY, the dead-letter :class:`Result` for an item that keeps failing, or
  None. The item behind it is tried once; when that one is delivered, the failing item is
  dead-lettered and the drain goes on (evidence's ``poison_5xx``);
* :meth:`Drainer.defer`: a failure outside the drain (reading the journal) backs off the same way.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from agent.backoff import Backoff
from agent.log import get_logger
from agent.outbox.queue import DurableQueue, Item
from agent.phi.egress import EgressError

log = get_logger("outbox")

DEFAULT_BACKOFF = Backoff(5.0, 600.0)


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    REFUSED = "refused"
    DROPPED = "dropped"
    KEEP = "keep"
    UNSENDABLE = "unsendable"
    RETRY = "retry"
    AUTH = "auth"


#: The outcomes that stop a drain.
STOP = frozenset({Outcome.RETRY, Outcome.AUTH})


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    status: int | None = None
    detail: str = ""
    retry_after: float | None = None
    reason: str = ""
    #: Delivery attempts so far (recorded with a dead letter).
    attempts: int = 0


Sender = Callable[[Item], Awaitable[Result]]
Probe = Callable[[Item], Awaitable[Result | None]]


def json_sender(post: Callable[[str, bytes], Awaitable[tuple[int, bytes]]], path: str, *,
                permanent: frozenset[int] = frozenset({400, 403, 404, 413, 422})) -> Sender:
    """``send`` for a queue of JSON request bodies posted as they are to ``path``: an unreadable
    item is refused (dead letter), the answer classified by :func:`classify_status`."""

    async def send(item: Item) -> Result:
        try:
            body = item.read()
            json.loads(body)
        except (OSError, ValueError):
            return Result(Outcome.REFUSED, detail="unreadable", reason="unreadable")
        status, reply = await post(path, body)
        return classify_status(status, permanent=permanent,
                               detail=reply[:512].decode("utf-8", "replace"))

    return send


def classify_status(status: int, *, ok: frozenset[int] = frozenset({200, 201, 202, 204}),
                    permanent: frozenset[int] = frozenset({400, 403, 404, 413, 422}),
                    detail: str = "", retry_after: float | None = None) -> Result:
    """The common mapping of an HTTP status to an outcome (central-api.md §7.12)."""
    if status in ok or 200 <= status < 300:
        return Result(Outcome.DELIVERED, status)
    if status in permanent:
        return Result(Outcome.REFUSED, status, detail, reason=f"http_{status}")
    if status == 401:
        return Result(Outcome.AUTH, status, detail)
    return Result(Outcome.RETRY, status, detail, retry_after)


class Drainer:
    def __init__(self, queue: DurableQueue, *, backoff: Backoff = DEFAULT_BACKOFF,
                 clock: Callable[[], float] | None = None,
                 on_settled: Callable[[Item, Result], None] | None = None,
                 items: Callable[[], list[Item]] | None = None, probe: Probe | None = None,
                 poison: Callable[[Item, Result], Result | None] | None = None) -> None:
        self.queue = queue
        self.backoff = backoff
        self.clock = clock or queue.clock
        self.on_settled = on_settled
        self.items = items or queue.items
        self.probe = probe
        self.poison = poison
        self.failures = 0
        self.next_drain = 0.0
        self.last_error: str | None = None
        self.last_drain_at: float | None = None

    @property
    def kind(self) -> str:
        return self.queue.policy.kind

    @property
    def backoff_min_s(self) -> float:
        return self.backoff.min_s

    @property
    def backoff_max_s(self) -> float:
        return self.backoff.max_s

    def due(self) -> bool:
        return self.clock() >= self.next_drain

    async def drain(self, send: Sender, *, force: bool = False, only: str | None = None,
                    limit: int | None = None) -> int:
        """Send pending items oldest first; returns how many were settled. Stops at the first
        transient failure. ``only`` limits the drain to one item key."""
        if not force and not self.due():
            return 0
        self.last_drain_at = self.clock()
        self.queue.expire()
        settled = 0
        tried: set[str] = set()
        while True:
            batch = [it for it in self.items() if it.path.name not in tried
                     and (only is None or it.key == only)]
            if not batch:
                break
            for i, item in enumerate(batch):
                if item.path.name in tried:
                    continue  # tried already as the item behind a poisoned one
                if limit is not None and settled >= limit:
                    return settled
                tried.add(item.path.name)
                res = await self._attempt(send, item)
                dead = self._poisoned(item, res) if i + 1 < len(batch) else None
                if dead is not None:
                    nxt = batch[i + 1]
                    tried.add(nxt.path.name)
                    after = await self._attempt(send, nxt)
                    if after.outcome not in STOP:
                        settled += self._apply(nxt, after)
                    if after.outcome is Outcome.DELIVERED:
                        log.error("outbox.poison", f"{self.kind} item kept failing while the one "
                                  "behind it was delivered; moved to the dead-letter folder",
                                  kind=self.kind, key=item.key, reason=dead.reason)
                        self._settle(item, dead)
                        settled += 1
                        continue
                settled += self._apply(item, res)
                if res.outcome in STOP:
                    return settled
        self.failures = 0
        self.next_drain = 0.0
        self.last_error = None
        return settled

    async def _attempt(self, send: Sender, item: Item) -> Result:
        try:
            res = await self.probe(item) if self.probe is not None else None
            return res if res is not None else await send(item)
        except EgressError as exc:  # not scrubbable / decodable: never sent as it is
            return Result(Outcome.UNSENDABLE, detail=str(exc))
        except Exception as exc:  # noqa: BLE001 - a transport error of any type
            return Result(Outcome.RETRY, detail=getattr(exc, "kind", type(exc).__name__))

    def _poisoned(self, item: Item, res: Result) -> Result | None:
        if self.poison is None or res.outcome is not Outcome.RETRY:
            return None
        return self.poison(item, res)

    def _apply(self, item: Item, res: Result) -> int:
        """Act on one outcome; returns how many items it settled (0 or 1)."""
        if res.outcome is Outcome.UNSENDABLE:
            self.last_error = "unsendable"
            if not self.queue.unsendable(item, res.detail or "scrub"):
                return 0
            if self.on_settled is not None:
                self.on_settled(item, res)
            return 1
        if res.outcome is Outcome.KEEP:
            self.last_error = res.detail or "kept"
            return 0
        if res.outcome is Outcome.RETRY:
            self._transient(res)
            return 0
        if res.outcome is Outcome.AUTH:
            self.last_error = "auth"
            log.warning("outbox.auth", f"{self.kind} delivery answered 401; kept for "
                        "after auth recovery", kind=self.kind)
            return 0
        if res.outcome is Outcome.REFUSED:
            why = f"HTTP {res.status}" if res.status is not None else res.reason or "unusable"
            log.error("outbox.refused", f"{self.kind} item refused ({why}); kept in the "
                      "dead-letter folder", kind=self.kind, status=res.status, reason=res.reason)
        self._settle(item, res)
        return 1

    def _settle(self, item: Item, res: Result) -> None:
        """Take a delivered, refused or dropped item out of the queue."""
        if res.outcome is Outcome.DELIVERED:
            self.queue.delivered(item)
        elif res.outcome is Outcome.REFUSED:
            self.queue.dead_letter(item, reason=res.reason or f"http_{res.status}",
                                   http_status=res.status, detail=res.detail,
                                   attempts=res.attempts)
        else:
            self.queue.drop(item, res.reason or f"http_{res.status}")
        if self.on_settled is not None:
            self.on_settled(item, res)

    def _transient(self, res: Result) -> None:
        why = res.detail if res.status is None else f"http_{res.status}"
        self.defer(why or "transient", res.retry_after)

    def defer(self, why: str, retry_after: float | None = None) -> float:
        """A transient failure: back off before the next drain; returns the delay."""
        self.failures += 1
        self.last_error = why
        delay = self.backoff.delay(self.failures, retry_after)
        self.next_drain = self.clock() + delay
        log.warning("outbox.deferred", f"{self.kind} not delivered ({why}); kept in the queue",
                    kind=self.kind, error_kind=why, retry_in_s=delay)
        return delay

    def status(self) -> dict[str, object]:
        return {**self.queue.status(), "consecutive_failures": self.failures,
                "last_error": self.last_error,
                "next_drain_in_s": max(0, round(self.next_drain - self.clock(), 1))
                if self.next_drain else 0}


class DrainerMixin:
    """The drain figures of an object that drains through its ``drainer``."""

    drainer: Drainer

    @property
    def failures(self) -> int:
        return self.drainer.failures

    @property
    def next_drain(self) -> float:
        return self.drainer.next_drain

    @property
    def last_error(self) -> str | None:
        return self.drainer.last_error
