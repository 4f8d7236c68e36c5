"""The completion outbox (orders.md §9) on the agent's one durable queue (:mod:`agent.outbox`).

``completion_outbox/`` in the state directory holds one JSON file per pending completion, named
``<unix-ns>-<key>.json`` (oldest first by name), written durably (file and directory fsynced)
**before** any attempt to post. :meth:`Outbox.drain` posts them oldest first:

=====================================================  ==========================================
response                                               action
=====================================================  ==========================================
2xx (any status, incl. ``already_completed``)          remove; the nonce record's completion is
                                                       acknowledged (``on_settled``)
400, 403, 404, 422                                     refused for good: moved to
                                                       ``completion_outbox_dead_letter/`` (audit);
                                                       acknowledged (``on_settled``)
401                                                    keep (retried after auth recovers)
5xx, other statuses, transport error, breaker open     keep; later drains retry with backoff
still not delivered after 7 days                       dead-lettered, ERROR ``completion_dropped``
=====================================================  ==========================================

Each body passes :func:`agent.phi.egress.egress`; if scrubbing fails the item stays queued (fail
closed). A drain stops at the first transient failure (the server is not answering) and sets an
exponential backoff (:attr:`Outbox.next_drain`); drains after a successful checkin ignore it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.log import get_logger
from agent.outbox import kinds
from agent.outbox.drain import Drainer, DrainerMixin, Outcome, Result, classify_status
from agent.outbox.queue import Item as QueueItem
from agent.phi.egress import EgressError, egress
from agent.state.reserve import DiskReserve

log = get_logger("orders")

DIR_NAME = kinds.COMPLETION_DIR
MAX_AGE_S = kinds.COMPLETION.max_age_s or 7 * 86400
DEFINITIVE = frozenset({400, 403, 404, 422})

#: ``post(order_id, body) -> HTTP status``; raises ``TransportError`` (or OSError) when no
#: response came back.
Poster = Callable[[str, dict[str, Any]], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class Item:
    path: Path
    order_id: str
    nonce: str | None
    body: dict[str, Any]
    created_at: float
    key: str


def _parse(qi: QueueItem) -> Item:
    doc = qi.json()
    return Item(qi.path, doc["order_id"], doc.get("nonce"), doc["body"], float(doc["created_at"]),
                qi.key)


class Outbox(DrainerMixin):
    def __init__(self, state_dir: Path, *, clock: Callable[[], float] = time.time,
                 on_settled: Callable[[Item], None] | None = None,
                 reserve: DiskReserve | None = None) -> None:
        self.queue = kinds.completion_queue(state_dir, clock=clock)
        self.reserve = reserve
        self.drainer = Drainer(self.queue, clock=clock)
        self.dir = self.queue.dir
        self.clock = clock
        self.on_settled = on_settled
        self.posted = 0
        self.dropped = 0

    @staticmethod
    def key_for(order_id: str, nonce: str | None, reason: str = "") -> str:
        basis = nonce if nonce else f"{order_id}\x00{reason}"
        return hashlib.sha256(basis.encode("utf-8", "surrogatepass")).hexdigest()[:24]

    # --- queue -------------------------------------------------------------------------

    def items(self) -> list[Item]:
        out: list[Item] = []
        for qi in self.queue.items():
            try:
                out.append(_parse(qi))
            except (OSError, ValueError, KeyError, TypeError):
                log.error("orders.outbox_unreadable", "an outbox item is unreadable; moved to the "
                          "dead-letter folder", file=qi.path.name)
                self.queue.dead_letter(qi, reason="unreadable")
        return out

    def pending(self) -> int:
        return self.queue.pending()

    def contains(self, key: str) -> bool:
        return self.queue.find(key) is not None

    def put(self, order_id: str, body: dict[str, Any], *, nonce: str | None = None,
            reason: str = "") -> str:
        """Queue one completion durably (idempotent per nonce, or per order id + reason)."""
        key = self.key_for(order_id, nonce, reason)
        if self.contains(key):
            return key
        doc = {"order_id": order_id, "nonce": nonce, "body": body, "created_at": self.clock()}
        data = json.dumps(doc).encode()
        if self.reserve is not None:  # a completion is a promise: the disk reserve backs it
            self.reserve.guard(lambda: self.queue.put(data, key=key), "an order completion")
        else:
            self.queue.put(data, key=key)
        return key

    # --- delivery ----------------------------------------------------------------------

    async def drain(self, post: Poster, *, only: str | None = None, force: bool = False) -> int:
        """Post pending completions oldest first; returns how many were settled.

        ``only`` limits the drain to one item key (the synchronous post of §5.4); ``force``
        ignores the backoff (after a successful checkin)."""
        if not force and not self.drainer.due():
            return 0
        expired = self._expire(only)
        parsed: dict[str, Item] = {}

        async def send(qi: QueueItem) -> Result:
            try:
                item = _parse(qi)
            except (OSError, ValueError, KeyError, TypeError):
                return Result(Outcome.REFUSED, detail="unreadable outbox item", reason="unreadable")
            parsed[qi.path.name] = item
            try:
                body = egress(item.body, kind="order_completion")
            except EgressError:
                return Result(Outcome.UNSENDABLE, detail="scrub")  # fail closed: kept, never unscrubbed
            status = await post(item.order_id, body)
            res = classify_status(status, permanent=DEFINITIVE)
            if res.outcome is Outcome.REFUSED:
                log.warning("orders.completion_refused", f"completion answered HTTP {status}; "
                            "not retried", order_id=item.order_id, status=status)
            if res.outcome is Outcome.RETRY:
                log.warning("orders.completion_deferred", "completion not delivered; kept in the "
                            "outbox", error_kind=f"http_{status}")
            return res

        def settled(qi: QueueItem, res: Result) -> None:
            item = parsed.get(qi.path.name)
            self.posted += 1
            if item is not None:
                self._settled(item)

        self.drainer.on_settled = settled
        return expired + await self.drainer.drain(send, force=True, only=only)

    def _expire(self, only: str | None) -> int:
        n = 0
        for item in self.items():
            if only is not None and item.key != only:
                continue
            if self.clock() - item.created_at <= MAX_AGE_S:
                continue
            log.error("completion_dropped", "a completion could not be delivered for 7 days; "
                      "moved to the dead-letter folder", order_id=item.order_id)
            qi = self.queue.find(item.key)
            if qi is not None:
                self.queue.dead_letter(qi, reason="expired", detail="undelivered for 7 days")
            self.dropped += 1
            self._settled(item)
            n += 1
        return n

    def _settled(self, item: Item) -> None:
        if self.on_settled is not None:
            self.on_settled(item)
