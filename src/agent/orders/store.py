"""The order nonce store (orders.md §4.4): replay protection and the at-most-once journal.

One :class:`Record` per **signed** nonce, persisted in ``order_records.db`` in the state
directory. Despite its name (fixed by runtime.md §3) the file is the append-only checksummed
journal of :mod:`agent.orders.journal` — the "equivalent append-only journal with fsync" that §4.4
allows — one JSON record snapshot per line, the last snapshot of a nonce winning.

* :meth:`OrderRecords.admit` (verification step 13) writes the ``executing`` record and fsyncs it
  **before** it returns ``accept``; if that write fails the order must not run.
* :meth:`finish` records the outcome and the completion; :meth:`acknowledge` marks the completion
  delivered (or given up).
* :meth:`recover` (start-up) returns the records still ``executing``: the worker reports them as
  interrupted (``agent restarted during execution``) or, for types declared idempotent, runs them
  again from the stored signed order.
* Retention: until signed ``expires_at`` + 300 s **and** the completion was acknowledged; never
  purged otherwise. The store is bounded (:data:`MAX_RECORDS`): when full of live records a new
  order is refused (not executed, nothing posted) rather than evicting a live nonce.
"""

from __future__ import annotations

import errno
import json
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from agent.log import get_logger
from agent.orders.journal import Journal
from agent.orders.registry import REGISTRY
from agent.orders.verify import CLOCK_SKEW_S, VerifiedOrder
from agent.protocol.errors import ProtocolError
from agent.protocol.timefmt import parse_timestamp
from agent.state.atomic import atomic_write, quarantine
from agent.state.reserve import DiskReserve
from agent.timefmt import format_rfc3339

log = get_logger("orders")

FILE_NAME = "order_records.db"
#: When the records were found emptied, garbled or deleted on an established appliance: every
#: order created before this instant is refused (``before_epoch``), since it may have run.
EPOCH_FILE = "order_records.epoch"
GO_NONCES = "used_nonces.json"
GO_NONCE_KEEP_S = 8 * 86400
RETRY_AFTER_S = 3600.0
MAX_RECORDS = 20_000
MAX_RESUMES = 3
INTERRUPTED = "agent restarted during execution"

State = Literal["executing", "succeeded", "failed", "deferred"]


class StoreFull(OSError):
    """Every slot holds a live nonce: the order is refused (it will be delivered again)."""


class DiskLow(OSError):
    """The disk is full and its reserve is in use: a new order is not admitted (it waits)."""


@dataclass(slots=True)
class Record:
    nonce: str
    order_id: str | None
    payload_sha256: str | None
    order_type: str | None
    expires_at: float
    first_seen: float
    state: State
    completion: dict[str, Any] | None = None
    acked: bool = False
    last_started: float = 0.0
    executions: int = 0
    #: The delivered order object, kept only for idempotent types (no secrets) so an interrupted
    #: execution can be re-run from its signed payload.
    resume: dict[str, Any] | None = None
    #: False from admission until the handler is about to start (durably marked): a record
    #: still ``executing`` and not started after a crash never ran and may run once more.
    started: bool = True

    def evictable(self, now: float) -> bool:
        return self.expires_at + CLOCK_SKEW_S <= now and self.acked and self.state != "executing"


@dataclass(frozen=True, slots=True)
class Admission:
    verdict: Literal["accept", "duplicate", "replay", "before_epoch"]
    retry: bool = False
    record: Record | None = None


class OrderRecords:
    """The nonce store. ``state_dir=None`` keeps it in memory only (vectors, CLI)."""

    def __init__(self, state_dir: Path | None, *, clock: Any = time.time,
                 max_records: int = MAX_RECORDS, established: bool = False,
                 reserve: DiskReserve | None = None) -> None:
        """``established``: the appliance had its identity keys before this start (not a fresh
        install), so missing or damaged records mean lost replay protection. ``reserve``: the
        disk reserve that keeps records writable on a full disk (new orders are refused while
        it is in use)."""
        self.clock = clock
        self.max_records = max_records
        self.records: dict[str, Record] = {}
        self.epoch: float | None = None
        self.reserve = reserve
        self.journal = Journal(state_dir / FILE_NAME, reserve) if state_dir is not None else None
        if self.journal is not None:
            assert state_dir is not None
            fresh = not self.journal.path.exists()
            empty = fresh or self.journal.path.stat().st_size == 0
            headers = 0
            for doc in self.journal.load():
                if "header" in doc:
                    headers += 1
                    continue
                try:
                    rec = Record(**doc)
                except TypeError:
                    log.error("orders.record_unusable", "an order record has unknown fields; "
                              "skipped")
                    continue
                self.records[rec.nonce] = rec
            self._load_epoch(state_dir / EPOCH_FILE)
            if established and (empty or self.journal.lost or (
                    not headers and not self.records)):
                self._new_epoch(state_dir / EPOCH_FILE, "deleted" if fresh else
                                "damaged" if self.journal.lost else "emptied")
            if fresh:
                self._import_go_nonces(state_dir / GO_NONCES)
            self.compact(force=bool(self.journal.damaged) or not headers)

    # --- step 13 ---------------------------------------------------------------------------

    def admit(self, order: VerifiedOrder, now: datetime) -> Admission:
        ts = now.timestamp()
        rec = self.records.get(order.nonce)
        if rec is None and self.epoch is not None and order.created_at.timestamp() < self.epoch:
            return Admission("before_epoch")
        if rec is None:
            if self.reserve is not None and not self.reserve.available():
                raise DiskLow(errno.ENOSPC, "the state file system is full (disk reserve in "
                              "use); new orders wait until space returns")
            if len(self.records) >= self.max_records:
                self.compact(force=True)
                if len(self.records) >= self.max_records:
                    log.error("orders.store_full", "the order nonce store is full of live "
                              "records; order refused", limit=self.max_records)
                    raise StoreFull("order nonce store is full")
            info = REGISTRY.get(order.order_type)
            rec = Record(
                nonce=order.nonce, order_id=order.order_id, payload_sha256=order.payload_sha256,
                order_type=order.order_type, expires_at=order.expires_at.timestamp(),
                first_seen=ts, state="executing", last_started=ts, executions=1,
                resume=order.raw if info is not None and info.idempotent else None,
                started=False)
            self._write(rec)
            self.records[rec.nonce] = rec
            return Admission("accept", record=rec)
        if rec.order_id != order.order_id or rec.payload_sha256 != order.payload_sha256:
            return Admission("replay", record=rec)
        if rec.state == "failed" and rec.acked and ts - rec.last_started >= RETRY_AFTER_S:
            new = Record(**{**asdict(rec), "state": "executing", "completion": None,
                            "acked": False, "last_started": ts,
                            "executions": rec.executions + 1, "started": False})
            self._write(new)
            self.records[new.nonce] = new
            return Admission("accept", retry=True, record=new)
        return Admission("duplicate", record=rec)

    # --- outcome ---------------------------------------------------------------------------

    def finish(self, nonce: str, state: State, completion: dict[str, Any]) -> Record:
        rec = self.records[nonce]
        new = Record(**{**asdict(rec), "state": state, "completion": completion, "acked": False,
                        "resume": None})
        self._write(new)
        self.records[nonce] = new
        return new

    def acknowledge(self, nonce: str) -> None:
        rec = self.records.get(nonce)
        if rec is None or rec.acked:
            return
        new = Record(**{**asdict(rec), "acked": True})
        self._write(new)
        self.records[nonce] = new
        self.compact()

    def start(self, nonce: str) -> None:
        """The handler starts now (fsynced first; raises OSError, then it must not start)."""
        rec = self.records[nonce]
        if rec.started:
            return
        new = Record(**{**asdict(rec), "started": True, "last_started": self.clock()})
        self._write(new)
        self.records[nonce] = new

    def restarted(self, nonce: str) -> Record:
        """An idempotent order is being re-run after a crash."""
        rec = self.records[nonce]
        new = Record(**{**asdict(rec), "last_started": self.clock(),
                        "executions": rec.executions + 1})
        self._write(new)
        self.records[nonce] = new
        return new

    def recover(self) -> list[Record]:
        """Records left ``executing`` by a previous process (start-up only)."""
        return [r for r in self.records.values() if r.state == "executing"]

    def unacknowledged(self) -> list[Record]:
        """Finished records whose completion has not been acknowledged yet."""
        return [r for r in self.records.values()
                if r.state not in ("executing", "deferred") and not r.acked
                and r.completion is not None]

    # --- housekeeping ----------------------------------------------------------------------

    def compact(self, force: bool = False) -> None:
        now = self.clock()
        dead = [n for n, r in self.records.items() if r.evictable(now)]
        for n in dead:
            del self.records[n]
        if self.journal is None:
            return
        if force or (dead and self.journal.lines > 2 * len(self.records) + 256):
            try:
                self._rewrite()
            except OSError as exc:  # compaction is an optimisation: the journal is intact
                log.warning("orders.compact_failed", f"order records not compacted ({exc}); "
                            "tried again later")

    def summary(self) -> dict[str, Any]:
        states = Counter(r.state for r in self.records.values())
        return {"records": len(self.records), "states": dict(states),
                "unacknowledged": len(self.unacknowledged()),
                "epoch": format_rfc3339(self.epoch) if self.epoch is not None else None}

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()

    def _rewrite(self) -> None:
        """The whole journal, atomically, behind a header line: a file without records is then
        still not empty, and an emptied file is recognisably damage."""
        assert self.journal is not None
        self.journal.rewrite([{"header": FILE_NAME, "written_at": format_rfc3339(self.clock())},
                              *(asdict(r) for r in self.records.values())])

    def _load_epoch(self, path: Path) -> None:
        try:
            doc = json.loads(path.read_bytes())
            self.epoch = float(doc["epoch_unix"])
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError):
            moved = quarantine(path)  # fail closed: a new epoch from now
            self._new_epoch(path, f"{EPOCH_FILE} unreadable (moved to {moved.name})")

    def _new_epoch(self, path: Path, why: str) -> None:
        now = self.clock()
        self.epoch = max(now, self.epoch or now)
        atomic_write(path, json.dumps({"epoch": format_rfc3339(self.epoch),
                                       "epoch_unix": self.epoch, "reason": why}).encode())
        log.error("orders.records_lost", f"the order records were {why}; every order created "
                  "before the new epoch is refused (it may have run already)",
                  epoch=format_rfc3339(self.epoch))

    def _write(self, rec: Record) -> None:
        if self.journal is not None:
            self.journal.append(asdict(rec))

    def _import_go_nonces(self, path: Path) -> None:
        """Migration from the Go daemon's ``used_nonces.json`` (orders.md §4.4)."""
        try:
            doc = json.loads(path.read_bytes())
        except FileNotFoundError:
            return
        except (OSError, ValueError):
            log.error("orders.go_nonces_unreadable", f"{GO_NONCES} could not be read; not "
                      "imported")
            return
        nonces = doc.get("nonces") if isinstance(doc, dict) else None
        if not isinstance(nonces, dict):
            return
        now = self.clock()
        imported = 0
        for nonce, seen in nonces.items():
            if not isinstance(nonce, str) or nonce in self.records:
                continue
            try:
                first = parse_timestamp(seen).timestamp() if isinstance(seen, str) else now
            except (ProtocolError, ValueError):
                first = now
            self.records[nonce] = Record(
                nonce=nonce, order_id=None, payload_sha256=None, order_type=None,
                expires_at=first + GO_NONCE_KEEP_S - CLOCK_SKEW_S, first_seen=first,
                state="succeeded", acked=True)
            imported += 1
        if imported and self.journal is not None:
            self._rewrite()
            log.info("orders.go_nonces_imported", "imported the Go daemon's used nonces",
                     count=imported)
