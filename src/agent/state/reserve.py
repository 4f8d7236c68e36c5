"""The disk reserve: space set aside so that what was promised can still be written on a full disk.

``disk-reserve`` in the state directory is a preallocated file (:data:`DEFAULT_SIZE`). The writes
that keep a promise already made (an order's records and its completion, a delivered order in the
inbox) go through :meth:`DiskReserve.guard`: when one fails for lack of space, the reserve is
given back to the file system and the write is tried once more. From then on the reserve is
*in use*: new work (admitting a new order) is refused cleanly, with a reason, until the free
space is back above twice the reserve; then the reserve is taken again and work resumes.

Missing file: created at start-up (a start on an already full disk starts in use). Damaged (a
different size): re-created. The file holds zeros only.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from agent.log import get_logger

log = get_logger("state")

FILE_NAME = "disk-reserve"
DEFAULT_SIZE = 256 * 1024
_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})

T = TypeVar("T")


def no_space(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps) says the file system is full."""
    while exc is not None:
        if getattr(exc, "errno", None) in _NO_SPACE:
            return True
        exc = exc.__cause__  # type: ignore[assignment]
    return False


class DiskReserve:
    """The reserve of one state directory (``state_dir=None``: none, writes are tried once)."""

    def __init__(self, state_dir: Path | None, size: int = DEFAULT_SIZE, *,
                 free_bytes: Callable[[], int] | None = None) -> None:
        self.path = state_dir / FILE_NAME if state_dir is not None else None
        self.size = size
        self._free = free_bytes or self._statvfs_free
        #: True while the reserve is given back (the disk was full): new work is refused.
        self.in_use = False
        self.releases = 0

    # --- keeping it ----------------------------------------------------------------------

    def ensure(self) -> bool:
        """Create (or repair) the reserve file; False, and in use, when there is no room."""
        if self.path is None:
            return True
        with contextlib.suppress(OSError):
            if self.path.stat().st_size == self.size:
                self.in_use = False
                return True
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                os.ftruncate(fd, 0)
                os.posix_fallocate(fd, 0, self.size)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                self.path.unlink()
            if not self.in_use:
                log.error("state.disk_reserve_missing", f"the disk reserve could not be set aside "
                          f"({exc.strerror or exc}); new orders are refused until there is room",
                          size=self.size)
            self.in_use = True
            return False
        if self.in_use:
            log.warning("state.disk_reserve_restored", "free space is back; the disk reserve is "
                        "set aside again and new work resumes", size=self.size)
        self.in_use = False
        return True

    def available(self) -> bool:
        """True when new work may start: the reserve is in place (re-taken if space came back)."""
        if not self.in_use:
            return True
        try:
            free = self._free()
        except OSError:
            return False
        return free >= 2 * self.size and self.ensure()

    # --- spending it ---------------------------------------------------------------------

    def release(self, why: str) -> bool:
        """Give the reserve back to the file system; False when there was none left."""
        if self.path is None:
            return False
        try:
            self.path.unlink()
        except FileNotFoundError:
            self.in_use = True
            return False
        self.in_use = True
        self.releases += 1
        log.error("state.disk_full", f"the state file system is full; the disk reserve was "
                  f"released to write {why}; new work is refused until space returns",
                  size=self.size)
        return True

    def guard(self, write: Callable[[], T], what: str) -> T:
        """Run ``write``; if it fails for lack of space, release the reserve and try once more.
        ``write`` must leave nothing behind when it fails (the journal truncates, atomic writes
        remove their temporary file)."""
        try:
            return write()
        except Exception as exc:
            if not no_space(exc) or not self.release(what):
                raise
        return write()

    def _statvfs_free(self) -> int:
        assert self.path is not None
        return shutil.disk_usage(self.path.parent).free
