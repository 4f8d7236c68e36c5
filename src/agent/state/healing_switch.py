"""``<state_dir>/healing_enabled``: the server's healing switch (the ``enable_healing`` /
``disable_healing`` orders write ``true`` / ``false``). One reader for everyone.

A missing file means on (the default). A file that says neither ``true`` nor ``false`` — damaged,
unreadable, not UTF-8 — means **off**, the safe value (no change is made to a clinic's hosts on an
instruction nobody can read), and is reported at ERROR (once per distinct content).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from agent.log import get_logger

log = get_logger("healing")

HEALING_FILE: Final = "healing_enabled"
_reported: set[bytes] = set()


def healing_switch(state_dir: Path) -> bool:
    """True when the server has not switched healing off."""
    path = Path(state_dir) / HEALING_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return True
    except OSError as exc:
        return _damaged(raw=f"unreadable: {exc.strerror}".encode(), path=path)
    text = raw.strip().lower()
    if text == b"true":
        return True
    if text == b"false":
        return False
    return _damaged(raw=raw[:64], path=path)


def _damaged(*, raw: bytes, path: Path) -> bool:
    if raw not in _reported:
        _reported.add(raw)
        log.error("healing.switch_damaged", f"{path.name} is neither 'true' nor 'false'; healing "
                  "stays off until the server sends enable_healing or the file is fixed",
                  file=str(path))
    return False
