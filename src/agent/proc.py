"""This process and its places: resident memory, liveness of a pid, the runtime directory."""

from __future__ import annotations

import os
import resource
from pathlib import Path


def runtime_dir(state_dir: Path) -> Path:
    """Where runtime files live: systemd's ``$RUNTIME_DIRECTORY``, else ``<state_dir>/run``.

    ``/run/msp-agent`` is used only when systemd provides it (through the variable); outside
    systemd (tests, demo, a developer's shell) the state directory keeps everything together.
    """
    env = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
    return Path(env) if env else state_dir / "run"


def rss_bytes() -> int:
    """Resident set size of this process (Linux ``/proc``; ru_maxrss elsewhere)."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


__all__ = ["pid_alive", "rss_bytes", "runtime_dir"]
