"""An append-only, checksummed, fsynced record file (the durable layer of the order records).

Each line is ``<crc32 8 hex> <compact JSON object>\\n``. :meth:`Journal.append` writes one line with
``O_APPEND`` and fsyncs the file (and the directory when it created the file) before returning, so
a record that :meth:`append` returned for survives ``kill -9`` and power loss. A crash can only
leave a torn **last** line, which :meth:`Journal.load` drops (and truncates away); a damaged line
elsewhere is skipped and counted. :meth:`Journal.rewrite` replaces the whole file atomically
(compaction).
"""

from __future__ import annotations

import contextlib
import json
import os
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from agent.log import get_logger
from agent.state.atomic import atomic_write, fsync_dir
from agent.state.reserve import DiskReserve

log = get_logger("orders")


def encode_line(record: dict[str, Any]) -> bytes:
    body = json.dumps(record, separators=(",", ":"), sort_keys=True, ensure_ascii=True).encode()
    return b"%08x %s\n" % (zlib.crc32(body), body)


def decode_line(line: bytes) -> dict[str, Any] | None:
    if len(line) < 10 or line[8:9] != b" ":
        return None
    body = line[9:]
    try:
        if int(line[:8], 16) != zlib.crc32(body):
            return None
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class Journal:
    """One append-only file; a single writer (the order worker) at a time."""

    def __init__(self, path: Path, reserve: DiskReserve | None = None) -> None:
        self.path = path
        self.reserve = reserve
        self.lines = 0  # lines in the file (for compaction decisions)
        self.damaged = 0
        #: Damaged lines before the end (records lost; a torn last line is a normal crash).
        self.lost = 0
        self._fd: int | None = None

    def load(self) -> Iterator[dict[str, Any]]:
        """Yield every intact record in file order; drop a torn tail."""
        self.lines = 0
        self.damaged = 0
        self.lost = 0
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        good_end = 0
        pos = 0
        while pos < len(data):
            nl = data.find(b"\n", pos)
            if nl < 0:  # torn tail: no newline
                break
            record = decode_line(data[pos:nl])
            pos = nl + 1
            if record is None:
                self.damaged += 1
                if pos >= len(data):  # damaged last line: a torn write
                    break
                self.lost += 1
                log.error("orders.journal_damaged", "a damaged record line was skipped",
                          file=self.path.name)
                good_end = pos
                continue
            good_end = pos
            self.lines += 1
            yield record
        if good_end < len(data):
            with open(self.path, "r+b") as fh:
                fh.truncate(good_end)
                os.fsync(fh.fileno())

    def append(self, record: dict[str, Any]) -> None:
        self.append_all([record])

    def append_all(self, records: list[dict[str, Any]]) -> None:
        """Append records with one write and one fsync (all of them or, after a crash, a prefix
        and a torn tail that :meth:`load` drops). A failed write (a full disk) is cut off again,
        so no partial line is left for the next record to follow; with a reserve, a full disk
        releases it and the write is tried once more."""
        line = b"".join(encode_line(r) for r in records)
        if self.reserve is not None:
            self.reserve.guard(lambda: self._write(line), f"{self.path.name}")
        else:
            self._write(line)
        self.lines += len(records)

    def _write(self, line: bytes) -> None:
        if self._fd is None:
            created = not self.path.exists()
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                               0o600)
            if created:
                os.fsync(self._fd)
                fsync_dir(self.path.parent)
        end = os.fstat(self._fd).st_size
        view = memoryview(line)
        try:
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
            os.fsync(self._fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, end)
                os.fsync(self._fd)
            raise

    def rewrite(self, records: Iterable[dict[str, Any]]) -> None:
        """Replace the file atomically (compaction); on failure the old file stays as it was."""
        self.close()
        lines = [encode_line(r) for r in records]
        atomic_write(self.path, b"".join(lines), 0o600)
        self.lines = len(lines)

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
