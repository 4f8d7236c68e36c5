"""The state directory: atomic writes, the single-instance lock, key files (runtime.md §3)."""

from agent.state.atomic import atomic_write, ensure_dir, fsync_dir, quarantine, remove_stale_temp
from agent.state.keys import KeyFileError, Keys, load_or_create
from agent.state.lock import LockHeld, StateLock
from agent.state.statedir import StateDir

__all__ = [
    "KeyFileError",
    "Keys",
    "LockHeld",
    "StateDir",
    "StateLock",
    "atomic_write",
    "ensure_dir",
    "fsync_dir",
    "load_or_create",
    "quarantine",
    "remove_stale_temp",
]
