"""Write a generated file, or with ``--check`` tell whether the checked-in one is up to date."""

from __future__ import annotations

import sys
from pathlib import Path


def write_or_check(path: Path, text: str, argv: list[str], generator: str) -> int:
    """0 when written (or up to date with ``--check``), 1 when ``--check`` finds it stale."""
    if "--check" in argv:
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            sys.stderr.write(f"{path} is out of date: run {generator}\n")
            return 1
        return 0
    path.write_text(text, encoding="utf-8")
    return 0
