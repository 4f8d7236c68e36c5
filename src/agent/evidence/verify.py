"""Offline chain verification (evidence.md §7) — ``python -m agent evidence verify DIR``.

All signatures of a run are checked by **one** call to :func:`verify_signatures`, which takes the
whole batch (public key, message, signature) at once: the native batch verifier slots in there.
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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.crypto import verify_ed25519
from agent.evidence.bundle import FORMAT, ZERO_HASH
from agent.evidence.head import QUARANTINE_DIR, check_restart
from agent.evidence.journal import read_lines

Signed = tuple[bytes, bytes, bytes]  # (public key, message, signature)


def verify_signatures(batch: Sequence[Signed]) -> list[bool]:
    """Verify many Ed25519 signatures; one verdict per entry, in order."""
    return [len(pk) == 32 and len(sig) == 64 and verify_ed25519(pk, msg, sig)
            for pk, msg, sig in batch]


@dataclass(frozen=True, slots=True)
class BundleRecord:
    signed_data: str
    agent_signature: str
    bundle_hash: str | None = None
    public_key: str | None = None
    source: str = ""


@dataclass
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
        if not isinstance(obj, dict) or obj.get("format") != FORMAT \
                or not isinstance(obj.get("chain_seq"), int):
            result.skipped += 1
            continue
        seq = obj["chain_seq"]
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


def load_dir(path: Path) -> tuple[list[BundleRecord], list[dict[str, Any]] | None, list[str]]:
    """Bundles (``*.json`` bodies, ``*.jsonl`` exports) under ``path`` (recursively), the journal
    lines if a journal is there (else an export's copy of the journal), and the files that could
    not be read."""
    records: list[BundleRecord] = []
    unreadable: list[str] = []
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    journal_dirs: set[Path] = set()
    copied: list[dict[str, Any]] = []
    for p in files:
        rel = str(p.relative_to(path)) if p != path else p.name
        if p.name.startswith(".") or p.name.endswith(".reason.json") \
                or QUARANTINE_DIR in p.relative_to(path).parts[:-1]:
            continue
        if p.name.startswith("journal-") and p.suffix == ".jsonl":
            journal_dirs.add(p.parent)
            continue
        if p.suffix == ".json":
            try:
                rec = _record(json.loads(p.read_bytes()), rel)
            except (OSError, ValueError):
                unreadable.append(rel)
                continue
            if rec is not None:
                records.append(rec)
        elif p.suffix == ".jsonl":
            try:
                lines = p.read_text().splitlines()
            except (OSError, UnicodeDecodeError):
                unreadable.append(rel)
                continue
            for n, line in enumerate(lines, 1):
                try:
                    doc = json.loads(line)
                except ValueError:
                    continue
                if isinstance(doc, dict) and "event" in doc and (
                        "signed_data" not in doc or doc["event"] == "chain_restart"):
                    copied.append(doc)  # an export's copy of the journal (evidence.md §5.3)
                    continue
                rec = _record(doc, f"{rel}:{n}")
                if rec is not None:
                    records.append(rec)
    journal: list[dict[str, Any]] | None = None
    if journal_dirs:
        journal = [line for d in sorted(journal_dirs) for line in read_lines(d)]
    elif copied:
        journal = copied
    return records, journal, unreadable
