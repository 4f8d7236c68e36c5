"""Creating evidence bundles durably, and start-up recovery (evidence.md §3, §5).

:meth:`EvidenceStore.record_scan` is what the scanner calls after a scan run. For the chained scan
types (``windows``, ``linux``) a bundle **counts as created** only when its spool file
(``evidence_cache/bundle-<seq>-<id>.json``, the exact POST body) and its ``created`` journal line
are on stable storage; creation is serialized by one chain lock. Network bundles are signed and
returned to be sent once (:meth:`agent.evidence.submit.EvidenceSubmitter.send_network`).

The chain head is kept twice (:mod:`agent.evidence.head`): the journal's lines and
``evidence_chain/evidence_head.json``, written after each journal line. At start-up the higher of
the two wins and the other is repaired: a journal that lost its head gets a ``head_recovered``
line (``from``: ``head_record`` or ``spool``), a lost or damaged head record is rewritten from the
journal; damaged files are quarantined, never deleted. When neither survives (while the state
directory shows a chain existed), a non-empty spool still names the head (its newest bundle is
always pending); otherwise the chain is **restarted explicitly**: a signed ``chain_restart``
journal record naming the last head known (the readable part of a damaged journal, the
dead-letter folder) or ``"unknown"``, ERROR log, counted in ``status``; the next bundle gets
``chain_seq`` = last known seq + 1 and ``prev_bundle_hash`` = the record's ``restart_hash``.
Never a silent restart at seq 1. Only a state directory with no trace of a chain (no
``evidence_chain/`` directory and no chained bundle) starts a new chain at seq 1 with no record.
An empty ``evidence_chain/`` cannot be told apart from a deleted journal and head record, so it
restarts explicitly (``"unknown"``) — also the one left by an older version that never created a
bundle (the head record is written from the first start on, genesis included).

Bounds (§5.2): a full spool moves its oldest bundles to the dead-letter folder
(``spool_overflow``); a full dead-letter folder or the free-space floor refuses creation
(``creation_refused`` journal line, ERROR at most once a minute with a running count).
"""

from __future__ import annotations

import calendar
import contextlib
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from agent.crypto import Ed25519Key, verify_ed25519
from agent.evidence.bundle import (
    CHAINED,
    ZERO_HASH,
    Bundle,
    ScanResult,
    format_time,
    matrix,
    sign,
    signed_object,
    split_hosts,
    uuid7,
)
from agent.evidence.head import Head, read_head, restart_record, write_head
from agent.evidence.journal import Journal
from agent.log import get_logger
from agent.outbox import kinds
from agent.outbox.queue import DurableQueue, Item, QueueError
from agent.protocol.evidence import EvidenceSubmit
from agent.timefmt import format_rfc3339

if TYPE_CHECKING:
    from agent.config.schema import Config

log = get_logger("evidence")

CHAIN_DIR = "evidence_chain"
REFUSAL_LOG_EVERY_S = 60.0
#: The Go daemon's cache files (evidence.md §5): ``bundle-<yyyymmdd>-<hhmmss.mmm>.json``.
LEGACY_NAME = re.compile(r"^bundle-(\d{8})-(\d{6})\.(\d{3})\.json$")
LEGACY_KEY = "legacy:"


def is_legacy(item: Item) -> bool:
    return item.key.startswith(LEGACY_KEY)


def legacy_file(item: Item) -> str:
    return item.path.name


@dataclass(frozen=True, slots=True)
class Limits:
    spool_max_bytes: int = 256 * 1024 * 1024
    spool_max_files: int = 20_000
    dead_letter_max_bytes: int = 1024 * 1024 * 1024
    min_free_bytes: int = 1024 * 1024 * 1024

    @classmethod
    def from_config(cls, config: Config) -> Limits:
        return cls(spool_max_bytes=config.evidence_spool_max_bytes,
                   spool_max_files=config.evidence_spool_max_files,
                   dead_letter_max_bytes=config.evidence_dead_letter_max_bytes,
                   min_free_bytes=config.evidence_min_free_bytes)


def parse_body(data: bytes) -> EvidenceSubmit:
    return msgspec.json.decode(data, type=EvidenceSubmit)


def seq_of(signed_data: str) -> int | None:
    try:
        obj = msgspec.json.decode(signed_data)
    except msgspec.DecodeError:
        return None
    seq = obj.get("chain_seq") if isinstance(obj, dict) else None
    return seq if isinstance(seq, int) else None


class EvidenceStore:
    def __init__(self, state_dir: Path, key: Ed25519Key, site_id: str, *,
                 limits: Limits | None = None, clock: Callable[[], float] = time.time,
                 free_bytes: Callable[[], int] | None = None) -> None:
        self.state_dir = state_dir
        self.key = key
        self.site_id = site_id
        self.limits = limits or Limits()
        self.clock = clock
        self._free_bytes = free_bytes or self._statvfs_free
        #: No legacy Go bundle was found (see :meth:`legacy_items`).
        self._no_legacy = False
        policy = replace(kinds.EVIDENCE, max_files=self.limits.spool_max_files,
                         max_bytes=self.limits.spool_max_bytes,
                         dead_letter_max_bytes=self.limits.dead_letter_max_bytes)
        self.queue: DurableQueue = kinds.evidence_queue(state_dir, policy=policy, clock=clock)
        self.queue.on_dead_letter = self._journal_dead_letter
        had_chain = (state_dir / CHAIN_DIR).is_dir()
        self.journal = Journal(state_dir / CHAIN_DIR)
        self._lock = threading.RLock()
        self.head_seq = 0
        self.head_hash = ZERO_HASH
        self.journal_key: str | None = None
        #: Where the head came from at start-up: journal, head_record, spool, chain_restart.
        self.head_source = "journal"
        self.chain_restarts = 0
        self.last_restart: dict[str, Any] | None = None
        self.created = 0
        self.creation_refused = 0
        self.last_error: str | None = None
        self._last_refusal_log = -REFUSAL_LOG_EVERY_S
        self.recovered = 0
        self.recover(had_chain=had_chain or bool(self.queue.items() or self.queue.dead_letters()))

    # --- the scanner's API ---------------------------------------------------------------

    def record_scan(self, scan: ScanResult) -> list[Bundle]:
        """Evidence for one scan run. Chained scan types: the created bundles (empty when creation
        was refused: the scan's findings still drive incidents and healing). ``network``: one
        signed, unspooled bundle for :meth:`EvidenceSubmitter.send_network`."""
        checked_at = format_time(scan.checked_at)
        per_host = matrix(scan)
        if scan.scan_type not in CHAINED:
            checks = [c for entries in per_host for c in entries]
            obj = signed_object(bundle_id=uuid7(int(self.clock() * 1000)),
                                scan_type=scan.scan_type, site_id=self.site_id,
                                checked_at=checked_at, checks=checks)
            return [sign(obj, self.key)]
        out: list[Bundle] = []
        for checks in split_hosts(per_host):
            bundle = self.create(scan.scan_type, checked_at, checks)
            if bundle is None:
                break
            out.append(bundle)
        return out

    def create(self, scan_type: str, checked_at: str, checks: list[dict[str, Any]]) -> Bundle | None:
        """Create one chained bundle (§3 steps 1-6); None when creation was refused or failed."""
        with self._lock:
            reason = self._storage_check()
            if reason is not None:
                self._refuse(scan_type, reason)
                return None
            try:
                if self.journal_key is not None and self.journal_key != self.key.public_hex:
                    self.journal.append({"event": "key_changed", "at": format_rfc3339(self.clock()),
                                         "public_key": self.key.public_hex})
                    log.warning("evidence.key_changed", "the evidence key changed; the chain "
                                "continues under the new key", public_key=self.key.public_hex)
                    self.journal_key = None
                seq = self.head_seq + 1
                obj = signed_object(bundle_id=uuid7(int(self.clock() * 1000)), scan_type=scan_type,
                                    site_id=self.site_id, checked_at=checked_at, checks=checks,
                                    chain_seq=seq, prev_bundle_hash=self.head_hash)
                bundle = sign(obj, self.key)
                item = self.queue.put(bundle.body, key=bundle.bundle_id, order=seq)
                try:
                    self.journal.append(self._created_line(bundle, self.journal_key is None))
                except OSError:
                    with contextlib.suppress(OSError):
                        self.queue.remove(item)  # never counted as created
                    raise
            except (OSError, QueueError) as exc:
                self.last_error = f"evidence bundle not created: {exc}"
                self.creation_refused += 1
                log.error("evidence.create_failed", self.last_error, scan_type=scan_type)
                return None
            self.journal_key = self.key.public_hex
            self.head_seq, self.head_hash = seq, bundle.bundle_hash
            self.created += 1
            self.last_error = None
            self._write_head()  # after the journal line (module docstring)
            log.info("evidence.created", "evidence bundle created", seq=seq,
                     bundle_id=bundle.bundle_id, scan_type=scan_type, checks=len(checks))
            return bundle

    # --- storage bounds (§5.2) -----------------------------------------------------------

    def _statvfs_free(self) -> int:
        st = os.statvfs(self.state_dir)
        return st.f_bavail * st.f_frsize

    def _storage_check(self) -> str | None:
        if self.queue.dead_letter_full():
            return "dead_letter_full"
        try:
            if self._free_bytes() < self.limits.min_free_bytes:
                return "disk_floor"
        except OSError:
            return "disk_floor"
        return None

    def _refuse(self, scan_type: str, reason: str) -> None:
        self.creation_refused += 1
        self.last_error = f"evidence creation refused: {reason}"
        with contextlib.suppress(OSError):
            self.journal.append({"event": "creation_refused", "at": format_rfc3339(self.clock()),
                                 "scan_type": scan_type, "reason": reason})
        now = time.monotonic()
        if now - self._last_refusal_log >= REFUSAL_LOG_EVERY_S:
            self._last_refusal_log = now
            log.error("evidence.creation_refused", f"evidence bundle not created ({reason}); "
                      "already stored bundles are kept", reason=reason,
                      refused_total=self.creation_refused)

    # --- journal ---------------------------------------------------------------------

    def _created_line(self, b: Bundle, with_key: bool) -> dict[str, Any]:
        line: dict[str, Any] = {"event": "created", "seq": b.chain_seq, "bundle_id": b.bundle_id,
                                "bundle_hash": b.bundle_hash, "prev_bundle_hash": b.prev_bundle_hash,
                                "scan_type": b.scan_type, "checked_at": b.checked_at,
                                "created_at": format_rfc3339(self.clock())}
        if with_key:
            line["public_key"] = b.public_key
        return line

    def _journal_dead_letter(self, item: Item, reason: str) -> None:
        if is_legacy(item):
            with contextlib.suppress(OSError):
                self.journal_legacy(item, "dead_lettered", reason=reason)
            return
        with contextlib.suppress(OSError):
            self.journal.append({"event": "dead_lettered", "seq": item.order,
                                 "bundle_id": item.key, "at": format_rfc3339(self.clock()), "reason": reason})

    def journal_delivered(self, item: Item, via: str, receipt: dict[str, Any]) -> None:
        line: dict[str, Any] = {"event": "delivered", "seq": item.order, "bundle_id": item.key,
                                "at": format_rfc3339(self.clock()), "via": via}
        for k in ("chain_position", "current_hash"):
            if receipt.get(k):
                line[k] = receipt[k]
        self.journal.append(line)

    def journal_legacy(self, item: Item, outcome: str, **extra: Any) -> None:
        """A Go-daemon cache file was settled: journal ``legacy`` (never part of the chain)."""
        self.journal.append({"event": "legacy", "file": legacy_file(item),
                             "at": format_rfc3339(self.clock()), "outcome": outcome, **extra})

    # --- legacy Go bundles (§5) ------------------------------------------------------

    def legacy_items(self) -> list[Item]:
        """The Go daemon's bundles still in ``evidence_cache/``, oldest first. They are not spool
        items (their names do not parse as such) and never join the chain.

        Once a look finds none, none are looked for again in this process: only the Go daemon
        writes them, and it never runs beside the agent (the status built several times a
        cycle listed the spool for them each time)."""
        out: list[Item] = []
        if self._no_legacy:
            return out
        try:
            entries = list(os.scandir(self.queue.dir))
        except FileNotFoundError:
            self._no_legacy = True
            return out
        for entry in entries:
            m = LEGACY_NAME.fullmatch(entry.name)
            if m is None:
                continue
            try:
                st = entry.stat(follow_symlinks=False)
                created = float(calendar.timegm(time.strptime(m[1] + m[2], "%Y%m%d%H%M%S")))
            except (FileNotFoundError, ValueError):
                continue
            out.append(Item(Path(entry.path), 0, LEGACY_KEY + entry.name[:-5],
                            created + int(m[3]) / 1000, st.st_size))
        out.sort(key=lambda it: it.path.name)
        self._no_legacy = not out
        return out

    def pending_items(self) -> list[Item]:
        """What the drain sends, in order: legacy Go bundles first, then the chain by seq."""
        return self.legacy_items() + self.queue.items()

    def pending(self) -> int:
        return len(self.pending_items())

    def health(self) -> dict[str, int]:
        """The evidence figures of the checkin's ``daemon_health`` (central-api.md §6.3)."""
        items = self.pending_items()
        return {"evidence_spool_pending": len(items),
                "evidence_spool_bytes": sum(i.size for i in items),
                "evidence_dead_letter": len(self.queue.dead_letters()),
                "evidence_creation_refused_total": self.creation_refused}

    # --- recovery (§3) ---------------------------------------------------------------

    def recover(self, *, had_chain: bool = True) -> None:
        created: dict[int, str] = {}
        settled: set[int] = set()
        dead_journaled: set[int] = set()
        legacy_settled: set[str] = set()
        for line in self.journal.lines():
            ev, seq = line.get("event"), line.get("seq")
            if ev == "legacy" and line.get("outcome") == "delivered":
                legacy_settled.add(str(line.get("file", "")))
            if ev == "chain_restart" and isinstance(line.get("first_seq"), int):
                created.clear()
                settled.clear()
                dead_journaled.clear()
                self.head_seq = line["first_seq"] - 1
                self.head_hash = str(line.get("restart_hash", ""))
                self.journal_key = None
                self.chain_restarts += 1
                self.last_restart = {k: line.get(k) for k in
                                     ("at", "first_seq", "reason", "last_known_head")}
            elif ev == "head_recovered" and isinstance(seq, int) and seq >= self.head_seq:
                self.head_seq, self.head_hash = seq, str(line.get("bundle_hash", ""))
                self.journal_key = str(line.get("public_key", "")) or self.journal_key
            elif ev == "created" and isinstance(seq, int):
                created[seq] = str(line.get("bundle_hash", ""))
                if line.get("public_key"):
                    self.journal_key = str(line["public_key"])
                if seq > self.head_seq:
                    self.head_seq, self.head_hash = seq, created[seq]
            elif ev == "key_changed":
                self.journal_key = str(line.get("public_key", "")) or self.journal_key
            elif ev in ("delivered", "dead_lettered") and isinstance(seq, int):
                settled.add(seq)
                if ev == "dead_lettered":
                    dead_journaled.add(seq)
        self._recover_head(had_chain)
        for item in self.legacy_items():
            if legacy_file(item) in legacy_settled:
                self.queue.remove(item)  # crash after the journal line, before the unlink
        for item in self.queue.items():
            if item.order in settled:
                self.queue.remove(item)  # crash after the journal line, before the unlink
            elif item.order > self.head_seq:
                self._adopt(item)
        for path in self.queue.dead_letters():
            parsed = self.queue.naming.parse(path.name)
            if parsed and parsed[0] in created and parsed[0] not in dead_journaled:
                with contextlib.suppress(OSError):
                    self.journal.append({"event": "dead_lettered", "seq": parsed[0],
                                         "bundle_id": parsed[1], "at": format_rfc3339(self.clock()),
                                         "reason": "recovered"})

    def _adopt(self, item: Item) -> None:
        """A spool file above the journal head (crash between §3 steps 4 and 5)."""
        try:
            body = parse_body(item.read())
            ok = (seq_of(body.signed_data) == item.order == self.head_seq + 1
                  and verify_ed25519(bytes.fromhex(body.agent_public_key),
                                     body.signed_data.encode("ascii"),
                                     bytes.fromhex(body.agent_signature))
                  and msgspec.json.decode(body.signed_data).get("prev_bundle_hash")
                  == self.head_hash)
        except (OSError, ValueError, msgspec.DecodeError, UnicodeEncodeError):
            ok = False
        if not ok:
            log.error("evidence.corrupt_on_recovery", "a spool file above the chain head failed "
                      "its checks; moved to the dead-letter folder", seq=item.order)
            self.queue.dead_letter(item, reason="corrupt_on_recovery")
            return
        obj = msgspec.json.decode(body.signed_data)
        bundle = Bundle(bundle_id=body.bundle_id, scan_type=obj.get("scan_type", ""),
                        checked_at=body.checked_at, chain_seq=item.order,
                        prev_bundle_hash=self.head_hash, signed_data=body.signed_data,
                        bundle_hash=body.bundle_hash, agent_signature=body.agent_signature,
                        public_key=body.agent_public_key, body=b"")
        self.journal.append(self._created_line(bundle, self.journal_key != body.agent_public_key))
        self.journal_key = body.agent_public_key
        self.head_seq, self.head_hash = item.order, body.bundle_hash
        self._write_head()
        self.recovered += 1
        log.warning("evidence.recovered", "spool file adopted into the chain journal after a "
                    "crash", seq=item.order)

    # --- the redundant head (module docstring) ------------------------------------------

    def _head(self) -> Head:
        return Head(self.head_seq, self.head_hash, self.journal_key or "")

    def _write_head(self) -> None:
        """Rewrite ``evidence_head.json`` after a journal line; a failure is logged (the journal
        line is the durability point; the next start rewrites the record from it)."""
        try:
            write_head(self.journal.dir, self._head())
        except OSError as exc:
            self.last_error = f"evidence head record not written: {exc}"
            log.error("evidence.head_write_failed", self.last_error)

    def _recover_head(self, had_chain: bool) -> None:
        """Reconcile the journal's head with the head record; restart explicitly when both are
        lost (module docstring)."""
        journal = self._head()
        record, state = read_head(self.journal.dir)
        if state == "damaged":
            log.error("evidence.head_record_damaged", "the chain head record was damaged; moved "
                      "to quarantine", head_seq_journal=journal.seq)
        journal_lost = bool(self.journal.damaged) or (had_chain and journal.seq == 0
                                                      and not self.chain_restarts)
        if record is not None and record.seq > journal.seq:
            self._adopt_head(record, "head_record")
        elif record is not None and record.seq == journal.seq \
                and record.bundle_hash != journal.bundle_hash:
            log.error("evidence.head_mismatch", "the head record and the journal disagree on the "
                      "head's hash; the journal's is kept", seq=journal.seq)
        elif record is None and journal_lost:
            self._lost_head(journal)
            return
        elif record is not None and record.seq == journal.seq:
            return  # both agree
        elif state != "missing" or journal.seq:
            log.warning("evidence.head_record_recovered", "the chain head record is rewritten "
                        "from the journal", seq=journal.seq, was=state)
        self._write_head()

    def _adopt_head(self, head: Head, source: str) -> None:
        """The journal lost its head: take it from ``source`` and journal ``head_recovered``."""
        log.error("evidence.journal_head_lost", f"the chain journal lost its head; recovered from "
                  f"the {source.replace('_', ' ')}", seq=head.seq, journal_damage=self.journal.damaged)
        self.head_seq, self.head_hash = head.seq, head.bundle_hash
        self.journal_key = None  # the next created line names the key again
        self.head_source = source
        self.journal.append({"event": "head_recovered", "at": format_rfc3339(self.clock()),
                             "seq": head.seq, "bundle_hash": head.bundle_hash,
                             "public_key": head.public_key, "from": source})
        self._write_head()

    def _lost_head(self, journal: Head) -> None:
        """Neither the journal nor the head record knows the head."""
        spool = self._newest(self.queue.items()[::-1])
        if spool is not None and spool.seq >= journal.seq:
            self._adopt_head(spool, "spool")
            return
        known = [h for h in (journal if journal.seq else None,
                             self._newest(self._dead_letter_items())) if h is not None]
        last = max(known, key=lambda h: h.seq) if known else None
        first = (last.seq if last is not None else 0) + 1
        line = restart_record(self.key, site_id=self.site_id, at=format_rfc3339(self.clock()),
                              first_seq=first, last_known=last, reason="head_lost")
        self.journal.append(line)
        self.head_seq, self.head_hash = first - 1, line["restart_hash"]
        self.journal_key = None
        self.head_source = "chain_restart"
        self.chain_restarts += 1
        self.last_restart = {k: line[k] for k in ("at", "first_seq", "reason", "last_known_head")}
        self.last_error = "evidence chain restarted: the chain head was lost"
        log.error("evidence.chain_restart", "the evidence chain journal and head record are both "
                  "lost; the chain restarts with a signed chain_restart record", first_seq=first,
                  last_known_seq=last.seq if last is not None else "unknown",
                  journal_damage=self.journal.damaged)
        self._write_head()

    def _dead_letter_items(self) -> list[Item]:
        out: list[Item] = []
        for path in self.queue.dead_letters():
            parsed = self.queue.naming.parse(path.name)
            if parsed is not None:
                out.append(Item(path, parsed[0], parsed[1], 0.0, 0))
        return sorted(out, key=lambda it: it.order, reverse=True)

    def _newest(self, items: list[Item]) -> Head | None:
        """The head named by the newest of ``items`` (newest first) whose signature verifies."""
        for item in items:
            try:
                body = parse_body(item.read())
                ok = seq_of(body.signed_data) == item.order and verify_ed25519(
                    bytes.fromhex(body.agent_public_key), body.signed_data.encode("ascii"),
                    bytes.fromhex(body.agent_signature))
            except (OSError, ValueError, msgspec.DecodeError, UnicodeEncodeError):
                ok = False
            if ok:
                return Head(item.order, body.bundle_hash, body.agent_public_key)
        return None

    def status(self) -> dict[str, Any]:
        return {"head_seq": self.head_seq, "head_hash": self.head_hash[:16],
                "head_source": self.head_source, "chain_restarts": self.chain_restarts,
                "last_chain_restart": self.last_restart,
                "journal_damage": list(self.journal.damaged),
                "spool": self.queue.status(), "dead_letter_bytes": self.queue.dead_letter_bytes(),
                "legacy_pending": len(self.legacy_items()),
                "created": self.created, "evidence_creation_refused_total": self.creation_refused,
                "last_error": self.last_error}
