"""Opening the state directory: existence, mode 0700, the lock, stale temp files (runtime.md §4.1)."""

from __future__ import annotations

import os
from pathlib import Path

from agent.state.atomic import ensure_dir, remove_stale_temp
from agent.state.lock import StateLock


class StateDir:
    """The agent's state directory, opened and locked for the life of the process."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.lock = StateLock(self.path)
        self.notes: list[str] = []

    def open(self) -> None:
        """Create or check the directory, take the lock (raises LockHeld), clean temp files."""
        ensure_dir(self.path, 0o700)
        mode = self.path.stat().st_mode & 0o777
        if mode != 0o700:
            os.chmod(self.path, 0o700)
            self.notes.append(f"state directory mode was {mode:04o}; set to 0700")
        self.lock.acquire()
        removed = remove_stale_temp(self.path)
        if removed:
            self.notes.append(f"removed {len(removed)} stale temporary file(s)")

    def close(self) -> None:
        self.lock.release()

    def __truediv__(self, name: str) -> Path:
        return self.path / name
