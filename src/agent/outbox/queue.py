"""The durable queue: one file per item, fsynced before it counts as created.

Every outbound queue of the agent (order completions, evidence spool, log batches, execution
telemetry, incident reports) is a :class:`DurableQueue` with a per-kind :class:`Policy`:

* :meth:`DurableQueue.put` writes the item with :func:`agent.state.atomic.atomic_write` (temporary
  file, write, ``fsync``, ``rename``, ``fsync`` of the directory). When it returns, the item exists
  and survives ``kill -9`` and power loss; when it raises, nothing was created and nothing was
  damaged (the temporary file is removed). A full disk raises :class:`QueueWriteError` with a clear
  message.
* Items are kept in creation order (file names, :mod:`agent.outbox.naming`); :meth:`items` lists
  them oldest first.
* Bounds (files, bytes) are enforced **before** a new item is written, with the kind's explicit
  overflow policy: move the oldest items to the dead-letter folder, drop the oldest (ERROR log,
  counted), coalesce (a kind-specific hook picks what may be merged), or refuse the new item
  (:class:`QueueFull`). Every overflow is logged; nothing is lost silently.
* Items the server refuses for good go to the dead-letter folder with a ``.reason.json`` next to
  them (:meth:`dead_letter`); the agent never deletes dead letters (operator export tools do).

The queue is safe to use from several threads (creation order is decided under a lock).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agent.log import get_logger
from agent.outbox.naming import Naming, NsNaming
from agent.state.atomic import atomic_write, ensure_dir, fsync_dir, remove_stale_temp
from agent.timefmt import format_rfc3339

log = get_logger("outbox")

Overflow = Literal["dead_letter_oldest", "drop_oldest", "refuse"]
DETAIL_MAX = 512
#: Failed attempts to make an item sendable (scrub, decode) before it is dead-lettered.
UNSENDABLE_TRIES = 3
#: A queue holding this fraction of its file or byte bound is backed up (``status``: degraded).
HIGH_WATER = 0.8


class QueueError(Exception):
    """An item could not be queued (nothing was created)."""


class QueueFull(QueueError):
    """The queue is at its bound and the kind's policy refuses new items."""


class QueueWriteError(QueueError):
    """Writing the item failed (disk full, read-only file system, I/O error)."""

    def __init__(self, kind: str, exc: OSError) -> None:
        what = {errno.ENOSPC: "no space left on the state file system",
                errno.EDQUOT: "disk quota exceeded",
                errno.EROFS: "the state file system is read-only"}.get(exc.errno or 0, str(exc))
        super().__init__(f"{kind} item not queued: {what}")
        self.kind = kind
        self.errno = exc.errno


@dataclass(frozen=True, slots=True)
class Policy:
    """Bounds and overflow behaviour of one kind of queue."""

    kind: str
    max_files: int
    max_bytes: int | None = None
    #: Items older than this are expired by :meth:`DurableQueue.expire` (None: never).
    max_age_s: float | None = None
    overflow: Overflow = "drop_oldest"
    #: What expiry does with an item: keep it for audit in the dead-letter folder, or drop it.
    expire_to: Literal["dead_letter", "drop"] = "dead_letter"
    dead_letter_max_bytes: int | None = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Item:
    """One queued item (a file). ``order`` is its creation order number (nanoseconds or a
    sequence number, by the naming); ``created_at`` is in seconds."""

    path: Path
    order: int
    key: str
    created_at: float
    size: int

    def read(self) -> bytes:
        return self.path.read_bytes()

    def json(self) -> Any:
        return json.loads(self.path.read_bytes())


@dataclass
class Counters:
    created: int = 0
    delivered: int = 0
    dead_lettered: int = 0
    dropped: int = 0
    overflowed: int = 0
    coalesced: int = 0
    refused: int = 0
    write_errors: int = 0
    unsendable: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)


#: ``coalesce(items) -> items that may go`` (oldest first): the items whose content is superseded
#: by a newer item of the queue. Called before the oldest entries are dropped.
Coalescer = Callable[[Sequence[Item]], Sequence[Item]]


def list_items(directory: Path, naming: Naming) -> list[Item]:
    """The pending items of a queue directory, oldest first, without opening the queue (no
    directory created, no temp file removed: safe beside a running daemon)."""
    out: list[Item] = []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return out
    for entry in entries:
        parsed = naming.parse(entry.name)
        if parsed is None:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue  # settled meanwhile
        order, key = parsed
        created = order / 1e9 if naming.time_ordered else st.st_mtime
        out.append(Item(Path(entry.path), order, key, created, st.st_size))
    out.sort(key=lambda it: (it.order, it.key))
    return out


class DurableQueue:
    def __init__(self, directory: Path, policy: Policy, *, naming: Naming | None = None,
                 dead_letter_dir: Path | None = None, clock: Callable[[], float] = time.time,
                 coalesce: Coalescer | None = None,
                 on_dead_letter: Callable[[Item, str], None] | None = None) -> None:
        self.dir = ensure_dir(directory)
        self.policy = policy
        self.naming: Naming = naming or NsNaming()
        self.dead_dir = dead_letter_dir or directory.with_name(f"{directory.name}_dead_letter")
        self.clock = clock
        self.coalesce = coalesce
        #: Called after an item was moved to the dead-letter folder (the evidence journal).
        self.on_dead_letter = on_dead_letter
        self.counters = Counters()
        self._lock = threading.RLock()
        self._unsendable: dict[str, int] = {}  # item file name -> failed attempts to send
        remove_stale_temp(self.dir, recursive=False)
        #: The last listing and what it depended on (see :meth:`items`).
        self._gen = 0
        self._listed: tuple[tuple[int, int, int], list[Item]] | None = None
        existing = self.items()
        self._last_order = existing[-1].order if existing else 0
        # Running totals, so that an append does not list the directory (O(1) per item).
        self._count = len(existing)
        self._bytes = sum(i.size for i in existing)

    # --- reading -------------------------------------------------------------------------

    def items(self) -> list[Item]:
        """Pending items, oldest first. The listing is reused while nothing changed it: no
        ``put``/``remove``/``dead_letter`` of this queue since (a generation counter) and the
        same directory modification time and inode (a change made by another process). The
        status built several times a cycle otherwise listed and stat'ed every queue."""
        with self._lock:
            try:
                st = os.stat(self.dir)
            except FileNotFoundError:
                self._listed = None
                return []
            key = (self._gen, st.st_mtime_ns, st.st_ino)
            if self._listed is None or self._listed[0] != key:
                self._listed = (key, list_items(self.dir, self.naming))
            return list(self._listed[1])

    def _changed(self) -> None:
        """After every change this queue makes to its directory (a listing that overlapped it
        is not reused)."""
        with self._lock:
            self._gen += 1

    def pending(self) -> int:
        return len(self.items())

    def pending_bytes(self) -> int:
        return sum(it.size for it in self.items())

    def find(self, key: str) -> Item | None:
        for it in self.items():
            if it.key == key:
                return it
        return None

    def dead_letters(self) -> list[Path]:
        if not self.dead_dir.is_dir():
            return []
        return sorted(p for p in self.dead_dir.iterdir()
                      if p.suffix == ".json" and not p.name.endswith(".reason.json")
                      and not p.name.startswith("."))

    def dead_letter_bytes(self) -> int:
        if not self.dead_dir.is_dir():
            return 0
        total = 0
        for p in self.dead_dir.iterdir():
            with contextlib.suppress(FileNotFoundError):
                total += p.stat().st_size
        return total

    # --- writing -------------------------------------------------------------------------

    def next_order(self) -> int:
        """A creation order number above every existing item (clock nanoseconds when the naming
        is time-ordered, never going backwards when the clock does)."""
        with self._lock:
            base = int(self.clock() * 1e9) if self.naming.time_ordered else 0
            self._last_order = max(base, self._last_order + 1)
            return self._last_order

    def put(self, data: bytes, *, key: str = "", order: int | None = None) -> Item:
        """Queue ``data`` durably. Applies the overflow policy first; raises :class:`QueueFull`
        (refusing policy) or :class:`QueueWriteError` (disk); on return the item exists."""
        with self._lock:
            self.make_room(len(data))
            if order is None:
                order = self.next_order()
            else:
                self._last_order = max(self._last_order, order)
            path = self.dir / self.naming.make(order, key)
            try:
                atomic_write(path, data, 0o600)
            except OSError as exc:
                self.counters.write_errors += 1
                err = QueueWriteError(self.policy.kind, exc)
                log.error("outbox.write_failed", str(err), kind=self.policy.kind,
                          error_kind=errno.errorcode.get(exc.errno or 0, "OSError"))
                raise err from exc
            finally:
                self._changed()
            self.counters.created += 1
            self._count += 1
            self._bytes += len(data)
            created = order / 1e9 if self.naming.time_ordered else self.clock()
            return Item(path, order, key, created, len(data))

    def make_room(self, incoming: int) -> None:
        """Enforce the bounds for one more item of ``incoming`` bytes (the overflow policy)."""
        p = self.policy
        if self._count + 1 <= p.max_files and (
                p.max_bytes is None or self._bytes + incoming <= p.max_bytes):
            return  # the fast path; the totals are re-synchronised from disk below otherwise
        items = self.items()
        self._count, self._bytes = len(items), sum(i.size for i in items)

        def over() -> bool:
            if len(items) + 1 > p.max_files:
                return True
            return p.max_bytes is not None and sum(i.size for i in items) + incoming > p.max_bytes

        if not over():
            return
        if p.overflow == "refuse":
            self.counters.refused += 1
            log.error("outbox.full", f"{p.kind} queue is full ({len(items)} items); new item "
                      "refused", kind=p.kind, pending=len(items))
            raise QueueFull(f"{p.kind} queue is full ({len(items)} items)")
        if self.coalesce is not None:
            for victim in self.coalesce(items):
                if not over():
                    break
                self._drop(victim, "coalesced")
                self.counters.coalesced += 1
                items = [i for i in items if i.path != victim.path]
        while over() and items:
            victim = items.pop(0)
            self.counters.overflowed += 1
            if p.overflow == "dead_letter_oldest" and not self.dead_letter_full():
                log.warning("outbox.overflow", f"{p.kind} queue full: oldest item moved to the "
                            "dead-letter folder", kind=p.kind, key=victim.key)
                self.dead_letter(victim, reason="spool_overflow" if p.kind == "evidence"
                                 else "overflow")
            else:
                self._drop(victim, "overflow")

    def _drop(self, item: Item, reason: str) -> None:
        log.error("outbox.dropped", f"{self.policy.kind} item dropped ({reason})",
                  kind=self.policy.kind, key=item.key, reason=reason,
                  age_s=int(self.clock() - item.created_at))
        self.counters.dropped += 1
        self.counters.by_reason[reason] = self.counters.by_reason.get(reason, 0) + 1
        self.remove(item)

    def remove(self, item: Item) -> None:
        """Delete a settled item (durably: the directory is fsynced)."""
        try:
            os.unlink(item.path)
        except FileNotFoundError:
            pass
        else:
            self._uncount(item)
        finally:
            self._changed()
        fsync_dir(self.dir)

    def _uncount(self, item: Item) -> None:
        """Take a settled item out of the running totals (foreign files, such as the Go daemon's
        legacy evidence bundles, were never in them)."""
        if item.path.parent == self.dir and self.naming.parse(item.path.name) is not None:
            self._count = max(0, self._count - 1)
            self._bytes = max(0, self._bytes - item.size)

    def delivered(self, item: Item) -> None:
        self.counters.delivered += 1
        self.remove(item)

    def drop(self, item: Item, reason: str) -> None:
        """Remove an item without delivering it (ERROR log, counted)."""
        self._drop(item, reason)

    def dead_letter(self, item: Item, *, reason: str, http_status: int | None = None,
                    detail: str = "", attempts: int = 0) -> Path:
        """Move ``item`` to the dead-letter folder with a ``.reason.json`` beside it.

        The reason is written first, then the item is renamed (same file system, atomic) and
        both directories are fsynced: after a crash the item is in exactly one of the two."""
        dead = ensure_dir(self.dead_dir)
        dest = dead / item.path.name
        reason_doc = {"reason": reason, "http_status": http_status, "detail": detail[:DETAIL_MAX],
                      "moved_at": format_rfc3339(self.clock()), "attempts": attempts,
                      "kind": self.policy.kind}
        atomic_write(dead / f"{item.path.name[:-5]}.reason.json",
                     json.dumps(reason_doc, sort_keys=True).encode(), 0o600)
        try:
            os.rename(item.path, dest)
        except FileNotFoundError:
            return dest
        finally:
            self._changed()
        self._uncount(item)
        fsync_dir(dead)
        fsync_dir(self.dir)
        self.counters.dead_lettered += 1
        self.counters.by_reason[reason] = self.counters.by_reason.get(reason, 0) + 1
        if self.on_dead_letter is not None:
            self.on_dead_letter(item, reason)
        log.warning("outbox.dead_lettered", f"{self.policy.kind} item moved to the dead-letter "
                    f"folder ({reason})", kind=self.policy.kind, key=item.key, reason=reason,
                    http_status=http_status)
        return dest

    def unsendable(self, item: Item, why: str) -> bool:
        """The item could not be made sendable (scrubbing failed, or its body does not decode):
        it was not sent and stays queued. After :data:`UNSENDABLE_TRIES` such failures it moves to
        the dead-letter folder (reason ``unsendable``); True when it did. Either way the caller
        goes on with the next item, so one bad item never blocks the ones behind it."""
        with self._lock:
            n = self._unsendable.get(item.path.name, 0) + 1
            self._unsendable[item.path.name] = n
        self.counters.unsendable += 1
        if n < UNSENDABLE_TRIES:
            log.error("outbox.unsendable", f"{self.policy.kind} item could not be made sendable; "
                      "kept and tried again later", kind=self.policy.kind, key=item.key,
                      tries=n, why=why)
            return False
        self._unsendable.pop(item.path.name, None)
        self.dead_letter(item, reason="unsendable", detail=why, attempts=n)
        return True

    def dead_letter_full(self) -> bool:
        limit = self.policy.dead_letter_max_bytes
        return limit is not None and self.dead_letter_bytes() >= limit

    def expire(self) -> int:
        """Apply ``max_age_s``: expired items go to the dead-letter folder (or are dropped, by the
        policy; dropped too when the dead-letter folder is full). Returns how many."""
        limit = self.policy.max_age_s
        if limit is None:
            return 0
        now = self.clock()
        n = 0
        for item in self.items():
            if now - item.created_at <= limit:
                break  # oldest first: the rest are younger
            if self.policy.expire_to == "dead_letter" and not self.dead_letter_full():
                self.dead_letter(item, reason="expired",
                                 detail=f"not delivered within {int(limit)} s")
            else:
                self._drop(item, "expired")
            n += 1
        return n

    def high_water(self) -> tuple[int, int | None]:
        """``(files, bytes)`` above which the queue counts as backed up (``status``: degraded):
        :data:`HIGH_WATER` of its bounds."""
        p = self.policy
        return (max(1, int(p.max_files * HIGH_WATER)),
                int(p.max_bytes * HIGH_WATER) if p.max_bytes else None)

    def status(self) -> dict[str, Any]:
        items = self.items()
        c = self.counters
        size = sum(i.size for i in items)
        hw_files, hw_bytes = self.high_water()
        over = len(items) >= hw_files or (hw_bytes is not None and size >= hw_bytes)
        return {"kind": self.policy.kind, "max_files": self.policy.max_files,
                "high_water_files": hw_files, "high_water_bytes": hw_bytes,
                "over_high_water": over,
                "pending": len(items), "pending_bytes": size,
                "oldest_age_s": int(self.clock() - items[0].created_at) if items else None,
                "created": c.created, "delivered": c.delivered, "dead_lettered": c.dead_lettered,
                "dropped": c.dropped, "overflowed": c.overflowed, "coalesced": c.coalesced,
                "refused": c.refused, "write_errors": c.write_errors,
                "unsendable": c.unsendable, "dead_letter_pending": len(self.dead_letters()),
                "dead_letter_by_reason": dict(c.by_reason)}

