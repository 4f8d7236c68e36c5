"""Where journal entries come from: ``journalctl --output=json`` or a journal-format file.

Both return entries after a cursor (``__CURSOR`` values), oldest first, at most ``limit``, plus
the cursor of the last entry returned.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

JOURNALCTL_DEADLINE_S = 20.0


@dataclass
class Read:
    entries: list[dict[str, Any]] = field(default_factory=list)
    cursor: str | None = None


class Source(Protocol):
    async def read(self, after: str | None, limit: int) -> Read:
        """Entries after ``after`` (None: the very first run)."""


def parse_journal_json(text: bytes) -> Read:
    """``journalctl --output=json --show-cursor`` output: one JSON object per line, then
    ``-- cursor: <c>``. Unparseable lines are skipped."""
    out = Read()
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith(b"-- cursor:"):
            out.cursor = line[len(b"-- cursor:"):].strip().decode("utf-8", "replace")
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict):
            out.entries.append(doc)
    if out.cursor is None and out.entries:
        cur = out.entries[-1].get("__CURSOR")
        out.cursor = cur if isinstance(cur, str) else None
    return out


class JournalctlSource:
    """Runs journalctl (argument list, 20 s deadline)."""

    def __init__(self, binary: str = "journalctl", extra: tuple[str, ...] = ()) -> None:
        self.binary = binary
        self.extra = extra

    def argv(self, after: str | None, limit: int) -> list[str]:
        argv = [self.binary, "--output=json", "--no-pager", "--show-cursor", f"--lines={limit}"]
        argv.append(f"--after-cursor={after}" if after else "--since=-5m")
        return argv + list(self.extra)

    async def read(self, after: str | None, limit: int) -> Read:
        proc = await asyncio.create_subprocess_exec(
            *self.argv(after, limit), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            async with asyncio.timeout(JOURNALCTL_DEADLINE_S):
                out, err = await proc.communicate()
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise OSError("journalctl exceeded its 20 s deadline") from None
        if proc.returncode != 0:
            raise OSError(f"journalctl exited {proc.returncode}: "
                          f"{err[:200].decode('utf-8', 'replace')}")
        return parse_journal_json(out)


class FileSource:
    """A file of ``journalctl --output=json`` lines (tests, benchmark, demo). Entries after the
    one whose ``__CURSOR`` equals ``after``; None starts at the beginning."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cache: tuple[float, list[dict[str, Any]], dict[str, int]] | None = None

    def _load(self) -> tuple[list[dict[str, Any]], dict[str, int]]:
        mtime = self.path.stat().st_mtime_ns
        if self._cache is None or self._cache[0] != mtime:
            entries = parse_journal_json(self.path.read_bytes()).entries
            index = {str(e.get("__CURSOR")): i for i, e in enumerate(entries)}
            self._cache = (mtime, entries, index)
        return self._cache[1], self._cache[2]

    async def read(self, after: str | None, limit: int) -> Read:
        entries, index = self._load()
        start = 0 if after is None else index.get(after, -1) + 1
        if after is not None and after not in index:
            start = 0  # unknown cursor (rotated away): journalctl restarts at the oldest
        chunk = entries[start:start + limit]
        cursor = chunk[-1].get("__CURSOR") if chunk else after
        return Read(chunk, cursor if isinstance(cursor, str) else None)
