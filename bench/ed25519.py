"""Ed25519 batch verification (agent.crypto.verify_batch) against PyNaCl one by one and Go.

    python bench/ed25519.py [--quick] [--json OUT]

Per-signature microseconds for batches of 1, 16, 64, 256, 1024 and 4096 signatures of 100-byte
messages, with distinct keys (one key per signature) and with one shared key, in the same run:
the native batch verifier, PyNaCl (libsodium) verifying the same items one at a time, and Go's
crypto/ed25519.Verify (bench/go/ed25519, standard library) on the same bytes. Needs the Go
toolchain (pip install -r bench/requirements.txt).
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


def _per_sig_us(fn: Callable[[Items], list[bool]], items: Items, min_time: float) -> float:
    fn(items)  # warm up
    samples = []
    deadline = time.perf_counter() + min_time
    while True:
        t0 = time.perf_counter()
        fn(items)
        samples.append((time.perf_counter() - t0) / len(items) * 1e6)
        if time.perf_counter() > deadline and len(samples) >= 3:
            break
    return statistics.median(samples)


def _go_us(items: list[tuple[bytes, bytes, bytes]], name: str, min_time: str) -> float:
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"{name}.bin"
    with path.open("wb") as f:
        for pk, msg, sig in items:
            f.write(pk + sig + struct.pack("<I", len(msg)) + msg)
    res = run_go("ed25519", "-in", str(path), "-min-time", min_time, "-op", name)[name]
    assert res["valid"] == len(items)
    return res["ns_per_op"] / 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="shorter timing")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = ap.parse_args()
    min_time = 0.3 if args.quick else 1.5
    in_use, reason = batch_verifier_status()
    print(f"native batch verifier: {'in use' if in_use else 'not in use'} ({reason})")
    rows = []
    for shared in (False, True):
        mode = "shared key" if shared else "distinct keys"
        big = _items(max(SIZES), shared)
        go_us = _go_us(big[:1024], "shared" if shared else "distinct", "1s" if args.quick else "3s")
        for n in SIZES:
            items = big[:n]
            assert verify_batch(items) == [True] * n
            batch_us = _per_sig_us(verify_batch, items, min_time)
            nacl_us = _per_sig_us(verify_batch_pure, items, min_time)
            rows.append({"keys": mode, "n": n, "batch_us": batch_us, "pynacl_us": nacl_us, "go_us": go_us,
                         "vs_go": go_us / batch_us, "vs_pynacl": nacl_us / batch_us})
    head = f"{'keys':14} {'batch':>6} {'native µs/sig':>14} {'PyNaCl µs/sig':>14} {'Go µs/sig':>10} " \
           f"{'× Go':>6} {'× PyNaCl':>9}"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['keys']:14} {r['n']:6d} {r['batch_us']:14.1f} {r['pynacl_us']:14.1f} {r['go_us']:10.1f} "
              f"{r['vs_go']:6.2f} {r['vs_pynacl']:9.2f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
