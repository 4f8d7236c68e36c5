"""``evidence verify`` over a long chain: wall time, CPU seconds and peak RSS (issue 19).

    python bench/evidence_verify.py [--bundles 100000] [--keep DIR]

Builds a real chain with the agent's own :class:`EvidenceStore` (one bundle per scan, one key, the
journal, the spool; ``os.fsync`` is skipped while *building* only, to save the eMMC of this
machine minutes of flushes), then runs ``python -m agent evidence verify STATE`` as a child
process twice: with the native batch verifier and with ``MSP_AGENT_PURE_PYTHON=1`` (PyNaCl one
by one). A year of one bundle a minute is ~525,000 bundles; the default is 100,000.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build(state: Path, n: int) -> float:
    from agent.crypto import Ed25519Key
    from agent.evidence.bundle import CheckResult, ScanResult
    from agent.evidence.store import EvidenceStore, Limits

    real_fsync = os.fsync
    os.fsync = lambda fd: None  # building only; verification below runs in a child untouched
    try:
        t0 = time.perf_counter()
        clock = [1_779_289_200.0]
        store = EvidenceStore(state, Ed25519Key(bytes(range(64, 96))), "bench-site",
                              limits=Limits(spool_max_files=n + 10, spool_max_bytes=1 << 40,
                                            min_free_bytes=0),
                              clock=lambda: clock[0])
        for i in range(n):
            clock[0] += 60.0
            host = f"192.168.{i // 250 % 250}.{i % 250 + 1}"
            store.record_scan(ScanResult("linux", "2026-05-20T14:59:00Z", [host], [
                CheckResult("linux_firewall", host, "pass", hipaa_control="164.312(e)(1)")]))
        return time.perf_counter() - t0
    finally:
        os.fsync = real_fsync


def verify(state: Path, pure: bool) -> dict[str, float | int]:
    env = dict(os.environ)
    env.pop("MSP_AGENT_PURE_PYTHON", None)
    if pure:
        env["MSP_AGENT_PURE_PYTHON"] = "1"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    # A fresh child per run: ru_maxrss of RUSAGE_CHILDREN is the largest child so far, so the
    # native run (smaller) goes first.
    proc = subprocess.run([sys.executable, "-m", "agent", "evidence", "verify", str(state),
                           "--quiet"], env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"evidence verify exited {proc.returncode}: {proc.stdout}{proc.stderr}")
    return {"wall_s": wall,
            "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
            "max_rss_mib": after.ru_maxrss / 1024,
            "last_line": proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bundles", type=int, default=100_000)
    ap.add_argument("--keep", type=Path, help="build the chain here and keep it")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="msp-evbench-"))
    state = work / "state"
    try:
        if not (state / "evidence_chain").is_dir():
            built = build(state, args.bundles)
            print(f"built {args.bundles} bundles in {built:.1f} s (fsync skipped while building)")
        print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs")
        print(f"{'verifier':10} {'wall s':>8} {'CPU s':>8} {'µs CPU/bundle':>14} {'max RSS MiB':>12}")
        for pure in (False, True):
            r = verify(state, pure)
            per = float(r["cpu_s"]) / args.bundles * 1e6
            name = "pynacl" if pure else "native"
            print(f"{name:10} {r['wall_s']:8.2f} {r['cpu_s']:8.2f} {per:14.1f} "
                  f"{r['max_rss_mib']:12.1f}  {r['last_line']}")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
