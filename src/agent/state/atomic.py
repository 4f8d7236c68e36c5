"""Atomic, durable file writes (runtime.md §3.4) — the one helper every state file uses.

A write creates ``.<name>.tmp.<random>`` in the target's directory with the final mode,
writes and fsyncs it, renames it over the target and fsyncs the directory. After a power
loss the target is the old or the new version, never empty or partial.

``durable=False`` (volatile files only — the status file and the metrics textfile, rewritten
whenever they change and judged stale by their readers) skips both fsyncs: readers still never see
a partial file (the rename is atomic), but after a power loss the target may be the old version,
empty or missing.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

from agent.timefmt import format_compact

_TMP_MARK = ".tmp."


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """fsync a directory so a rename or creation inside it is durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike[str], data: bytes, mode: int = 0o600, *,
                 durable: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically and (unless ``durable=False``) durably, with
    permission ``mode``."""
    target = Path(path)
    directory = target.parent
    tmp = directory / f".{target.name}{_TMP_MARK}{secrets.token_hex(6)}"
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, mode)
    try:
        os.fchmod(fd, mode)  # the umask must not widen or narrow the final mode
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    try:
        os.rename(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(directory)


def ensure_dir(path: str | os.PathLike[str], mode: int = 0o700) -> Path:
    """Create ``path`` (and parents) with ``mode`` if missing, fsyncing each parent."""
    p = Path(path)
    missing: list[Path] = []
    cur = p
    while not cur.exists():
        missing.append(cur)
        cur = cur.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, mode)
        except FileExistsError:
            continue
        os.chmod(d, mode)
        fsync_dir(d.parent)
    return p


def remove_stale_temp(directory: str | os.PathLike[str], recursive: bool = True) -> list[Path]:
    """Remove leftover ``.*.tmp.*`` files of interrupted writes; return what was removed."""
    removed: list[Path] = []
    root = Path(directory)
    if not root.is_dir():
        return removed
    walker = root.rglob(".*") if recursive else root.glob(".*")
    for p in walker:
        if _TMP_MARK in p.name and p.is_file() and not p.is_symlink():
            with contextlib.suppress(OSError):
                p.unlink()
                removed.append(p)
    return removed


def quarantine(path: str | os.PathLike[str]) -> Path:
    """Rename a state file that failed to parse to ``<name>.corrupt.<timestamp>``."""
    p = Path(path)
    dest = p.with_name(f"{p.name}.corrupt.{format_compact()}")
    os.rename(p, dest)
    fsync_dir(p.parent)
    return dest


def read_json_object(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """A small state file's JSON object: ``None`` when absent; :class:`ValueError` when unreadable,
    not JSON, or not an object (callers log it and start from empty state)."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ValueError(f"unreadable: {type(exc).__name__}") from exc
    obj = json.loads(raw)
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    return obj

