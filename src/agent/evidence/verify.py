"""Offline chain verification (evidence.md §7) — ``python -m agent evidence verify DIR``.

All signatures of a run are checked by **one** call to :func:`verify_signatures`, which takes the
whole batch (public key, message, signature) at once: the native batch verifier
(:func:`agent.crypto.verify_batch`) when it is in use.
Bundles may come from any mix of sources (spool, dead-letter folder, exports as JSON Lines,
Central Command's stored copies); keys come from the journal (``created`` / ``key_changed``),
from the caller, or — as a last resort — from each bundle's own ``agent_public_key``.

A journal with ``chain_restart`` records (:mod:`agent.evidence.head`: the agent lost both the
journal and the head record and restarted the chain explicitly) splits the chain into parts: a
bundle belongs to the part whose journal lines record it (or whose restart record its
``prev_bundle_hash`` names), the rest to the first part. Each part is verified on its own (the part
after a restart starts at the record's ``first_seq`` with ``prev_bundle_hash`` = its
``restart_hash``) and each restart record's signature is checked. A chain with an authentic restart
and intact parts is reported as **restarted** (``valid`` false, ``error`` ``chain_restart``,
``restarts`` listed): not a valid unbroken chain, and not corruption. Without the journal the
restart is unknown and the first bundle after it shows as ``prev_hash_mismatch``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from agent.crypto import verify_batch
from agent.evidence.bundle import FORMAT, ZERO_HASH
from agent.evidence.head import QUARANTINE_DIR, check_restart
from agent.evidence.journal import read_lines

Signed = tuple[bytes, bytes, bytes]  # (public key, message, signature)


def verify_signatures(batch: Sequence[Signed]) -> list[bool]:
    """Verify many Ed25519 signatures; one verdict per entry, in order: the native batch
    verifier when it is in use (:func:`agent.crypto.verify_batch`, verdicts identical to
    libsodium's for every input; a chain's bundles share one key, its best case), else PyNaCl
    one by one."""
    return verify_batch(batch)


@dataclass(frozen=True, slots=True)
class BundleRecord:
    signed_data: str
    agent_signature: str
    bundle_hash: str | None = None
    public_key: str | None = None
    source: str = ""


@dataclass(slots=True)
class Verdict:
    seq: int | None
    bundle_id: str
    source: str
    status: str  # ok, bad_signature, hash_mismatch, missing_seq, prev_hash_mismatch, ...


@dataclass
class ChainResult:
    valid: bool
    head_seq: int | None = None
    head_hash: str | None = None
    first_bad_seq: int | None = None
    error: str | None = None
    verdicts: list[Verdict] = field(default_factory=list)
    body_missing: list[int] = field(default_factory=list)
    skipped: int = 0
    #: Authentic ``chain_restart`` records: ``{at, first_seq, reason, last_known_head}``.
    restarts: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        if self.valid:
            return {"valid": True, "head_seq": self.head_seq, "head_hash": self.head_hash}
        if self.restarts and self.error == "chain_restart":
            return {"valid": False, "first_bad_seq": self.first_bad_seq, "error": self.error,
                    "restarted": True, "restarts": self.restarts, "head_seq": self.head_seq,
                    "head_hash": self.head_hash}
        return {"valid": False, "first_bad_seq": self.first_bad_seq, "error": self.error}


def _strict_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def parse_strict(text: str) -> Any:
    return json.loads(text, object_pairs_hook=_strict_object)


def chain_seq_of(obj: Any) -> int | None:
    """The ``chain_seq`` of a parsed signed object of ours (None: not a chained bundle)."""
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        return None
    seq = obj.get("chain_seq")
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None


def _keys_by_seq(journal: Iterable[dict[str, Any]]) -> tuple[list[tuple[int, str]], dict[int, str]]:
    """``(key changes as (from_seq, key), created hash per seq)`` from journal lines. A
    ``head_recovered`` line (the journal lost its earlier lines) gives its seq's hash; the seqs
    below it whose lines were lost map to ``""`` (journaled once, hash unknown)."""
    changes: list[tuple[int, str]] = []
    hashes: dict[int, str] = {}
    pending: str | None = None
    for line in journal:
        ev = line.get("event")
        if ev == "key_changed" and isinstance(line.get("public_key"), str):
            pending = line["public_key"]
        elif ev == "created" and isinstance(line.get("seq"), int):
            seq = line["seq"]
            hashes[seq] = str(line.get("bundle_hash", ""))
            key = line.get("public_key") or pending
            if isinstance(key, str) and key:
                changes.append((seq, key))
            pending = None
        elif ev == "head_recovered" and isinstance(line.get("seq"), int):
            for lost in range(1, line["seq"]):
                hashes.setdefault(lost, "")
            hashes[line["seq"]] = str(line.get("bundle_hash", ""))
    return changes, hashes


def verify_chain(records: Sequence[BundleRecord], *, public_keys: Sequence[str] = (),
                 journal: Iterable[dict[str, Any]] | None = None) -> ChainResult:
    """evidence.md §7 steps 1-5 over ``records``; chain parts split by ``chain_restart`` records
    of the journal (module docstring)."""
    lines = list(journal) if journal is not None else None
    parts: list[tuple[dict[str, Any] | None, list[dict[str, Any]]]] = [(None, [])]
    for line in lines or ():
        if line.get("event") == "chain_restart":
            parts.append((line, []))
        else:
            parts[-1][1].append(line)
    if len(parts) == 1:
        return _verify_part(records, public_keys, lines, 0, ZERO_HASH)
    groups: list[list[BundleRecord]] = [[] for _ in parts]
    for rec in records:
        groups[_part_of(rec, parts)].append(rec)
    total = ChainResult(valid=True)
    for k, ((restart, part_lines), group) in enumerate(zip(parts, groups, strict=True)):
        first = int(restart.get("first_seq", 1)) if restart is not None else 1
        if restart is not None and not check_restart(restart, list(public_keys)):
            total.verdicts.append(Verdict(first, "", "journal", "bad_restart_signature"))
            if total.valid:
                _fail(total, first, "bad_restart_signature")
            continue
        start = str(restart.get("restart_hash", "")) if restart is not None else ZERO_HASH
        res = _verify_part(group, public_keys, part_lines, first - 1, start)
        total.verdicts += res.verdicts
        total.body_missing += res.body_missing
        total.skipped += res.skipped
        if restart is not None:
            total.restarts.append({"at": restart.get("at"), "first_seq": first,
                                   "reason": restart.get("reason"),
                                   "last_known_head": restart.get("last_known_head")})
        if not res.valid and total.valid:
            _fail(total, res.first_bad_seq or 0, res.error or "invalid")
        if k == len(parts) - 1:
            total.head_seq, total.head_hash = res.head_seq, res.head_hash
    if total.valid:
        _fail(total, total.restarts[0]["first_seq"], "chain_restart")
    return total


def _part_of(rec: BundleRecord, parts: Sequence[tuple[dict[str, Any] | None,
                                                       list[dict[str, Any]]]]) -> int:
    """Which chain part a bundle belongs to: the part whose journal records its hash, or whose
    restart record its ``prev_bundle_hash`` names; else the first."""
    try:
        obj = json.loads(rec.signed_data)
        digest = hashlib.sha256(rec.signed_data.encode("ascii")).hexdigest()
    except (ValueError, UnicodeEncodeError):
        return 0
    prev = obj.get("prev_bundle_hash") if isinstance(obj, dict) else None
    hashes = {digest, rec.bundle_hash}
    for k in range(len(parts) - 1, 0, -1):
        restart, lines = parts[k]
        if restart is not None and prev == restart.get("restart_hash"):
            return k
        if any(line.get("event") == "created" and line.get("bundle_hash") in hashes
               for line in lines):
            return k
    return 0


def _verify_part(records: Sequence[BundleRecord], public_keys: Sequence[str],
                 journal: Iterable[dict[str, Any]] | None, start_seq: int,
                 start_hash: str) -> ChainResult:
    """One unbroken chain part, starting after ``(start_seq, start_hash)``."""
    changes, journal_hashes = _keys_by_seq(journal) if journal is not None else ([], {})
    result = ChainResult(valid=True)
    parsed: dict[int, tuple[BundleRecord, dict[str, Any]]] = {}
    for rec in records:
        try:
            obj = parse_strict(rec.signed_data)
        except ValueError:
            result.verdicts.append(Verdict(None, "", rec.source, "unparseable"))
            result.skipped += 1
            continue
        seq = chain_seq_of(obj)
        if seq is None:
            result.skipped += 1
            continue
        if seq in parsed:
            if parsed[seq][0].signed_data != rec.signed_data:
                result.verdicts.append(Verdict(seq, str(obj.get("bundle_id", "")), rec.source,
                                               "duplicate_seq"))
                return _fail(result, seq, "duplicate_seq")
            continue  # the same bundle from two sources
        parsed[seq] = (rec, obj)

    def key_for(seq: int, rec: BundleRecord) -> str:
        key = ""
        for start, k in changes:
            if start <= seq:
                key = k
        if not key and public_keys:
            key = public_keys[-1] if len(public_keys) == 1 else ""
        return key or rec.public_key or ""

    order = sorted(parsed)
    batch: list[Signed] = []
    for seq in order:
        rec, _ = parsed[seq]
        try:
            pk = bytes.fromhex(key_for(seq, rec))
            sig = bytes.fromhex(rec.agent_signature)
            msg = rec.signed_data.encode("ascii")
        except (ValueError, UnicodeEncodeError):
            pk, sig, msg = b"", b"", b""
        batch.append((pk, msg, sig))
    sig_ok = verify_signatures(batch)
    if len(public_keys) > 1 and not changes:
        # several candidate keys and no journal: accept any of them
        for i, seq in enumerate(order):
            if not sig_ok[i]:
                rec, _ = parsed[seq]
                alt = [(bytes.fromhex(k), batch[i][1], batch[i][2]) for k in public_keys]
                sig_ok[i] = any(verify_signatures(alt))

    prev_seq, prev_hash = start_seq, start_hash
    bad: tuple[int, str] | None = None
    for i, seq in enumerate(order):
        rec, obj = parsed[seq]
        digest = hashlib.sha256(batch[i][1]).hexdigest() if batch[i][1] else ""
        status = "ok"
        if not sig_ok[i]:
            status = "bad_signature"
        elif rec.bundle_hash is not None and rec.bundle_hash != digest:
            status = "hash_mismatch"
        elif journal_hashes.get(seq) and journal_hashes[seq] != digest:
            status = "journal_mismatch"
        elif seq != prev_seq + 1:
            gap = prev_seq + 1
            if all(s in journal_hashes for s in range(gap, seq)):
                result.body_missing.extend(range(gap, seq))
                if journal_hashes.get(seq - 1) and \
                        obj.get("prev_bundle_hash") != journal_hashes[seq - 1]:
                    status = "prev_hash_mismatch"
            else:
                status = "missing_seq"
                if bad is None:
                    bad = (gap, status)
        elif obj.get("prev_bundle_hash") != prev_hash:
            status = "prev_hash_mismatch"
        result.verdicts.append(Verdict(seq, str(obj.get("bundle_id", "")), rec.source, status))
        if status != "ok" and bad is None:
            bad = (seq, status)
        prev_seq, prev_hash = seq, digest
    for seq in sorted(journal_hashes):
        if seq > prev_seq:
            result.body_missing.append(seq)
    if bad is not None:
        return _fail(result, *bad)
    result.head_seq = prev_seq if order else start_seq
    result.head_hash = prev_hash
    return result


def _fail(result: ChainResult, seq: int, error: str) -> ChainResult:
    result.valid = False
    result.first_bad_seq = seq
    result.error = error
    return result


# --- loading a directory ---------------------------------------------------------------------

def _record(doc: Any, source: str) -> BundleRecord | None:
    if not isinstance(doc, dict):
        return None
    sd, sig = doc.get("signed_data"), doc.get("agent_signature")
    if not isinstance(sd, str) or not isinstance(sig, str):
        return None
    bh, pk = doc.get("bundle_hash"), doc.get("agent_public_key")
    return BundleRecord(sd, sig, bh if isinstance(bh, str) else None,
                        pk if isinstance(pk, str) else None, source)


def _files(path: Path) -> list[Path]:
    """The files ``evidence verify`` reads under ``path`` (one file, or a tree in name order)."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return [p for p in files if not (
        p.name.startswith(".") or p.name.endswith(".reason.json")
        or QUARANTINE_DIR in p.relative_to(path).parts[:-1])]


def _is_journal_file(p: Path) -> bool:
    return p.name.startswith("journal-") and p.suffix == ".jsonl"


def _journal_copy_line(doc: Any) -> bool:
    return isinstance(doc, dict) and "event" in doc and (
        "signed_data" not in doc or doc["event"] == "chain_restart")


def iter_records(path: Path, unreadable: list[str]) -> Iterator[BundleRecord]:
    """The bundles (``*.json`` bodies, ``*.jsonl`` exports) under ``path``, read one file at a
    time; files that cannot be read are added to ``unreadable`` as they are met."""
    for p in _files(path):
        if _is_journal_file(p):
            continue
        rel = str(p.relative_to(path)) if p != path else p.name
        if p.suffix == ".json":
            try:
                doc = json.loads(p.read_bytes())
            except (OSError, ValueError):
                unreadable.append(rel)
                continue
            # one bundle, or a list of them (rows of Central Command's stored copies)
            found = [_record(d, f"{rel}:{n}") for n, d in enumerate(doc, 1)] \
                if isinstance(doc, list) else [_record(doc, rel)]
            yield from (rec for rec in found if rec is not None)
        elif p.suffix == ".jsonl":
            yield from _jsonl_records(p, rel, unreadable)


def _jsonl_records(p: Path, rel: str, unreadable: list[str]) -> Iterator[BundleRecord]:
    """An export's bundles, a line at a time (an export of a year is hundreds of MB)."""
    try:
        with p.open("rb") as fh:
            for n, raw in enumerate(fh, 1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    unreadable.append(rel)  # what was read before stays checked
                    return
                try:
                    doc = json.loads(line)
                except ValueError:
                    continue
                if _journal_copy_line(doc):
                    continue  # an export's copy of the journal (evidence.md §5.3): journal_under
                rec = _record(doc, f"{rel}:{n}")
                if rec is not None:
                    yield rec
    except OSError:
        unreadable.append(rel)


def export_journal(path: Path) -> list[dict[str, Any]] | None:
    """An export's copy of the journal (its ``event`` lines), without reading its bundles."""
    copied: list[dict[str, Any]] = []
    for p in _files(path):
        if p.suffix != ".jsonl" or _is_journal_file(p):
            continue
        found: list[dict[str, Any]] = []
        try:
            with p.open("rb") as fh:
                for raw in fh:
                    if b'"event"' not in raw:  # a key named event is always written so
                        continue
                    try:
                        doc = json.loads(raw.decode("utf-8"))
                    except ValueError:  # UnicodeDecodeError included
                        continue
                    if _journal_copy_line(doc):
                        found.append(doc)
        except OSError:
            continue  # reported as unreadable when its bundles are read
        copied += found
    return copied or None


def load_dir(path: Path) -> tuple[list[BundleRecord], list[dict[str, Any]] | None, list[str]]:
    """Bundles (``*.json`` bodies, ``*.jsonl`` exports) under ``path`` (recursively), the journal
    lines if a journal is there (else an export's copy of the journal), and the files that could
    not be read."""
    unreadable: list[str] = []
    records = list(iter_records(path, unreadable))
    return records, journal_under(path), unreadable


def journal_under(path: Path) -> list[dict[str, Any]] | None:
    """The journal lines under ``path`` if a journal is there, else an export's copy of it."""
    journal_dirs = {p.parent for p in _files(path) if _is_journal_file(p)}
    if journal_dirs:
        return [line for d in sorted(journal_dirs) for line in read_lines(d)]
    return export_journal(path)


# --- the journal as the backbone (``evidence verify``) -----------------------------------------

@dataclass(frozen=True, slots=True)
class Entry:
    """One ``created`` journal line (or the head a ``head_recovered`` line names)."""

    part: int
    seq: int
    bundle_id: str
    bundle_hash: str
    prev_hash: str | None  # None: unknown (a head_recovered line)
    key: str  # the evidence key in effect ("" when the journal does not say)


@dataclass
class Problem:
    part: int
    seq: int | None
    error: str
    why: str


@dataclass
class JournalChain:
    """What the journal proves on its own (no bundle bodies needed)."""

    entries: dict[tuple[int, int], Entry] = field(default_factory=dict)
    by_hash: dict[str, Entry] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    restarts: list[dict[str, Any]] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)  # seqs whose journal lines a head_recovered says are lost
    linked: int = 0  # created lines whose seq, link and key were checked
    head: Entry | None = None
    part_key: dict[int, str] = field(default_factory=dict)  # the last key of each part

    @property
    def chained(self) -> bool:
        return bool(self.entries or self.restarts)


def _hex64(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def check_journal(lines: Iterable[dict[str, Any]], public_keys: Sequence[str] = ()) -> JournalChain:
    """Walk the journal: every ``created`` line continues the sequence (seq = previous + 1), links
    to the previous line's ``bundle_hash`` (64 zeros at seq 1), and is signed by the key in effect
    (a new key only after a ``key_changed`` line, a ``head_recovered`` or a ``chain_restart``);
    every ``chain_restart`` record's signature verifies and starts after the seqs before it."""
    out = JournalChain()
    part, prev_seq, prev_hash = 0, 0, ZERO_HASH
    key: str = ""
    pending_key: str | None = None
    started = False

    def bad(seq: int | None, error: str, why: str) -> None:
        out.problems.append(Problem(part, seq, error, why))

    for line in lines:
        ev = line.get("event")
        if ev == "chain_restart":
            first = line.get("first_seq")
            part += 1
            if not isinstance(first, int) or isinstance(first, bool) or first < 1:
                bad(None, "bad_restart", "a chain_restart record has no valid first_seq")
                continue
            if not check_restart(line, list(public_keys)):
                bad(first, "bad_restart_signature", f"the chain_restart record before seq {first} "
                    "does not verify (forged or altered)")
            elif started and first <= prev_seq:
                bad(first, "restart_seq", f"the chain_restart record starts at seq {first}, but "
                    f"the journal before it reaches seq {prev_seq}")
            out.restarts.append({"at": line.get("at"), "first_seq": first,
                                 "reason": line.get("reason"),
                                 "last_known_head": line.get("last_known_head")})
            prev_seq, prev_hash = first - 1, str(line.get("restart_hash", ""))
            key, pending_key, started = str(line.get("public_key", "")), None, True
        elif ev == "head_recovered":
            seq, bh = line.get("seq"), line.get("bundle_hash")
            if not isinstance(seq, int) or not _hex64(bh) or seq < prev_seq:
                bad(seq if isinstance(seq, int) else None, "bad_head_recovered",
                    "a head_recovered line names no usable head")
                continue
            out.lost.extend(range(prev_seq + 1, seq + 1))
            entry = Entry(part, seq, "", str(bh), None, str(line.get("public_key") or key))
            out.entries[(part, seq)] = entry
            out.by_hash[str(bh)] = entry
            prev_seq, prev_hash, started = seq, str(bh), True
            key = entry.key
        elif ev == "key_changed":
            if isinstance(line.get("public_key"), str):
                pending_key = line["public_key"]
        elif ev == "created":
            seq, bh, pbh = line.get("seq"), line.get("bundle_hash"), line.get("prev_bundle_hash")
            if not isinstance(seq, int) or isinstance(seq, bool) or not _hex64(bh) \
                    or not isinstance(pbh, str):
                bad(seq if isinstance(seq, int) else None, "malformed_journal_line",
                    "a created line lacks its seq, bundle_hash or prev_bundle_hash")
                continue
            pk = line.get("public_key")
            if (part, seq) in out.entries:
                bad(seq, "duplicate_seq", f"the journal records seq {seq} twice")
            elif seq > prev_seq + 1:
                bad(prev_seq + 1, "missing_seq", f"the journal has no created line for seq "
                    f"{prev_seq + 1} (seq {prev_seq} is followed by seq {seq}): a journal line "
                    "was removed")
            elif seq <= prev_seq:
                bad(seq, "seq_out_of_order", f"the journal's seq {seq} follows seq {prev_seq}")
            elif pbh != prev_hash:
                bad(seq, "prev_hash_mismatch", f"the journal's seq {seq} links to "
                    f"{pbh[:16]}…, but the hash of seq {prev_seq} is {prev_hash[:16]}…")
            if isinstance(pk, str) and pk:
                if pk == key:
                    pk = key  # one string object per key, not one per line (a year is 500k lines)
                if key and pk != key and pk != pending_key:
                    bad(seq, "key_discontinuity", f"seq {seq} is signed by a new evidence key "
                        f"({pk[:16]}…) without a key_changed line")
                key = pk
            elif pending_key:
                key = pending_key
            pending_key = None
            if public_keys and key and key not in public_keys:
                bad(seq, "untrusted_key", f"seq {seq}'s evidence key {key[:16]}… is not one of "
                    "the --pubkey keys")
            if pbh == prev_hash:
                pbh = prev_hash  # the previous line's hash object, shared
            entry = Entry(part, seq, str(line.get("bundle_id", "")), str(bh), pbh, key)
            out.entries.setdefault((part, seq), entry)
            out.by_hash.setdefault(str(bh), entry)
            out.linked += 1
            prev_seq, prev_hash, started = seq, str(bh), True
    out.part_key = {}
    for (p, _), e in sorted(out.entries.items()):
        if e.key:
            out.part_key[p] = e.key
    if out.entries:
        last_part = max(p for p, _ in out.entries)
        if last_part == part:
            out.head = out.entries[max(k for k in out.entries if k[0] == part)]
    return out


@dataclass
class Body:
    """A bundle body found somewhere, with where it came from."""

    record: BundleRecord
    kind: str  # spool, dead_letter, export, path
    file_seq: int | None = None  # from a bundle-<seq>-<id>.json name
    file_id: str | None = None


@dataclass
class Report:
    """The verdict of ``evidence verify``: valid, invalid, restarted, or nothing to verify."""

    verdict: str = "nothing"
    first_bad_seq: int | None = None
    error: str | None = None
    why: str = ""
    head_seq: int | None = None
    head_hash: str | None = None
    journal: bool = False
    linked: int = 0
    bodies_checked: int = 0
    bodies_by_kind: dict[str, int] = field(default_factory=dict)
    body_missing: list[int] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    restarts: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0

    @property
    def valid(self) -> bool:
        return self.verdict == "valid"

    def summary(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"valid": self.valid, "verdict": self.verdict}
        if self.verdict == "valid":
            doc |= {"head_seq": self.head_seq, "head_hash": self.head_hash}
        elif self.verdict == "restarted":
            doc |= {"first_bad_seq": self.first_bad_seq, "error": self.error, "restarted": True,
                    "restarts": self.restarts, "head_seq": self.head_seq,
                    "head_hash": self.head_hash}
        else:
            doc |= {"first_bad_seq": self.first_bad_seq, "error": self.error}
        return doc | {"why": self.why}

    def summary_line(self) -> str:
        if not self.journal and not self.bodies_by_kind and not self.not_checked:
            return "no journal and no bundle bodies found"
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.bodies_by_kind.items()))
        linked = (_count(self.linked, "journal entry", "journal entries") + " linked"
                  if self.journal else "no journal (bodies checked against each other only)")
        missing = ""
        if self.body_missing:
            missing = _count(len(self.body_missing), "journal entry", "journal entries") \
                + f" without a body (seq {seq_ranges(self.body_missing)})"
        unchecked = "; ".join(x for x in [missing, *self.not_checked] if x) or "nothing"
        return (f"{linked}; {_count(self.bodies_checked, 'body', 'bodies')} checked"
                + (f" ({kinds})" if kinds else "") + f"; not checked: {unchecked}")


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def seq_ranges(seqs: Sequence[int]) -> str:
    """``1–3, 7`` for ``[1, 2, 3, 7]``."""
    out: list[str] = []
    for s in sorted(set(seqs)):
        if out and out[-1].split("–")[-1] == str(s - 1):
            out[-1] = f"{out[-1].split('–')[0]}–{s}"
        else:
            out.append(str(s))
    return ", ".join(out)


#: Bodies checked per signature batch: memory stays bounded by the chunk, not the chain.
CHUNK = 4096


def _dedup_key(rec: BundleRecord) -> bytes:
    sd = rec.signed_data.encode("utf-8", "surrogatepass")
    sig = rec.agent_signature.encode("utf-8", "surrogatepass")
    return hashlib.sha256(len(sd).to_bytes(8, "big") + sd + sig).digest()


def verify_evidence(bodies: Iterable[Body], journal: Iterable[dict[str, Any]] | None, *,
                    head_record: Any = None, public_keys: Sequence[str] = (),
                    unreadable: Sequence[str] = ()) -> Report:
    """``evidence verify``: the journal's own chain (bodies or not), then every body found
    against its journal entry (signature with the key in effect, hash, link, bundle id, file
    name). Without a journal the bodies are verified as a chain of their own (§7).

    ``bodies`` is consumed once, in chunks of :data:`CHUNK` (each chunk's signatures in one
    batch), so a year of bundles is checked in bounded memory: what stays per bundle is its
    verdict and a 32-byte digest. ``unreadable`` is read after the bodies (a lazy source
    fills it as it goes)."""
    rep = Report()
    chain = check_journal(journal or (), public_keys)
    problems: list[Problem] = list(chain.problems)
    distinct: set[bytes] = set()

    def fresh(items: Iterable[Body]) -> Iterator[Body]:
        for b in items:  # the same bundle from two sources is checked once (the first source)
            k = _dedup_key(b.record)
            if k not in distinct:
                distinct.add(k)
                rep.bodies_by_kind[b.kind] = rep.bodies_by_kind.get(b.kind, 0) + 1
                yield b

    if not chain.chained:
        listed = list(fresh(bodies))
        _add_unreadable(rep, problems, unreadable)
        return _without_journal(rep, listed, public_keys, problems, journal is not None)
    rep.journal, rep.linked, rep.restarts = True, chain.linked, chain.restarts
    if chain.lost:
        rep.not_checked.append(f"journal lines lost before a head_recovered line "
                               f"(seq {seq_ranges(chain.lost)})")
    # the head record (written after each journal line) must not be ahead of the journal
    if head_record is not None and chain.head is not None:
        h = chain.head
        if head_record.seq > h.seq:
            problems.append(Problem(h.part, h.seq + 1, "missing_seq", f"the journal ends at seq "
                                    f"{h.seq} but the head record names seq {head_record.seq}: "
                                    "journal lines were removed"))
        elif head_record.seq == h.seq and head_record.bundle_hash != h.bundle_hash:
            problems.append(Problem(h.part, h.seq, "head_mismatch", f"the head record and the "
                                    f"journal disagree on the hash of seq {h.seq}"))
    seen: dict[tuple[int, int], str] = {}
    matched: set[tuple[int, int]] = set()
    chunk: list[Body] = []
    for body in fresh(bodies):
        chunk.append(body)
        if len(chunk) >= CHUNK:
            _check_chunk(chunk, chain, public_keys, rep, problems, seen, matched)
            chunk = []
    _check_chunk(chunk, chain, public_keys, rep, problems, seen, matched)
    _add_unreadable(rep, problems, unreadable)
    rep.verdicts.sort(key=lambda v: (v.seq or 0, v.source))
    have = {(e.part, e.seq) for e in chain.entries.values()} - matched
    rep.body_missing = sorted(s for (_, s) in have)
    if chain.head is not None:
        rep.head_seq, rep.head_hash = chain.head.seq, chain.head.bundle_hash
    elif chain.restarts:
        rep.head_seq = int(chain.restarts[-1]["first_seq"]) - 1
    return _conclude(rep, problems)


def _add_unreadable(rep: Report, problems: list[Problem], unreadable: Sequence[str]) -> None:
    rep.not_checked[:0] = [f"{name} (unreadable)" for name in unreadable]
    for name in unreadable:
        problems.append(Problem(0, _seq_of_name(name), "unreadable", f"{name} cannot be read"))


def _check_chunk(chunk: Sequence[Body], chain: JournalChain, public_keys: Sequence[str],
                 rep: Report, problems: list[Problem], seen: dict[tuple[int, int], str],
                 matched: set[tuple[int, int]]) -> None:
    """Every body of ``chunk`` against its journal entry; the chunk's signatures in one batch."""
    checked_batch: list[tuple[Body, dict[str, Any], str, Entry | None, str]] = []
    for body in chunk:
        rec = body.record
        try:
            obj = parse_strict(rec.signed_data)
            digest = hashlib.sha256(rec.signed_data.encode("ascii")).hexdigest()
        except (ValueError, UnicodeEncodeError):
            problems.append(Problem(0, body.file_seq, "unparseable", f"{rec.source}: signed_data "
                                    "is not strict JSON"))
            rep.verdicts.append(Verdict(body.file_seq, "", rec.source, "unparseable"))
            continue
        seq = chain_seq_of(obj)
        if seq is None:
            rep.skipped += 1
            continue
        entry = chain.by_hash.get(digest)
        if entry is None:
            same = [e for (p, s), e in chain.entries.items() if s == seq]
            link = [e for e in same if e.prev_hash == obj.get("prev_bundle_hash")]
            candidates = link or same
            entry = candidates[-1] if candidates else None
        key = (entry.key if entry is not None and entry.key else "") \
            or (public_keys[0] if len(public_keys) == 1 else "") or rec.public_key or ""
        checked_batch.append((body, obj, digest, entry, key))
    sig_ok = verify_signatures([_signed(b.record, k) for b, _, _, _, k in checked_batch])
    for (body, obj, digest, entry, _), ok in zip(checked_batch, sig_ok, strict=True):
        rec, seq = body.record, obj["chain_seq"]
        status, why = "ok", ""
        if not ok:
            status, why = "bad_signature", f"seq {seq} ({rec.source}): the signature does not " \
                "verify with the evidence key in effect"
        elif rec.bundle_hash is not None and rec.bundle_hash != digest:
            status, why = "hash_mismatch", f"seq {seq} ({rec.source}): the stated bundle_hash " \
                "is not the hash of signed_data"
        elif entry is None:
            head = chain.head
            if seq in chain.lost:
                rep.notes.append(f"seq {seq} ({rec.source}): its journal line was lost; "
                                 "signature checked only")
            elif head is not None and seq == head.seq + 1 \
                    and obj.get("prev_bundle_hash") == head.bundle_hash:
                rep.notes.append(f"seq {seq} ({rec.source}): not journaled yet (a crash before "
                                 "its journal line); the agent adopts it at its next start")
            else:
                status, why = "not_in_journal", f"seq {seq} ({rec.source}) has no entry in " \
                    "the journal"
        elif entry.bundle_hash != digest:
            status, why = "journal_mismatch", f"the body of seq {seq} ({rec.source}) hashes to " \
                f"{digest[:16]}…, the journal recorded {entry.bundle_hash[:16]}… (altered or " \
                "swapped body)"
        elif entry.seq != seq:
            status, why = "journal_mismatch", f"{rec.source} claims seq {seq}, the journal " \
                f"recorded its hash at seq {entry.seq}"
        elif entry.prev_hash is not None and obj.get("prev_bundle_hash") != entry.prev_hash:
            status, why = "prev_hash_mismatch", f"seq {seq} ({rec.source}) links to another " \
                "hash than its journal entry"
        elif entry.bundle_id and obj.get("bundle_id") != entry.bundle_id:
            status, why = "journal_mismatch", f"seq {seq} ({rec.source}): bundle_id differs " \
                "from the journal's"
        elif body.file_seq is not None and (body.file_seq != seq or body.file_id
                                            != obj.get("bundle_id")):
            status, why = "misfiled", f"{rec.source} holds seq {seq} ({obj.get('bundle_id')})"
        if entry is not None:
            matched.add((entry.part, entry.seq))
        if entry is not None and status == "ok":
            other = seen.setdefault((entry.part, seq), digest)
            if other != digest:
                status, why = "duplicate_seq", f"two different bodies for seq {seq}"
        rep.bodies_checked += 1
        rep.verdicts.append(Verdict(seq, str(obj.get("bundle_id", "")), rec.source, status))
        if status != "ok":
            part = entry.part if entry is not None else max((p for p, _ in chain.entries),
                                                               default=0)
            problems.append(Problem(part, seq, status, why))


def _signed(rec: BundleRecord, key: str) -> Signed:
    try:
        return bytes.fromhex(key), rec.signed_data.encode("ascii"), bytes.fromhex(rec.agent_signature)
    except (ValueError, UnicodeEncodeError):
        return b"", b"", b""


def _conclude(rep: Report, problems: list[Problem]) -> Report:
    if problems:
        first = min(problems, key=lambda p: (p.part, p.seq if p.seq is not None else 1 << 62))
        rep.verdict, rep.first_bad_seq, rep.error, rep.why = \
            "invalid", first.seq, first.error, first.why
    elif rep.restarts:
        rep.verdict, rep.first_bad_seq, rep.error = "restarted", rep.restarts[0]["first_seq"], \
            "chain_restart"
        rep.why = f"the chain was restarted explicitly {len(rep.restarts)} time(s) (signed " \
                  "chain_restart records); each part verified on its own"
    else:
        rep.verdict = "valid"
    return rep


def _without_journal(rep: Report, bodies: Sequence[Body], public_keys: Sequence[str],
                     problems: list[Problem], had_journal: bool) -> Report:
    """No chain in any journal: the bodies, verified as a chain of their own (§7 steps 1-3)."""
    if had_journal:
        rep.notes.append("the journal records no chained bundle")
    if not bodies:
        if problems:
            return _conclude(rep, problems)
        rep.verdict, rep.why = "nothing", "no journal entries and no bundle bodies to verify"
        return rep
    res = verify_chain([b.record for b in bodies], public_keys=public_keys)
    rep.verdicts, rep.skipped = res.verdicts, res.skipped
    rep.bodies_checked = len(res.verdicts)
    if not res.verdicts and not problems:
        rep.verdict, rep.why = "nothing", "no chained bundle among the files given"
        return rep
    rep.head_seq, rep.head_hash = res.head_seq, res.head_hash
    rep.not_checked.append("the journal (not available): keys and links checked between the "
                           "bodies only")
    if not res.valid:
        problems.append(Problem(0, res.first_bad_seq, res.error or "invalid",
                                f"seq {res.first_bad_seq}: {res.error}"))
    return _conclude(rep, problems)


def _seq_of_name(name: str) -> int | None:
    base = Path(name.split(":")[0]).name
    parts = base.split("-")
    return int(parts[1]) if len(parts) > 2 and parts[0] == "bundle" and parts[1].isdigit() \
        and len(parts[1]) == 12 else None


def iter_bodies(path: Path, kind: str, unreadable: list[str]) -> Iterator[Body]:
    """Bodies under ``path`` tagged with ``kind``, one file at a time (a spool or dead-letter
    file's name gives the seq and bundle id it must hold); unreadable files are added to
    ``unreadable`` as they are met."""
    bad: list[str] = []
    for rec in iter_records(path, bad):
        while bad:
            u = bad.pop(0)
            unreadable.append(f"{path.name}/{u}" if path.is_dir() else u)
        if path.is_dir():
            rec = replace(rec, source=f"{path.name}/{rec.source}")
        name = Path(rec.source.split(":")[0]).name
        seq = _seq_of_name(rec.source) if ":" not in rec.source else None
        file_id = name[len("bundle-") + 13:-len(".json")] if seq is not None else None
        yield Body(rec, kind, seq, file_id)
    unreadable.extend(f"{path.name}/{u}" if path.is_dir() else u for u in bad)


def load_bodies(path: Path, kind: str) -> tuple[list[Body], list[dict[str, Any]] | None, list[str]]:
    """Every body under ``path`` (:func:`iter_bodies`), an export's copy of the journal, and the
    unreadable files."""
    unreadable: list[str] = []
    bodies = list(iter_bodies(path, kind, unreadable))
    return bodies, journal_under(path), unreadable


def read_journal(chain_dir: Path) -> tuple[list[dict[str, Any]], int]:
    """Every journal line (read-only: nothing is repaired or moved) and how many were unreadable."""
    bad: list[str] = []
    lines = list(read_lines(chain_dir, unreadable=bad))
    return lines, len(bad)
