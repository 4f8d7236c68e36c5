"""Run every Go-baseline comparison and print one table (go-baseline.md §5).

    python bench/compare.py [--quick] [--only NAME] [--json OUT]

Each ``bench/cmp_<name>.py`` module contributes rows; Python and Go are measured back to back
in this run on the same input files, and the ratio (Go time / Python time) is reported.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BENCH, Row, format_table, rows_to_json


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller inputs and shorter timing")
    ap.add_argument("--only", action="append", default=[], help="run only cmp_NAME (repeatable)")
    ap.add_argument("--json", type=Path, help="also write the table as JSON")
    args = ap.parse_args()
    names = sorted(p.stem.removeprefix("cmp_") for p in BENCH.glob("cmp_*.py"))
    if args.only:
        names = [n for n in names if n in args.only]
    rows: list[Row] = []
    for name in names:
        mod = importlib.import_module(f"cmp_{name}")
        rows.extend(mod.rows(quick=args.quick))
        print(f"[{name}] done", file=sys.stderr)
    print(format_table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows_to_json(rows), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
