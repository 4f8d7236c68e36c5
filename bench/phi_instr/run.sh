#!/usr/bin/env bash
# Instructions the native PHI scanner spends on the developer corpus (one batch of its texts,
# NUL-separated, through phi_scan_batch), counted by callgrind: repeatable where wall time is not.
#
#   bench/phi_instr/run.sh [CORPUS.jsonl]      (needs gcc and valgrind)
#
# Prints the driver's line (spans and a hash of them: must not change with a speed-up) and the
# instruction count of phi_scan_batch and everything it calls.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON="$(command -v python3)"
CORPUS="${1:-$ROOT/../shared/corpus/phi-dev.jsonl}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/phi-instr.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
"$PYTHON" - "$CORPUS" "$WORK/texts.bin" <<'PY'
import json, sys
with open(sys.argv[1], encoding="utf-8") as f:
    texts = [json.loads(line)["text"] for line in f]
with open(sys.argv[2], "wb") as out:
    out.write(b"\0".join(t.encode("utf-8", "surrogatepass") for t in texts))
PY
gcc -O2 -g -std=c11 -I"$ROOT/csrc" "$ROOT/bench/phi_instr/driver.c" "$ROOT"/csrc/phi*.c -o "$WORK/driver"
"$WORK/driver" "$WORK/texts.bin"
valgrind --tool=callgrind --toggle-collect=phi_scan_batch --callgrind-out-file="$WORK/cg.out" \
    "$WORK/driver" "$WORK/texts.bin" 2>&1 | grep -E "I +refs"
