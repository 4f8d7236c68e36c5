"""Operator tools (evidence.md §5.3): ``evidence export DEST`` and ``evidence purge-exported``.

``export`` writes one JSON Lines file:

1. a header ``{"export": "msp-evidence-export/1", "at", "state_dir", "bundles", "journal_lines"}``;
2. one line per dead-letter entry, then per pending spool entry (legacy Go bundles included),
   ``{"seq", "bundle_id", "state", "reason", "signed_data", "agent_signature",
   "agent_public_key", "bundle_hash"}`` (``state`` is ``dead_letter`` or ``spool``; ``seq`` is null
   for a Go-daemon bundle; an entry whose body is not JSON also carries ``raw_base64``, so nothing
   the agent kept is missing from the export);
3. a verbatim copy of every journal line (objects with an ``event`` key).

The file is written through a temporary file (write, ``fsync``, rename, directory ``fsync``), then
the journal gets ``exported`` (``at``, ``seqs``, ``destination``), then
``evidence_chain/last_export.json`` records which dead-letter files were exported (name and
SHA-256 of their bytes). ``purge-exported`` deletes exactly those dead-letter files (and their
``.reason.json``) whose bytes are unchanged, journals ``purged`` (``at``, ``seqs``, ``operator``)
and marks the record as used. Spool entries are never deleted by these tools.

Both tools must run with the state-directory lock held (the daemon stopped): the caller does that.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.evidence.journal import Journal, segments
from agent.evidence.store import CHAIN_DIR, LEGACY_NAME
from agent.outbox import kinds
from agent.outbox.naming import SeqNaming
from agent.state.atomic import atomic_write, fsync_dir
from agent.timefmt import format_rfc3339

FORMAT = "msp-evidence-export/1"
MANIFEST = "last_export.json"
_NAMING = SeqNaming()


class ExportError(Exception):
    """The export or purge could not be done (nothing was deleted)."""


@dataclass
class ExportResult:
    destination: Path
    bundles: int = 0
    dead_letter: int = 0
    spool: int = 0
    journal_lines: int = 0
    seqs: list[int] = field(default_factory=list)


@dataclass
class PurgeResult:
    purged: list[str] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # changed since the export: kept
    export_missing: bool = False


def _entry_files(directory: Path) -> list[Path]:
    """Bundle files of a spool or dead-letter folder: ours (``bundle-<seq>-<id>.json``) in seq
    order, then the Go daemon's (``bundle-<yyyymmdd>-<hhmmss.mmm>.json``) oldest first."""
    if not directory.is_dir():
        return []
    ours: list[tuple[int, str, Path]] = []
    legacy: list[Path] = []
    for p in directory.iterdir():
        if not p.is_file() or p.name.startswith(".") or p.name.endswith(".reason.json"):
            continue
        parsed = _NAMING.parse(p.name)
        if parsed is not None:
            ours.append((parsed[0], parsed[1], p))
        elif LEGACY_NAME.fullmatch(p.name):
            legacy.append(p)
    return sorted(legacy) + [p for _, _, p in sorted(ours)]


def _line(path: Path, data: bytes, state: str) -> dict[str, Any]:
    parsed = _NAMING.parse(path.name)
    doc: Any
    try:
        doc = json.loads(data)
    except ValueError:
        doc = None
    body: dict[str, Any] = doc if isinstance(doc, dict) else {}
    reason: Any = None
    if state == "dead_letter":
        try:
            reason = json.loads(path.with_name(path.name[:-5] + ".reason.json").read_bytes()
                                ).get("reason")
        except (OSError, ValueError, AttributeError):
            reason = None

    def text(key: str) -> str | None:
        v = body.get(key)
        return v if isinstance(v, str) else None

    line: dict[str, Any] = {
        "seq": parsed[0] if parsed else None,
        "bundle_id": text("bundle_id") or (parsed[1] if parsed else None),
        "state": state, "reason": reason, "signed_data": text("signed_data"),
        "agent_signature": text("agent_signature"), "agent_public_key": text("agent_public_key"),
        "bundle_hash": text("bundle_hash")}
    if not body:
        line["raw_base64"] = base64.b64encode(data).decode()
    return line


def _journal_raw(chain_dir: Path) -> Iterator[bytes]:
    for seg in segments(chain_dir):
        for raw in seg.read_bytes().split(b"\n"):
            if raw.strip():
                yield raw


def export(state_dir: Path, dest: Path, *, clock: Any = time.time) -> ExportResult:
    """Write the export (see the module docstring); raises :class:`ExportError` or OSError."""
    dest = dest.absolute()
    if dest.is_dir():
        raise ExportError(f"{dest} is a directory; give a file name")
    if not dest.parent.is_dir():
        raise ExportError(f"{dest.parent}: no such directory")
    chain_dir = state_dir / CHAIN_DIR
    journal_file = Journal(chain_dir)  # cuts a torn last line before it is copied
    now = clock()
    result = ExportResult(destination=dest)
    dead = [(p, p.read_bytes()) for p in _entry_files(state_dir / kinds.EVIDENCE_DEAD_DIR)]
    spool = [(p, p.read_bytes()) for p in _entry_files(state_dir / kinds.EVIDENCE_DIR)]
    journal = list(_journal_raw(chain_dir))
    lines: list[bytes] = [json.dumps(
        {"export": FORMAT, "at": format_rfc3339(now), "state_dir": str(state_dir),
         "bundles": len(dead) + len(spool), "journal_lines": len(journal)},
        sort_keys=True).encode()]
    for state, entries in (("dead_letter", dead), ("spool", spool)):
        for path, data in entries:
            line = _line(path, data, state)
            if isinstance(line["seq"], int):
                result.seqs.append(line["seq"])
            lines.append(json.dumps(line, sort_keys=True).encode())
    lines += journal
    content = b"\n".join(lines) + b"\n"
    tmp = dest.with_name(f".{dest.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, dest)
    fsync_dir(dest.parent)
    result.bundles, result.dead_letter, result.spool = len(dead) + len(spool), len(dead), len(spool)
    result.journal_lines = len(journal)
    result.seqs.sort()
    journal_file.append({"event": "exported", "at": format_rfc3339(now), "seqs": result.seqs,
                               "destination": str(dest)})
    manifest = {"at": format_rfc3339(now), "destination": str(dest),
                "sha256": hashlib.sha256(content).hexdigest(),
                "dead_letter": [{"file": p.name, "seq": _seq(p.name),
                                 "sha256": hashlib.sha256(d).hexdigest()} for p, d in dead],
                "purged_at": None}
    atomic_write(chain_dir / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode(),
                 0o600)
    return result


def _seq(name: str) -> int | None:
    parsed = _NAMING.parse(name)
    return parsed[0] if parsed else None


def _operator() -> str:
    for var in ("SUDO_USER", "LOGNAME", "USER"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def purge_exported(state_dir: Path, *, clock: Any = time.time) -> PurgeResult:
    """Delete the dead-letter entries of the last export (see the module docstring)."""
    chain_dir = state_dir / CHAIN_DIR
    path = chain_dir / MANIFEST
    try:
        manifest = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise ExportError("no export recorded: run `evidence export DEST` first") from None
    except (OSError, ValueError) as exc:
        raise ExportError(f"{path}: unreadable ({exc})") from None
    if manifest.get("purged_at"):
        raise ExportError(f"the last export ({manifest.get('destination')}) was already purged "
                          f"at {manifest['purged_at']}; export again first")
    result = PurgeResult()
    dest = Path(str(manifest.get("destination", "")))
    try:
        digest = hashlib.sha256(dest.read_bytes()).hexdigest()
    except FileNotFoundError:
        result.export_missing = True  # moved off the appliance: the record is what counts
    else:
        if digest != manifest.get("sha256"):
            raise ExportError(f"{dest} changed since it was exported; nothing purged (export "
                              "again)")
    dead_dir = state_dir / kinds.EVIDENCE_DEAD_DIR
    gone: list[dict[str, Any]] = []
    for entry in manifest.get("dead_letter", []):
        name = str(entry.get("file", ""))
        if "/" in name or not name.endswith(".json"):
            continue
        p = dead_dir / name
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            gone.append(entry)  # purged by an interrupted earlier run
            continue
        if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            result.skipped.append(name)
            continue
        p.unlink()
        p.with_name(name[:-5] + ".reason.json").unlink(missing_ok=True)
        result.purged.append(name)
        gone.append(entry)
    if dead_dir.is_dir():
        fsync_dir(dead_dir)
    now = clock()
    result.seqs = sorted(int(e["seq"]) for e in gone if isinstance(e.get("seq"), int))
    line: dict[str, Any] = {"event": "purged", "at": format_rfc3339(now), "seqs": result.seqs,
                            "operator": _operator()}
    legacy = sorted(str(e["file"]) for e in gone if e.get("seq") is None)
    if legacy:
        line["legacy_files"] = legacy
    Journal(chain_dir).append(line)
    manifest["purged_at"] = format_rfc3339(now)
    atomic_write(path, json.dumps(manifest, indent=1, sort_keys=True).encode(), 0o600)
    return result
