"""The redundant chain head and the explicit chain restart (evidence.md §3, §5).

The chain head (``seq``, ``bundle_hash``, the signing key) lives in two independently written
places: the journal's ``created`` lines, and ``evidence_chain/evidence_head.json`` (this module),
rewritten atomically (temp file, fsync, rename, fsync of the directory) **after** each journal
line. Either one recovers the other; a damaged file of either kind is moved to
``evidence_chain/quarantine/`` (never deleted).

When both are lost the chain cannot continue silently: :func:`restart_record` builds a
``chain_restart`` journal record, signed with the evidence key, naming the last head known (or
``"unknown"``) and the seq the new chain part starts at. Its ``restart_hash`` (SHA-256 of its
``signed_data``) is the ``prev_bundle_hash`` of the first bundle after it, so the new part is bound
to that one signed event; the offline verifier reports such a chain as restarted — neither valid
and unbroken, nor corrupt.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.crypto import Ed25519Key, verify_ed25519
from agent.crypto.keys import fingerprint
from agent.evidence.bundle import canonical
from agent.state.atomic import atomic_write, ensure_dir, fsync_dir

HEAD_FILE = "evidence_head.json"
QUARANTINE_DIR = "quarantine"
HEAD_FORMAT = "msp-evidence-head/1"
RESTART_FORMAT = "msp-evidence-restart/1"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class Head:
    seq: int
    bundle_hash: str
    public_key: str = ""  # hex; "" at genesis

    def doc(self) -> dict[str, Any]:
        return {"seq": self.seq, "bundle_hash": self.bundle_hash,
                "key_fingerprint": key_fingerprint(self.public_key)}


def key_fingerprint(public_hex: str) -> str:
    try:
        return fingerprint(bytes.fromhex(public_hex))
    except ValueError:
        return ""


def quarantine(path: Path, why: str) -> Path:
    """Move a damaged file into ``quarantine/`` next to it (never deleted); returns the new path."""
    qdir = ensure_dir(path.parent / QUARANTINE_DIR)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    dest = qdir / f"{path.name}.{stamp}.{why}"
    n = 1
    while dest.exists():
        n += 1
        dest = qdir / f"{path.name}.{stamp}.{why}.{n}"
    os.rename(path, dest)
    fsync_dir(qdir)
    fsync_dir(path.parent)
    return dest


def write_head(directory: Path, head: Head) -> None:
    doc = {"format": HEAD_FORMAT, "seq": head.seq, "bundle_hash": head.bundle_hash,
           "public_key": head.public_key, "key_fingerprint": key_fingerprint(head.public_key)}
    atomic_write(directory / HEAD_FILE, json.dumps(doc, sort_keys=True).encode() + b"\n", 0o600)


def read_head(directory: Path) -> tuple[Head | None, str]:
    """``(head, state)``; state is ``ok``, ``missing`` or ``damaged`` (the damaged file has been
    quarantined)."""
    path = directory / HEAD_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, "missing"
    head = parse_head(raw)
    if head is None:
        quarantine(path, "damaged")
        return None, "damaged"
    return head, "ok"


def parse_head(raw: bytes) -> Head | None:
    """A head record's content, or None when it is not a valid one (read-only)."""
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(doc, dict) or doc.get("format") != HEAD_FORMAT:
        return None
    seq, h, pk = doc.get("seq"), doc.get("bundle_hash"), doc.get("public_key")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0 \
            or not isinstance(h, str) or not _HEX64.match(h) or not isinstance(pk, str) \
            or (pk and (not _HEX64.match(pk) or doc.get("key_fingerprint") != key_fingerprint(pk))):
        return None
    return Head(seq, h, pk)


def restart_record(key: Ed25519Key, *, site_id: str, at: str, first_seq: int,
                   last_known: Head | None, reason: str) -> dict[str, Any]:
    """The signed ``chain_restart`` journal record."""
    obj = {"format": RESTART_FORMAT, "site_id": site_id, "at": at, "first_seq": first_seq,
           "reason": reason, "public_key": key.public_hex,
           "last_known_head": last_known.doc() if last_known is not None else "unknown"}
    signed = canonical(obj)
    return {"event": "chain_restart", "at": at, "first_seq": first_seq, "reason": reason,
            "last_known_head": obj["last_known_head"], "public_key": key.public_hex,
            "signed_data": signed, "agent_signature": key.sign(signed.encode("ascii")).hex(),
            "restart_hash": hashlib.sha256(signed.encode("ascii")).hexdigest()}


def check_restart(line: dict[str, Any], public_keys: tuple[str, ...] | list[str] = ()) -> bool:
    """Is this ``chain_restart`` record authentic: its signature verifies (with its own key, which
    must be one of ``public_keys`` when given), its ``restart_hash`` and fields match what was
    signed."""
    sd, sig, pk = line.get("signed_data"), line.get("agent_signature"), line.get("public_key")
    if not isinstance(sd, str) or not isinstance(sig, str) or not isinstance(pk, str):
        return False
    if public_keys and pk not in public_keys:
        return False
    try:
        msg = sd.encode("ascii")
        obj = json.loads(sd)
        ok = verify_ed25519(bytes.fromhex(pk), msg, bytes.fromhex(sig))
    except (ValueError, UnicodeEncodeError):
        return False
    return bool(ok) and isinstance(obj, dict) and obj.get("format") == RESTART_FORMAT \
        and obj.get("public_key") == pk and obj.get("first_seq") == line.get("first_seq") \
        and line.get("restart_hash") == hashlib.sha256(msg).hexdigest()
