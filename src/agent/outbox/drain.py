"""Draining a durable queue: oldest first, one request at a time, with backoff.

``send(item) -> Result`` does the kind-specific part (decode, scrub, post, classify the answer);
:class:`Drainer` does the rest, the same way for every kind:

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
RETRY          transient (5xx, transport, 429): keep it, stop, back off (doubling from
               ``backoff_min_s`` up to ``backoff_max_s``; ``Retry-After`` honoured)
AUTH           401: keep it, stop (the checkin's auth flow runs; no backoff growth)
=============  ==========================================================================

A drain forced after a successful checkin ignores the backoff. ``on_settled`` is called for
every item that left the queue (delivered, refused or dropped).
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from agent.log import get_logger
from agent.outbox.queue import DurableQueue, Item
from agent.phi.egress import EgressError

log = get_logger("outbox")


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    REFUSED = "refused"
    DROPPED = "dropped"
    KEEP = "keep"
    UNSENDABLE = "unsendable"
    RETRY = "retry"
    AUTH = "auth"


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    status: int | None = None
    detail: str = ""
    retry_after: float | None = None
    reason: str = ""


Sender = Callable[[Item], Awaitable[Result]]


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
    def __init__(self, queue: DurableQueue, *, backoff_min_s: float = 5.0,
                 backoff_max_s: float = 600.0, clock: Callable[[], float] | None = None,
                 on_settled: Callable[[Item, Result], None] | None = None) -> None:
        self.queue = queue
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.clock = clock or queue.clock
        self.on_settled = on_settled
        self.failures = 0
        self.next_drain = 0.0
        self.last_error: str | None = None
        self.last_drain_at: float | None = None

    @property
    def kind(self) -> str:
        return self.queue.policy.kind

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
            batch = [it for it in self.queue.items() if it.path.name not in tried
                     and (only is None or it.key == only)]
            if not batch:
                break
            for item in batch:
                if limit is not None and settled >= limit:
                    return settled
                tried.add(item.path.name)
                try:
                    res = await send(item)
                except EgressError as exc:  # not scrubbable / decodable: never sent as it is
                    res = Result(Outcome.UNSENDABLE, detail=str(exc))
                except Exception as exc:  # noqa: BLE001 - a transport error of any type
                    res = Result(Outcome.RETRY, detail=getattr(exc, "kind", type(exc).__name__))
                if res.outcome is Outcome.UNSENDABLE:
                    self.last_error = "unsendable"
                    if self.queue.unsendable(item, res.detail or "scrub"):
                        settled += 1
                        if self.on_settled is not None:
                            self.on_settled(item, res)
                    continue
                if res.outcome is Outcome.KEEP:
                    self.last_error = res.detail or "kept"
                    continue
                if res.outcome is Outcome.RETRY:
                    self._transient(res)
                    return settled
                if res.outcome is Outcome.AUTH:
                    self.last_error = "auth"
                    log.warning("outbox.auth", f"{self.kind} delivery answered 401; kept for "
                                "after auth recovery", kind=self.kind)
                    return settled
                if res.outcome is Outcome.DELIVERED:
                    self.queue.delivered(item)
                elif res.outcome is Outcome.REFUSED:
                    log.error("outbox.refused", f"{self.kind} item refused by the server "
                              f"(HTTP {res.status}); kept in the dead-letter folder",
                              kind=self.kind, status=res.status)
                    self.queue.dead_letter(item, reason=res.reason or f"http_{res.status}",
                                           http_status=res.status, detail=res.detail)
                else:
                    self.queue.drop(item, res.reason or f"http_{res.status}")
                settled += 1
                if self.on_settled is not None:
                    self.on_settled(item, res)
        self.failures = 0
        self.next_drain = 0.0
        self.last_error = None
        return settled

    def _transient(self, res: Result) -> None:
        self.failures += 1
        why = res.detail if res.status is None else f"http_{res.status}"
        self.last_error = why or "transient"
        delay = min(self.backoff_max_s, self.backoff_min_s * 2 ** (self.failures - 1))
        if res.retry_after is not None:
            delay = max(delay, min(res.retry_after, self.backoff_max_s))
        self.next_drain = self.clock() + delay
        log.warning("outbox.deferred", f"{self.kind} item not delivered; kept in the queue",
                    kind=self.kind, error_kind=self.last_error, retry_in_s=delay)

    def status(self) -> dict[str, object]:
        return {**self.queue.status(), "consecutive_failures": self.failures,
                "last_error": self.last_error,
                "next_drain_in_s": max(0, round(self.next_drain - self.clock(), 1))
                if self.next_drain else 0}


