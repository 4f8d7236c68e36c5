"""The evidence chain journal (evidence.md §5.1): ``evidence_chain/journal-<6 digits>.jsonl``.

Append-only, one JSON object per line, each line written with ``O_APPEND`` and fsynced before
:meth:`Journal.append` returns; a new segment every 10,000 lines; never deleted automatically.
A line torn by a crash (no trailing newline) was never acknowledged: it is cut off when the
journal is opened, so the next line does not run into it. Unparseable lines are skipped by readers.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agent.log import get_logger
from agent.state.atomic import ensure_dir, fsync_dir

log = get_logger("evidence")

SEGMENT_LINES = 10_000


def segment_name(n: int) -> str:
    return f"journal-{n:06d}.jsonl"


def segments(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    out = [p for p in directory.glob("journal-*.jsonl")
           if len(p.stem) == 14 and p.stem[8:].isdigit()]
    return sorted(out)


def read_lines(directory: Path) -> Iterator[dict[str, Any]]:
    """Every parseable journal line, oldest first (a torn or corrupt line is skipped)."""
    for seg in segments(directory):
        try:
            data = seg.read_bytes()
        except OSError:
            continue
        for raw in data.split(b"\n"):
            if not raw.strip():
                continue
            try:
                doc = json.loads(raw)
            except ValueError:
                continue
            if isinstance(doc, dict):
                yield doc


class Journal:
    def __init__(self, directory: Path, *, segment_lines: int = SEGMENT_LINES) -> None:
        self.dir = ensure_dir(directory)
        self.segment_lines = segment_lines
        self._lock = threading.Lock()
        segs = segments(self.dir)
        self._segment = int(segs[-1].stem[8:]) if segs else 1
        self._lines = self._repair(self.dir / segment_name(self._segment))

    def _repair(self, path: Path) -> int:
        """Cut a torn last line; return the segment's line count."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return 0
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            log.warning("evidence.journal_torn_line", "journal ended in an incomplete line (a "
                        "crash while appending); it is removed", segment=path.name)
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.ftruncate(fd, keep)
                os.fsync(fd)
            finally:
                os.close(fd)
            data = data[:keep]
        return data.count(b"\n")

    def append(self, event: dict[str, Any]) -> None:
        """Append one line and fsync it (raises OSError when the disk refuses)."""
        line = json.dumps(event, sort_keys=True, separators=(",", ":")).encode() + b"\n"
        with self._lock:
            if self._lines >= self.segment_lines:
                self._segment += 1
                self._lines = 0
            path = self.dir / segment_name(self._segment)
            new = not path.exists()
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                start = os.lseek(fd, 0, os.SEEK_END)
                try:
                    view = memoryview(line)
                    while view:
                        view = view[os.write(fd, view):]
                    os.fsync(fd)
                except OSError:
                    # Disk full mid-line: take the partial line back so the file stays parseable.
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, start)
                        os.fsync(fd)
                    raise
            finally:
                os.close(fd)
            if new:
                fsync_dir(self.dir)
            self._lines += 1

    def lines(self) -> Iterator[dict[str, Any]]:
        return read_lines(self.dir)
