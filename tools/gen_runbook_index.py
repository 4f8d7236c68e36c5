#!/usr/bin/env python3
"""Generate ``src/agent/runbooks/index.json``: every packaged ``runbook.yaml`` parsed (YAML 1.2,
as the registry parses it), with the SHA-256 of the file, so the daemon's start parses only a
runbook whose file no longer matches (``agent.runbooks.registry``).

usage: python tools/gen_runbook_index.py [--check]

Run it after changing a runbook's ``runbook.yaml``; ``--check`` exits 1 when the checked-in
index is stale (a test runs it). A stale index costs start-up time, never correctness.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "src"))

from _generated import write_or_check  # noqa: E402 - tools/ is on the path

from agent.runbooks.registry import DATA_DIR, INDEX, index_document  # noqa: E402


def main(argv: list[str]) -> int:
    text = json.dumps(index_document(DATA_DIR), indent=1, sort_keys=True, ensure_ascii=False)
    return write_or_check(INDEX, text + "\n", argv, "python tools/gen_runbook_index.py")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
