"""The evidence chain journal (evidence.md §5.1): ``evidence_chain/journal-<6 digits>.jsonl``.

Append-only, one JSON object per line, each line written with ``O_APPEND`` and fsynced before
:meth:`Journal.append` returns; a new segment every 10,000 lines; never deleted automatically.
A line torn by a crash (no trailing newline) was never acknowledged: it is cut off when the
journal is opened, so the next line does not run into it. Nothing is ever deleted: when a segment
needs repair (a torn last line: WARNING; unparseable lines or an empty segment: damage, ERROR,
listed in :attr:`Journal.damaged`), the original file is moved to ``quarantine/``
(:func:`agent.evidence.head.quarantine`) and its parseable lines are written back atomically.
Readers skip unparseable lines.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agent.evidence.head import quarantine
from agent.log import get_logger
from agent.state.atomic import atomic_write, ensure_dir, fsync_dir

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


def read_lines(directory: Path, *, unreadable: list[str] | None = None
               ) -> Iterator[dict[str, Any]]:
    """Every parseable journal line, oldest first (a torn or corrupt line is skipped, and named
    in ``unreadable`` when given)."""
    for seg in segments(directory):
        try:
            data = seg.read_bytes()
        except OSError:
            if unreadable is not None:
                unreadable.append(seg.name)
            continue
        for n, raw in enumerate(data.split(b"\n"), 1):
            if not raw.strip():
                continue
            try:
                doc = json.loads(raw)
            except ValueError:
                doc = None
            if isinstance(doc, dict):
                yield doc
            elif unreadable is not None:
                unreadable.append(f"{seg.name}:{n}")


class Journal:
    def __init__(self, directory: Path, *, segment_lines: int = SEGMENT_LINES) -> None:
        self.dir = ensure_dir(directory)
        self.segment_lines = segment_lines
        self._lock = threading.Lock()
        #: Damaged segments found when opening (each quarantined): ``"<name>: <what>"``.
        self.damaged: list[str] = []
        for seg in segments(self.dir):
            self._salvage(seg)
        segs = segments(self.dir)
        self._segment = int(segs[-1].stem[8:]) if segs else 1
        try:
            self._lines = (self.dir / segment_name(self._segment)).read_bytes().count(b"\n")
        except FileNotFoundError:
            self._lines = 0

    def _salvage(self, path: Path) -> None:
        """Repair one segment: quarantine the original, keep its parseable lines."""
        try:
            data = path.read_bytes()
        except OSError as exc:
            self.damaged.append(f"{path.name}: unreadable ({exc.strerror})")
            log.error("evidence.journal_damaged", "journal segment unreadable", segment=path.name)
            return
        end = data.rfind(b"\n") + 1
        good: list[bytes] = []
        bad = 0
        for raw in data[:end].split(b"\n"):
            if not raw.strip():
                continue
            try:
                ok = isinstance(json.loads(raw), dict)
            except ValueError:
                ok = False
            if ok:
                good.append(raw)
            else:
                bad += 1
        if data and not bad and end == len(data):
            return
        if bad or not good:
            what = "empty" if not data else f"{bad} unparseable line(s)" if bad else "no whole line"
            self.damaged.append(f"{path.name}: {what}")
            moved = quarantine(path, "damaged")
            log.error("evidence.journal_damaged", f"journal segment damaged ({what}); moved to "
                      "quarantine, its readable lines kept", segment=path.name,
                      quarantined=moved.name, lines_kept=len(good))
        else:
            moved = quarantine(path, "torn")
            log.warning("evidence.journal_torn_line", "journal ended in an incomplete line (a "
                        "crash while appending); the original is kept in quarantine",
                        segment=path.name, quarantined=moved.name)
        if good:
            atomic_write(path, b"\n".join(good) + b"\n", 0o600)

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
