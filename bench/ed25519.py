"""Ed25519 batch verification (agent.crypto.verify_batch) against PyNaCl one by one and Go.

    python bench/ed25519.py [--quick] [--sizes 1,16,64] [--json OUT]

Per-signature microseconds for batches of 1, 16, 64, 256, 1024 and 4096 signatures of 100-byte
messages, with distinct keys (one key per signature) and with one shared key, in the same run:
the native batch verifier, PyNaCl (libsodium) verifying the same items one at a time, and Go's
crypto/ed25519.Verify (bench/go/ed25519, standard library) on the same bytes. Needs the Go
toolchain (pip install -r bench/requirements.txt).

Figures are CPU time per signature (user + system, of this process and of the Go process), so a
machine shared with other work still compares like with like; wall-clock figures are printed too.
Go is measured again for every row, right after the native verifier, so that each ratio compares
two figures taken under the same load (on a busy machine the load drifts within a run).
Instruction counts, which no load disturbs, come from bench/native/ed25519_callgrind.sh.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import struct
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from common import ROOT, run_go

sys.path.insert(0, str(ROOT / "src"))

import nacl.signing

from agent.crypto import batch_verifier_status, verify_batch
from agent.crypto.batch import verify_batch_pure

SIZES = (1, 16, 64, 256, 1024, 4096)
WORK = ROOT / "build" / "bench" / "ed25519"
MSG_LEN = 100


def _items(n: int, shared: bool) -> list[tuple[bytes, bytes, bytes]]:
    keys = [nacl.signing.SigningKey.generate() for _ in range(1 if shared else n)]
    out = []
    for i in range(n):
        key = keys[0 if shared else i]
        msg = os.urandom(MSG_LEN)
        out.append((bytes(key.verify_key), msg, key.sign(msg).signature))
    return out


Items = Sequence[tuple[bytes, bytes, bytes]]


def _per_sig_us(fn: Callable[[Items], list[bool]], items: Items, min_time: float) -> tuple[float, float]:
    """Median (CPU, wall) microseconds per signature."""
    fn(items)  # warm up
    cpu, wall = [], []
    deadline = time.perf_counter() + min_time
    while True:
        t0, c0 = time.perf_counter(), time.process_time()
        fn(items)
        cpu.append((time.process_time() - c0) / len(items) * 1e6)
        wall.append((time.perf_counter() - t0) / len(items) * 1e6)
        if time.perf_counter() > deadline and len(cpu) >= 5:
            break
    return statistics.median(cpu), statistics.median(wall)


def _go_us(items: list[tuple[bytes, bytes, bytes]], name: str, min_time: str) -> tuple[float, float]:
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"{name}.bin"
    with path.open("wb") as f:
        for pk, msg, sig in items:
            f.write(pk + sig + struct.pack("<I", len(msg)) + msg)
    res = run_go("ed25519", "-in", str(path), "-min-time", min_time, "-op", name)[name]
    assert res["valid"] == len(items)
    return res["cpu_ns_per_op"] / 1000, res["ns_per_op"] / 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="shorter timing")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON")
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)), help="batch sizes, comma-separated")
    args = ap.parse_args()
    sizes = sorted(int(n) for n in args.sizes.split(","))
    min_time = 0.3 if args.quick else 1.5
    go_time = "0.5s" if args.quick else "1.5s"
    in_use, reason = batch_verifier_status()
    print(f"native batch verifier: {'in use' if in_use else 'not in use'} ({reason})")
    rows = []
    for shared in (False, True):
        mode = "shared key" if shared else "distinct keys"
        big = _items(max(sizes), shared)
        for n in sizes:
            items = big[:n]
            assert verify_batch(items) == [True] * n
            batch_cpu, batch_wall = _per_sig_us(verify_batch, items, min_time)
            go_cpu, go_wall = _go_us(big[:1024], "shared" if shared else "distinct", go_time)
            nacl_cpu, nacl_wall = _per_sig_us(verify_batch_pure, items, min_time)
            rows.append({"keys": mode, "n": n, "batch_us": batch_cpu, "pynacl_us": nacl_cpu, "go_us": go_cpu,
                         "vs_go": go_cpu / batch_cpu, "vs_pynacl": nacl_cpu / batch_cpu,
                         "wall_batch_us": batch_wall, "wall_pynacl_us": nacl_wall, "wall_go_us": go_wall})
    head = (f"{'keys':14} {'batch':>6} {'native':>8} {'PyNaCl':>8} {'Go':>8} {'× Go':>6} {'× PyNaCl':>9}"
            f"   {'wall: native':>12} {'PyNaCl':>8} {'Go':>8}")
    print("CPU µs per signature (wall-clock µs per signature on the right)")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['keys']:14} {r['n']:6d} {r['batch_us']:8.1f} {r['pynacl_us']:8.1f} {r['go_us']:8.1f} "
              f"{r['vs_go']:6.2f} {r['vs_pynacl']:9.2f}   {r['wall_batch_us']:12.1f} "
              f"{r['wall_pynacl_us']:8.1f} {r['wall_go_us']:8.1f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
