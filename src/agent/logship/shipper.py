"""The log shipper (runtime.md §7.3): journald → batch → scrub → durable batch → the Uplink
(scrub again, gzip, POST).

Cursor semantics (at-least-once, no gaps): ``logshipper-cursor`` holds the cursor of the last
batch **the server accepted** (saved atomically after the 200). A batch read from the journal is
scrubbed and written to the log outbox (``log_outbox/``, the shared durable queue) together with
the cursor of its last entry; the next read starts after the newest queued batch. After a crash
the queued batches are sent first; between a 200 and the removal of the batch the same batch may
be sent twice, never skipped. The outbox holds at most a few batches: while Central Command does
not accept them the shipper stops reading (journald keeps the lines), so an outage moves no
cursor and loses nothing the journal still has.

A tick ships up to 10 batches when they are full (bursts catch up); after a failure it backs off
(doubling from 30 s up to 10 minutes). 400 (``Invalid gzip payload`` / ``Invalid JSON``) is an
agent bug: the batch goes to the dead-letter folder (ERROR) and the cursor moves past it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec

from agent.log import get_logger
from agent.logship.batch import build
from agent.logship.source import Source
from agent.outbox import kinds
from agent.outbox.drain import Outcome, Result, classify_status
from agent.outbox.queue import DurableQueue, Item, QueueError
from agent.phi import default_scrubber
from agent.phi.egress import EgressError
from agent.phi.scrubber import Scrubber
from agent.protocol.logs import MAX_BATCH, LogIngest
from agent.state.atomic import atomic_write

log = get_logger("logship")

CURSOR_FILE = "logshipper-cursor"
INGEST_PATH = "/api/logs/ingest"
MAX_BATCHES_PER_TICK = 10
BACKOFF_MIN_S = 30.0
BACKOFF_MAX_S = 600.0

#: ``post(path, JSON body) -> (status, response body)``; the sender (the Uplink) scrubs, gzips and
#: sends it; raises on transport errors, :class:`~agent.phi.egress.EgressError` when not sendable.
Post = Callable[[str, bytes], Awaitable[tuple[int, bytes]]]


class LogShipper:
    def __init__(self, state_dir: Path, source: Source, *, site_id: str,
                 hostname: Callable[[], str], clock: Callable[[], float] = time.time,
                 scrubber: Callable[[], Scrubber] = default_scrubber,
                 batch_size: int = MAX_BATCH, queue: DurableQueue | None = None) -> None:
        self.cursor_path = state_dir / CURSOR_FILE
        self.source = source
        self.site_id = site_id
        self.hostname = hostname
        self.clock = clock
        self.scrubber = scrubber
        self.batch_size = batch_size
        self.queue = queue or kinds.log_queue(state_dir, clock=clock)
        self.failures = 0
        self.next_try = 0.0
        self.last_error: str | None = None
        self.shipped_lines = 0
        self.shipped_batches = 0
        self.skipped = 0
        self.scrub_seconds = 0.0

    # --- cursor ------------------------------------------------------------------------

    def saved_cursor(self) -> str | None:
        try:
            text = self.cursor_path.read_text().strip()
        except (OSError, UnicodeDecodeError):
            return None
        return text or None

    def _save_cursor(self, cursor: str) -> None:
        atomic_write(self.cursor_path, cursor.encode() + b"\n", 0o600)

    def read_position(self) -> str | None:
        """Where the next journal read starts: after the newest queued batch, else the cursor."""
        items = self.queue.items()
        if items:
            try:
                cur = items[-1].json().get("cursor")
                if isinstance(cur, str):
                    return cur
            except (OSError, ValueError):
                pass
        return self.saved_cursor()

    # --- one tick ------------------------------------------------------------------------

    async def tick(self, post: Post, *, force: bool = False) -> int:
        """Ship what the journal has (up to 10 batches); returns lines accepted."""
        if not force and self.clock() < self.next_try:
            return 0
        shipped = 0
        for _ in range(MAX_BATCHES_PER_TICK):
            ok, n = await self._send_queued(post)
            shipped += n
            if not ok:
                return shipped
            try:
                read = await self.source.read(self.read_position(), self.batch_size)
            except OSError as exc:
                self._failed(f"journal: {exc}")
                return shipped
            if not read.entries:
                break
            try:
                t0 = time.perf_counter()
                built = build(read.entries, site_id=self.site_id, hostname=self.hostname(),
                              scrubber=self.scrubber())
                self.scrub_seconds += time.perf_counter() - t0
            except Exception:  # noqa: BLE001 - fail closed: nothing unscrubbed leaves
                log.error("logship.scrub_failed", "log batch could not be scrubbed; not sent")
                self._failed("scrub")
                return shipped
            self.skipped += built.skipped
            if not built.ingest.batch:
                if read.cursor and not self.queue.pending():
                    self._save_cursor(read.cursor)
                continue
            doc = {"cursor": read.cursor, "lines": len(built.ingest.batch),
                   "full": len(read.entries) >= self.batch_size,
                   "body": msgspec.to_builtins(built.ingest)}
            try:
                self.queue.put(kinds.dumps(doc), key="batch")
            except QueueError as exc:
                self._failed(str(exc))
                return shipped
            ok, n = await self._send_queued(post)
            shipped += n
            if not ok or len(read.entries) < self.batch_size:
                break
        self.failures = 0
        self.next_try = 0.0
        self.last_error = None
        return shipped

    async def _send_queued(self, post: Post) -> tuple[bool, int]:
        lines = 0
        for item in self.queue.items():
            res, doc = await self._send(item, post)
            if res.outcome is Outcome.DELIVERED:
                if isinstance(doc.get("cursor"), str):
                    self._save_cursor(doc["cursor"])  # only after the server accepted it
                self.queue.delivered(item)
                n = int(doc.get("lines", 0))
                lines += n
                self.shipped_lines += n
                self.shipped_batches += 1
            elif res.outcome is Outcome.UNSENDABLE:
                if self.queue.unsendable(item, res.detail) and isinstance(doc.get("cursor"), str):
                    self._save_cursor(doc["cursor"])  # dead-lettered: the journal moves on
                continue  # the batches behind it still go
            elif res.outcome is Outcome.REFUSED:
                log.error("logship.batch_refused", f"log batch refused (HTTP {res.status}): "
                          f"{res.detail[:100]}; kept in the dead-letter folder")
                self.queue.dead_letter(item, reason=res.reason, http_status=res.status,
                                       detail=res.detail)
                if isinstance(doc.get("cursor"), str):
                    self._save_cursor(doc["cursor"])
            else:
                self._failed(res.detail or f"http_{res.status}", res.retry_after)
                return False, lines
        return True, lines

    async def _send(self, item: Item, post: Post) -> tuple[Result, dict[str, Any]]:
        try:
            doc = item.json()
            body = json.dumps(doc["body"], separators=(",", ":"), ensure_ascii=False).encode()
            msgspec.convert(doc["body"], LogIngest)
        except (OSError, ValueError, KeyError, TypeError, msgspec.ValidationError):
            return Result(Outcome.REFUSED, detail="unreadable queued batch",
                          reason="unreadable"), {}
        try:
            status, reply = await post(INGEST_PATH, body)
        except EgressError as exc:  # not scrubbable: never sent as it is
            return Result(Outcome.UNSENDABLE, detail=str(exc)), doc
        except Exception as exc:  # noqa: BLE001 - transport errors of any type
            return Result(Outcome.RETRY, detail=str(getattr(exc, "kind", type(exc).__name__))), doc
        res = classify_status(status, ok=frozenset({200}), permanent=frozenset({400}),
                              detail=reply[:512].decode("utf-8", "replace"))
        if res.outcome is Outcome.DELIVERED and status != 200:
            res = Result(Outcome.RETRY, status)
        if res.outcome is Outcome.AUTH:
            res = Result(Outcome.RETRY, status, res.detail)
        return res, doc

    def _failed(self, why: str, retry_after: float | None = None) -> None:
        self.failures += 1
        self.last_error = why
        delay = min(BACKOFF_MAX_S, BACKOFF_MIN_S * 2 ** (self.failures - 1))
        if retry_after:
            delay = max(delay, min(retry_after, BACKOFF_MAX_S))
        self.next_try = self.clock() + delay
        log.warning("logship.deferred", "log batch not shipped; the cursor stays", error_kind=why,
                    retry_in_s=delay)

    def status(self) -> dict[str, Any]:
        return {"shipped_lines": self.shipped_lines, "shipped_batches": self.shipped_batches,
                "skipped_entries": self.skipped, "queued_batches": self.queue.pending(),
                "consecutive_failures": self.failures, "last_error": self.last_error,
                "has_cursor": self.saved_cursor() is not None}
