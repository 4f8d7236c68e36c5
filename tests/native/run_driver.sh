#!/usr/bin/env bash
# The C core (csrc/) without Python: the standalone driver (tests/native/driver.c) run against
# the differential vectors of tools/gen_native_vectors.py (PHI spans and scrubbed outputs of the
# Python reference, Ed25519 verdicts of PyNaCl), built four ways:
#   x86_64   the shipped build (SSE2 window filter, unsigned __int128)
#   x86_64   the portable build (-DPHI_SCALAR -DED25519_PORTABLE), under ASan + UBSan
#   aarch64  cross-compiled, run under qemu-aarch64 (no SSE2: the scalar scan; __int128)
#   aarch64  the same with -DED25519_PORTABLE
# Exits non-zero on any difference, naming the missing tool when one is missing.
#
#   tests/native/run_driver.sh
#
# Needs (Debian 12): gcc, gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, qemu-user; ../shared
# beside the repository (the developer corpus and the shared vectors); a Python with the test
# extras (PYTHON, default .venv/bin/python). There is no binfmt_misc here: the aarch64 binaries
# are launched through qemu-aarch64 directly, with the cross libc as its -L prefix.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON="$(command -v python3)"
SHARED="${SHARED:-$ROOT/../shared}"
CROSS_CC="${CROSS_CC:-aarch64-linux-gnu-gcc}"
CROSS_PREFIX="${CROSS_PREFIX:-/usr/aarch64-linux-gnu}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/msp-driver.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

missing() { echo "run_driver: $1 not found (Debian: apt-get install $2)" >&2; exit 2; }
command -v gcc >/dev/null || missing gcc gcc
command -v "$CROSS_CC" >/dev/null || missing "$CROSS_CC" gcc-aarch64-linux-gnu
[ -e "$CROSS_PREFIX/lib/ld-linux-aarch64.so.1" ] || missing "$CROSS_PREFIX/lib/ld-linux-aarch64.so.1" libc6-arm64-cross
command -v qemu-aarch64 >/dev/null || missing qemu-aarch64 qemu-user

t0=$SECONDS
"$PYTHON" "$ROOT/tools/gen_native_vectors.py" --shared "$SHARED" "$WORK/vectors.txt"

FLAGS=(-std=c11 -Wall -Wextra -Werror -O2 -I"$ROOT/csrc")
SRCS=("$ROOT/tests/native/driver.c" "$ROOT"/csrc/*.c "$ROOT"/csrc/ed25519/*.c)
SAN=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)

gcc "${FLAGS[@]}" "${SRCS[@]}" -o "$WORK/driver-x86_64"
gcc "${FLAGS[@]}" -DPHI_SCALAR -DED25519_PORTABLE "${SAN[@]}" "${SRCS[@]}" -o "$WORK/driver-x86_64-portable"
"$CROSS_CC" "${FLAGS[@]}" "${SRCS[@]}" -o "$WORK/driver-aarch64"
"$CROSS_CC" "${FLAGS[@]}" -DED25519_PORTABLE "${SRCS[@]}" -o "$WORK/driver-aarch64-portable"
for b in driver-aarch64 driver-aarch64-portable; do  # really built for the other architecture
    readelf -h "$WORK/$b" | grep -q 'Machine: *AArch64' || { echo "run_driver: $b is not an aarch64 binary" >&2; exit 1; }
done

echo "-- x86_64 (SSE2 scan, __int128)"
"$WORK/driver-x86_64" "$WORK/vectors.txt"
echo "-- x86_64 portable (scalar scan, no __int128), ASan + UBSan"
ASAN_OPTIONS="detect_leaks=0:abort_on_error=1" UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
    "$WORK/driver-x86_64-portable" "$WORK/vectors.txt"
echo "-- aarch64 under qemu-aarch64 (scalar scan, __int128)"
qemu-aarch64 -L "$CROSS_PREFIX" "$WORK/driver-aarch64" "$WORK/vectors.txt"
echo "-- aarch64 under qemu-aarch64 (scalar scan, no __int128)"
qemu-aarch64 -L "$CROSS_PREFIX" "$WORK/driver-aarch64-portable" "$WORK/vectors.txt"
echo "native driver: ok ($((SECONDS - t0)) s)"
