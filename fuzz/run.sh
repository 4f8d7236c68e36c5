#!/usr/bin/env bash
# Fuzz the native PHI scanner for a bounded time, then cross-check the corpus it built against
# the Python reference. Exits non-zero on a crash, a sanitizer report or a difference.
#
#   fuzz/run.sh SECONDS
#
# Needs clang with libFuzzer (Debian: apt-get install -y clang). The corpus is kept in
# build/fuzz/corpus (seeded from the developer corpus) so later runs start where this one ended.
set -euo pipefail

SECONDS_TO_RUN="${1:?usage: fuzz/run.sh SECONDS}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON="$(command -v python3)"
CC="${CC_FUZZ:-clang}"
OUT="$ROOT/build/fuzz"
CORPUS="$OUT/corpus"
mkdir -p "$CORPUS" "$OUT/crashes"

command -v "$CC" >/dev/null || { echo "clang not found: apt-get install -y clang" >&2; exit 2; }
"$CC" -g -O1 -std=c11 -Wall -Wextra -Werror \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
    -I"$ROOT/csrc" "$ROOT/fuzz/phi_scan_fuzzer.c" "$ROOT"/csrc/*.c -o "$OUT/phi_scan_fuzzer"
# The portable scan (what CPUs without SSE2 run), replayed over the corpus after the run.
"$CC" -g -O1 -std=c11 -Wall -Wextra -Werror -DPHI_SCALAR \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
    -I"$ROOT/csrc" "$ROOT/fuzz/phi_scan_fuzzer.c" "$ROOT"/csrc/*.c -o "$OUT/phi_scan_fuzzer_scalar"

# Seeds: a slice of the developer corpus, one line per file.
if [ -z "$(ls -A "$CORPUS")" ]; then
    "$PYTHON" - "$ROOT/../shared/corpus/phi-dev.jsonl" "$CORPUS" <<'PY'
import hashlib, json, sys
from pathlib import Path
src, out = Path(sys.argv[1]), Path(sys.argv[2])
if src.is_file():
    lines = [json.loads(l)["text"] for l in src.open(encoding="utf-8")]
    for text in lines[:: max(1, len(lines) // 400)]:
        data = text.encode()
        (out / hashlib.sha1(data).hexdigest()).write_bytes(data)
PY
fi
# And the issue 17 families (tools/gen_phi_corpus.py), added to a corpus kept from older runs.
"$PYTHON" - "$ROOT/tools" "$CORPUS" <<'PY'
import hashlib, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import gen_phi_corpus
out = Path(sys.argv[2])
for rec in gen_phi_corpus.records(17, 300):
    data = str(rec["text"]).encode()
    (out / hashlib.sha1(data).hexdigest()).write_bytes(data)
PY

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
"$OUT/phi_scan_fuzzer" -max_total_time="$SECONDS_TO_RUN" -max_len=2048 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$OUT/crashes/" "$CORPUS"

"$OUT/phi_scan_fuzzer_scalar" -runs=0 -max_len=2048 -timeout=10 \
    -artifact_prefix="$OUT/crashes/" "$CORPUS"

# Cross-check native vs reference on everything the fuzzer kept (and any crash inputs).
cd "$ROOT" && "$PYTHON" fuzz/crosscheck.py "$CORPUS"

# The Ed25519 batch verifier (csrc/ed25519/), differential against libsodium (libsodium-dev):
# every verdict must equal crypto_sign_verify_detached's. Corpus in build/fuzz/ed25519_corpus.
"$CC" -g -O1 -std=c11 -Wall -Wextra -Werror \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
    -I"$ROOT/csrc" "$ROOT/fuzz/ed25519_batch_fuzzer.c" "$ROOT"/csrc/ed25519/*.c -lsodium \
    -o "$OUT/ed25519_batch_fuzzer"
mkdir -p "$OUT/ed25519_corpus"
"$OUT/ed25519_batch_fuzzer" -max_total_time="$SECONDS_TO_RUN" -max_len=1024 -timeout=20 \
    -print_final_stats=1 -artifact_prefix="$OUT/crashes/ed25519-" "$OUT/ed25519_corpus"
