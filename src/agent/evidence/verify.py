"""Offline chain verification (evidence.md §7) — ``python -m agent evidence verify DIR``.

All signatures of a run are checked by **one** call to :func:`verify_signatures`, which takes the
whole batch (public key, message, signature) at once: the native batch verifier slots in there.
Bundles may come from any mix of sources (spool, dead-letter folder, exports as JSON Lines,
Central Command's stored copies); keys come from the journal (``created`` / ``key_changed``),
from the caller, or — as a last resort — from each bundle's own ``agent_public_key``.
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

    def summary(self) -> dict[str, Any]:
        if self.valid:
            return {"valid": True, "head_seq": self.head_seq, "head_hash": self.head_hash}
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
    """``(key changes as (from_seq, key), created hash per seq)`` from journal lines."""
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
    return changes, hashes


def verify_chain(records: Sequence[BundleRecord], *, public_keys: Sequence[str] = (),
                 journal: Iterable[dict[str, Any]] | None = None) -> ChainResult:
    """evidence.md §7 steps 1-5 over ``records``."""
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

    prev_seq, prev_hash = 0, ZERO_HASH
    bad: tuple[int, str] | None = None
    for i, seq in enumerate(order):
        rec, obj = parsed[seq]
        digest = hashlib.sha256(batch[i][1]).hexdigest() if batch[i][1] else ""
        status = "ok"
        if not sig_ok[i]:
            status = "bad_signature"
        elif rec.bundle_hash is not None and rec.bundle_hash != digest:
            status = "hash_mismatch"
        elif seq in journal_hashes and journal_hashes[seq] != digest:
            status = "journal_mismatch"
        elif seq != prev_seq + 1:
            gap = prev_seq + 1
            if all(s in journal_hashes for s in range(gap, seq)):
                result.body_missing.extend(range(gap, seq))
                if obj.get("prev_bundle_hash") != journal_hashes.get(seq - 1):
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
    result.head_seq = prev_seq if order else 0
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
        if p.name.startswith(".") or p.name.endswith(".reason.json"):
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
                if isinstance(doc, dict) and "event" in doc and "signed_data" not in doc:
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
