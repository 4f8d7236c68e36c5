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

A tick ships up to 10 batches when they are full (bursts catch up); the queued batches go through
the shared :class:`~agent.outbox.drain.Drainer`. After a failure it backs off (doubling from 30 s up
to 10 minutes). 400 (``Invalid gzip payload`` / ``Invalid JSON``) is an agent bug: the batch goes
to the dead-letter folder (ERROR) and the cursor moves past it (``on_settled``).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec

from agent.backoff import Backoff
from agent.log import get_logger
from agent.logship.batch import build
from agent.logship.source import CursorRejected, Source, valid_cursor
from agent.outbox import kinds
from agent.outbox.drain import Drainer, DrainerMixin, Outcome, Result, classify_status
from agent.outbox.queue import DurableQueue, Item, QueueError
from agent.phi import default_scrubber
from agent.phi.scrubber import Scrubber
from agent.protocol.logs import MAX_BATCH, LogIngest
from agent.state.atomic import atomic_write, quarantine
from agent.timefmt import format_rfc3339

log = get_logger("logship")

CURSOR_FILE = "logshipper-cursor"
CURSOR_SLACK_S = 60.0  # a discarded cursor: resume this long before it was saved
CURSOR_FALLBACK_S = 3600.0  # ... or this long ago when even its save time is unknown
INGEST_PATH = "/api/logs/ingest"
MAX_BATCHES_PER_TICK = 10
BACKOFF = Backoff(30.0, 600.0)

#: ``post(path, JSON body) -> (status, response body)``; the sender (the Uplink) scrubs, gzips and
#: sends it; raises on transport errors, :class:`~agent.phi.egress.EgressError` when not sendable.
Post = Callable[[str, bytes], Awaitable[tuple[int, bytes]]]


class LogShipper(DrainerMixin):
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
        self.drainer = Drainer(self.queue, backoff=BACKOFF, clock=clock, on_settled=self._settled)
        self._cursors: dict[str, object] = {}  # queued file name -> its batch's cursor, while sent
        self._resume_since: float | None = None  # after a discarded cursor: read from this time
        self.cursors_discarded = 0
        self.shipped_lines = 0
        self.shipped_batches = 0
        self.skipped = 0
        self.scrub_seconds = 0.0

    @property
    def next_try(self) -> float:
        return self.drainer.next_drain

    @next_try.setter
    def next_try(self, at: float) -> None:
        self.drainer.next_drain = at

    # --- cursor ------------------------------------------------------------------------

    def saved_cursor(self) -> str | None:
        """The saved cursor; a damaged one is discarded (quarantined, WARNING) and the next read
        starts from the safe point instead (:meth:`_discard_cursor`)."""
        try:
            raw = self.cursor_path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            self._discard_cursor(f"unreadable: {exc.strerror}")
            return None
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            text = None
        if text is None or (text and not valid_cursor(text)):
            self._discard_cursor("not a journal cursor")
            return None
        return text or None

    def _discard_cursor(self, why: str) -> None:
        """Resume at-least-once from when the cursor was last saved (the server had accepted
        everything before it), minus a minute; nothing after it is skipped."""
        try:
            saved_at = self.cursor_path.stat().st_mtime
        except OSError:
            saved_at = self.clock() - CURSOR_FALLBACK_S
        self._resume_since = saved_at - CURSOR_SLACK_S
        self.cursors_discarded += 1
        with contextlib.suppress(OSError):
            quarantine(self.cursor_path)
        log.warning("logship.cursor_discarded", f"log shipping cursor discarded ({why}); resuming "
                    "from when it was saved (lines may be sent twice, none skipped)",
                    resume_since=format_rfc3339(self._resume_since))

    def _save_cursor(self, cursor: str) -> None:
        atomic_write(self.cursor_path, cursor.encode() + b"\n", 0o600)

    def read_position(self) -> str | None:
        """Where the next journal read starts: after the newest queued batch, else the cursor;
        None (read by time) right after a cursor was discarded."""
        if self._resume_since is not None:
            return None
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
        if not force and not self.drainer.due():
            return 0
        before = self.shipped_lines
        await self._ship(post)
        return self.shipped_lines - before

    async def _ship(self, post: Post) -> None:
        """Queued batches first, then new ones from the journal; stops at the first failure (it
        backs off)."""
        for _ in range(MAX_BATCHES_PER_TICK):
            if not await self._drain(post):
                return
            position = self.read_position()
            try:
                read = await self.source.read(position, self.batch_size,
                                              None if position else self._resume_since)
            except CursorRejected as exc:
                self._discard_cursor(f"rejected by the journal: {exc}")
                continue
            except OSError as exc:
                self.drainer.defer(f"journal: {exc}")
                return
            self._resume_since = None  # the read's own cursor (or the queue's) positions the next
            if not read.entries:
                break
            try:
                t0 = time.perf_counter()
                built = build(read.entries, site_id=self.site_id, hostname=self.hostname(),
                              scrubber=self.scrubber())
                self.scrub_seconds += time.perf_counter() - t0
            except Exception as exc:  # noqa: BLE001 - fail closed: nothing unscrubbed leaves
                # The exception's type only: its text could quote the unscrubbed line.
                log.error("logship.scrub_failed", f"log batch could not be scrubbed "
                          f"({type(exc).__name__}); not sent", reason=type(exc).__name__)
                self.drainer.defer("scrub")
                return
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
                self.drainer.defer(str(exc))
                return
            if not await self._drain(post) or len(read.entries) < self.batch_size:
                return

    async def _drain(self, post: Post) -> bool:
        """Send the queued batches, oldest first; False when a failure stopped the drain."""
        async def send(item: Item) -> Result:
            return await self._send(item, post)

        await self.drainer.drain(send, force=True)
        return self.drainer.failures == 0

    async def _send(self, item: Item, post: Post) -> Result:
        try:
            doc = item.json()
            body = json.dumps(doc["body"], separators=(",", ":"), ensure_ascii=False).encode()
            msgspec.convert(doc["body"], LogIngest)
        except (OSError, ValueError, KeyError, TypeError, msgspec.ValidationError):
            return Result(Outcome.REFUSED, detail="unreadable queued batch", reason="unreadable")
        self._cursors[item.path.name] = doc.get("cursor")
        status, reply = await post(INGEST_PATH, body)  # raises: the Drainer's RETRY/UNSENDABLE
        res = classify_status(status, ok=frozenset({200}), permanent=frozenset({400}),
                              detail=reply[:512].decode("utf-8", "replace"))
        if res.outcome is Outcome.DELIVERED and status != 200:
            return Result(Outcome.RETRY, status)
        if res.outcome is Outcome.AUTH:
            return Result(Outcome.RETRY, status, res.detail)
        if res.outcome is Outcome.DELIVERED:
            self._save_cursor_of(item)  # only after the server accepted it, before removal
            n = int(doc.get("lines", 0))
            self.shipped_lines += n
            self.shipped_batches += 1
        return res

    def _settled(self, item: Item, res: Result) -> None:
        if res.outcome is not Outcome.DELIVERED:
            self._save_cursor_of(item)  # dead-lettered: the journal moves on
        self._cursors.pop(item.path.name, None)

    def _save_cursor_of(self, item: Item) -> None:
        cursor = self._cursors.get(item.path.name)
        if isinstance(cursor, str):
            self._save_cursor(cursor)

    def status(self) -> dict[str, Any]:
        return {"shipped_lines": self.shipped_lines, "shipped_batches": self.shipped_batches,
                "skipped_entries": self.skipped, "queued_batches": self.queue.pending(),
                "consecutive_failures": self.failures, "last_error": self.last_error,
                "has_cursor": self.cursor_path.exists(),
                "cursors_discarded": self.cursors_discarded, "queue": self.queue.status()}
