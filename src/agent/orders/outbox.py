"""The completion outbox (orders.md §9): every completion is written durably, then posted.

``completion_outbox/`` in the state directory holds one JSON file per pending completion, named
``<unix-ns>-<key>.json`` (oldest first by name), written with :func:`atomic_write` (file and
directory fsynced) **before** any attempt to post. :meth:`Outbox.drain` posts them oldest first:

=====================================================  ==========================================
response                                               action
=====================================================  ==========================================
2xx (any status, incl. ``already_completed``), 400,    remove; the nonce record's completion is
403, 404, 422                                          acknowledged (``on_settled``)
401                                                    keep (retried after auth recovers)
5xx, other statuses, transport error, breaker open     keep; later drains retry with backoff
still not delivered after 7 days                       remove, ERROR ``completion_dropped``
=====================================================  ==========================================

Each body passes :func:`agent.phi.egress.egress`; if scrubbing fails the item stays queued (fail
closed). A drain stops at the first transient failure (the server is not answering) and sets an
exponential backoff (:attr:`Outbox.next_drain`); drains after a successful checkin ignore it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.log import get_logger
from agent.phi.egress import EgressError, egress
from agent.state.atomic import atomic_write, ensure_dir, fsync_dir

log = get_logger("orders")

DIR_NAME = "completion_outbox"
MAX_AGE_S = 7 * 86400
BACKOFF_MIN_S = 5.0
BACKOFF_MAX_S = 600.0
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


class Outbox:
    def __init__(self, state_dir: Path, *, clock: Callable[[], float] = time.time,
                 on_settled: Callable[[Item], None] | None = None) -> None:
        self.dir = ensure_dir(state_dir / DIR_NAME)
        self.clock = clock
        self.on_settled = on_settled
        self.posted = 0
        self.dropped = 0
        self.failures = 0  # consecutive transient failures (backoff)
        self.next_drain = 0.0
        self.last_error: str | None = None

    @staticmethod
    def key_for(order_id: str, nonce: str | None, reason: str = "") -> str:
        basis = nonce if nonce else f"{order_id}\x00{reason}"
        return hashlib.sha256(basis.encode("utf-8", "surrogatepass")).hexdigest()[:24]

    # --- queue -------------------------------------------------------------------------

    def items(self) -> list[Item]:
        out: list[Item] = []
        for p in sorted(self.dir.glob("*.json")):
            try:
                doc = json.loads(p.read_bytes())
                out.append(Item(p, doc["order_id"], doc.get("nonce"), doc["body"],
                                float(doc["created_at"]), p.stem.split("-", 1)[1]))
            except (OSError, ValueError, KeyError, TypeError, IndexError):
                log.error("orders.outbox_unreadable", "an outbox item is unreadable; moved aside",
                          file=p.name)
                with contextlib.suppress(OSError):
                    os.rename(p, p.with_suffix(".corrupt"))
        return out

    def pending(self) -> int:
        return sum(1 for _ in self.dir.glob("*.json"))

    def contains(self, key: str) -> bool:
        return any(self.dir.glob(f"*-{key}.json"))

    def put(self, order_id: str, body: dict[str, Any], *, nonce: str | None = None,
            reason: str = "") -> str:
        """Queue one completion durably (idempotent per nonce, or per order id + reason)."""
        key = self.key_for(order_id, nonce, reason)
        if self.contains(key):
            return key
        doc = {"order_id": order_id, "nonce": nonce, "body": body, "created_at": self.clock()}
        name = f"{time.time_ns():020d}-{key}.json"
        atomic_write(self.dir / name, json.dumps(doc).encode(), 0o600)
        return key

    def _remove(self, item: Item) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(item.path)
        fsync_dir(self.dir)

    # --- delivery ----------------------------------------------------------------------

    async def drain(self, post: Poster, *, only: str | None = None, force: bool = False) -> int:
        """Post pending completions oldest first; returns how many were settled.

        ``only`` limits the drain to one item key (the synchronous post of §5.4); ``force``
        ignores the backoff (after a successful checkin)."""
        if not force and self.clock() < self.next_drain:
            return 0
        settled = 0
        for item in self.items():
            if only is not None and item.key != only:
                continue
            if self.clock() - item.created_at > MAX_AGE_S:
                log.error("completion_dropped", "a completion could not be delivered for 7 days; "
                          "dropped", order_id=item.order_id)
                self._remove(item)
                self.dropped += 1
                self._settled(item)
                continue
            try:
                body = egress(item.body, kind="order_completion")
            except EgressError:
                self._transient("scrub")
                continue  # fail closed: never sent unscrubbed; kept
            try:
                status = await post(item.order_id, body)
            except Exception as exc:  # noqa: BLE001  # TransportError, OSError: kept
                self._transient(getattr(exc, "kind", type(exc).__name__))
                break
            if 200 <= status < 300 or status in DEFINITIVE:
                if status >= 400:
                    log.warning("orders.completion_refused", f"completion answered HTTP {status}; "
                                "not retried", order_id=item.order_id, status=status)
                self._remove(item)
                self.posted += 1
                settled += 1
                self._settled(item)
                continue
            self._transient(f"http_{status}")
            break
        else:
            self.failures = 0
            self.next_drain = 0.0
            self.last_error = None
        return settled

    def _settled(self, item: Item) -> None:
        if self.on_settled is not None:
            self.on_settled(item)

    def _transient(self, why: str) -> None:
        self.failures += 1
        self.last_error = why
        delay = min(BACKOFF_MAX_S, BACKOFF_MIN_S * 2 ** (self.failures - 1))
        self.next_drain = self.clock() + delay
        log.warning("orders.completion_deferred", "completion not delivered; kept in the outbox",
                    error_kind=why, retry_in_s=delay)
