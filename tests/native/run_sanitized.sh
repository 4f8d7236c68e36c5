#!/usr/bin/env bash
# Build the native core with AddressSanitizer + UBSan into a temporary tree (the normal in-place
# build is left alone) and run the PHI differential tests against it, with the ASan runtime
# preloaded into Python. Exits non-zero on any test failure or sanitizer report.
#
#   tests/native/run_sanitized.sh [extra pytest args]
#
# Needs gcc with libasan/libubsan (Debian: gcc; nothing else to install).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON="$(command -v python3)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/msp-asan.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# 1. A copy of the package without the normal extension, plus a sanitized build of it.
mkdir -p "$WORK/pkg" "$WORK/build"
cp -r "$ROOT/csrc" "$WORK/build/csrc"  # cffi compiles in its tmpdir; sources are relative
cp -r "$ROOT/src/agent" "$WORK/pkg/agent"
find "$WORK/pkg/agent" -name '_native*.so' -delete
find "$WORK/pkg/agent" -name '__pycache__' -prune -exec rm -rf {} +
(cd "$ROOT" && MSP_AGENT_SANITIZE=1 "$PYTHON" - "$WORK" <<'PY'
import importlib.util, shutil, sys
from pathlib import Path

work = Path(sys.argv[1])
spec = importlib.util.spec_from_file_location("native_build", "src/agent/_native_build.py")
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
so = Path(mod.ffibuilder.compile(tmpdir=str(work / "build"), verbose=False))
shutil.copy(so, work / "pkg" / "agent" / so.name)
print(f"sanitized build: {so.name}")
PY
)

ASAN_LIB="$(gcc -print-file-name=libasan.so)"
UBSAN_LIB="$(gcc -print-file-name=libubsan.so)"
export LD_PRELOAD="$ASAN_LIB:$UBSAN_LIB"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export PYTHONPATH="$WORK/pkg${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1
unset MSP_AGENT_PURE_PYTHON

# 2. The sanitized extension must be the one in use.
"$PYTHON" - "$WORK" <<'PY'
import sys
import agent, agent.phi
from agent import native
assert agent.__file__.startswith(sys.argv[1]), agent.__file__
assert native.NATIVE, native.STATUS
assert agent.phi.IMPLEMENTATION == "native"
print("using", agent.__file__)
PY

# 3. The differential and category tests, plus a pass over random bytes. test_native_scalar.py
#    builds the portable scan (PHI_SCALAR), sanitized as well, and checks it against the
#    reference and the SSE2 build; test_native_h8cache.py the table of token hashes;
#    test_native_buffers.py the scanner contexts (phi_scanner);
#    test_ed25519_batch.py the Ed25519 batch verifier against PyNaCl (test_ed25519_portable.py
#    its build without unsigned __int128).
LOG="$WORK/pytest.log"
set +e
(cd "$ROOT" && MSP_AGENT_SANITIZE=1 "$PYTHON" -m pytest -q -p no:cacheprovider \
    tests/phi/test_differential.py tests/phi/test_categories.py tests/phi/test_native_scalar.py \
    tests/phi/test_native_h8cache.py tests/phi/test_native_buffers.py tests/crypto/test_ed25519_batch.py \
    tests/crypto/test_ed25519_portable.py "$@") 2>&1 | tee "$LOG"
status=${PIPESTATUS[0]}
"$PYTHON" - 2>&1 <<'PY' | tee -a "$LOG"
import random
from agent.phi.native_scan import NativeScanner
scan = NativeScanner()
rng = random.Random(7)
for i in range(20000):
    data = bytes(rng.randrange(256) for _ in range(rng.randrange(200)))
    scan.find_spans(data.decode("utf-8", "surrogateescape"))
print("random bytes: ok")
PY
rand=${PIPESTATUS[0]}
set -e
if grep -qE "ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer" "$LOG"; then
    echo "sanitizer reported an error" >&2
    exit 1
fi
[ "$status" -eq 0 ] && [ "$rand" -eq 0 ] || { echo "sanitized run failed" >&2; exit 1; }
echo "sanitized run: ok"
