#!/usr/bin/env python3
"""Generate ``csrc/phi_dispatch.h``, the native PHI scanner's dispatch tables (which rules can
start at which bytes), from the one rule description ``csrc/phi_rules.def`` and the word lists
of ``csrc/phi_words.h``.

usage: python tools/gen_phi_dispatch.py [--check]

The tables are computed by ``tools/phi_dispatch_gen.c``, compiled with the host C compiler
(``$CC``, default ``cc``) into a temporary directory and run; the header it prints is written
(or, with ``--check``, compared with the checked-in one: exit 1 when stale; a test runs it).
Run it after changing phi_rules.def, phi_words.h or a word list of phi_tables.h, then rebuild.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from _generated import write_or_check  # noqa: E402 - tools/ is on the path

HEADER = ROOT / "csrc" / "phi_dispatch.h"
SOURCE = ROOT / "tools" / "phi_dispatch_gen.c"
COMPILE_TIMEOUT = 120.0
RUN_TIMEOUT = 30.0


def generate() -> str:
    """The header, as the generator program prints it."""
    cc = shlex.split(os.environ.get("CC", "cc"))
    with tempfile.TemporaryDirectory(prefix="phi-dispatch-") as tmp:
        exe = Path(tmp) / "phi_dispatch_gen"
        subprocess.run([*cc, "-std=c11", "-O1", "-I", str(ROOT / "csrc"), str(SOURCE), "-o", str(exe)],
                       check=True, timeout=COMPILE_TIMEOUT)
        proc = subprocess.run([str(exe)], check=True, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    return proc.stdout


def main(argv: list[str]) -> int:
    return write_or_check(HEADER, generate(), argv, "tools/gen_phi_dispatch.py")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
