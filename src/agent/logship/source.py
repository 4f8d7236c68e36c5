"""Where journal entries come from: ``journalctl --output=json`` or a journal-format file.

Both return entries after a cursor (``__CURSOR`` values), oldest first, at most ``limit``, plus
the cursor of the last entry returned.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

JOURNALCTL_DEADLINE_S = 20.0


@dataclass
class Read:
    entries: list[dict[str, Any]] = field(default_factory=list)
    cursor: str | None = None


class CursorRejected(OSError):
    """The journal does not accept the cursor (damaged, or from another journal)."""


class Source(Protocol):
    async def read(self, after: str | None, limit: int, since: float | None = None) -> Read:
        """Entries after ``after``; without one, entries since ``since`` (epoch seconds), else
        the very first run's window. Raises :class:`CursorRejected` for an unusable cursor."""


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


#: What journalctl's exit statuses mean when it prints nothing (systemd's EXIT_* conventions).
_EXIT_MEANINGS = {
    1: "failure without a message (no journal files readable by this user, or an unusable "
       "cursor/filter; is the user in the systemd-journal group?)",
    2: "invalid arguments",
    127: "journalctl not found",
}


def exit_reason(program: str, returncode: int | None, stderr: bytes) -> str:
    """One line an operator can act on: the exit status, its meaning and the program's own
    words (never an empty reason)."""
    text = " ".join(stderr[:400].decode("utf-8", "replace").split())[:200]
    if returncode is not None and returncode < 0:
        try:
            status = f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            status = f"was killed by signal {-returncode}"
    else:
        status = f"exited {returncode}"
    if text:
        return f"{program} {status}: {text}"
    meaning = _EXIT_MEANINGS.get(returncode, "no error output") if returncode else "no error output"
    return f"{program} {status}: {meaning}"


class JournalctlSource:
    """Runs journalctl (argument list, 20 s deadline)."""

    def __init__(self, binary: str = "journalctl", extra: tuple[str, ...] = ()) -> None:
        self.binary = binary
        self.extra = extra

    def argv(self, after: str | None, limit: int, since: float | None = None) -> list[str]:
        argv = [self.binary, "--output=json", "--no-pager", "--show-cursor", f"--lines={limit}"]
        if after:
            argv.append(f"--after-cursor={after}")
        elif since is not None:
            argv.append(f"--since=@{max(0, int(since))}")
        else:
            argv.append("--since=-5m")
        return argv + list(self.extra)

    async def read(self, after: str | None, limit: int, since: float | None = None) -> Read:
        # Spawned from a worker thread with subprocess (vfork + exec): a third of the CPU of the
        # event loop's fork of the whole daemon, and the loop is not held while it runs.
        running: list[subprocess.Popen[bytes]] = []
        try:
            returncode, out, err = await asyncio.to_thread(_run, self.argv(after, limit, since),
                                                           running)
        except asyncio.CancelledError:
            for proc in running:
                proc.kill()
            raise
        if returncode != 0:
            why = exit_reason("journalctl", returncode, err)
            if after and b"cursor" in err.lower():
                raise CursorRejected(why)
            raise OSError(why)
        return parse_journal_json(out)


def _run(argv: list[str], running: list[subprocess.Popen[bytes]]) -> tuple[int, bytes, bytes]:
    """Run ``argv`` to its end within the deadline: (exit status, stdout, stderr). ``running``
    receives the process so a cancelled caller can kill it."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    running.append(proc)
    try:
        out, err = proc.communicate(timeout=JOURNALCTL_DEADLINE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise OSError(f"journalctl exceeded its {JOURNALCTL_DEADLINE_S:g} s deadline") from None
    return proc.returncode, out, err


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

    async def read(self, after: str | None, limit: int, since: float | None = None) -> Read:
        entries, index = self._load()
        if after is not None and not valid_cursor(after):
            raise CursorRejected("Failed to seek to cursor: Invalid argument")
        start = 0 if after is None else index.get(after, -1) + 1
        if after is not None and after not in index:
            start = 0  # unknown cursor (rotated away): journalctl restarts at the oldest
        if after is None and since is not None:
            start = next((i for i, e in enumerate(entries) if (_realtime_s(e) or 0.0) >= since),
                         len(entries))
        chunk = entries[start:start + limit]
        cursor = chunk[-1].get("__CURSOR") if chunk else after
        return Read(chunk, cursor if isinstance(cursor, str) else None)


def valid_cursor(text: str) -> bool:
    """A cursor as journald writes them: short printable ASCII without spaces."""
    return 0 < len(text) <= 512 and text.isascii() and text.isprintable() and " " not in text


def _realtime_s(entry: dict[str, Any]) -> float | None:
    try:
        return int(entry.get("__REALTIME_TIMESTAMP", "")) / 1_000_000
    except (TypeError, ValueError):
        return None
