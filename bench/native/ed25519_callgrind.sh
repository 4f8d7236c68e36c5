#!/usr/bin/env bash
# Instructions per signature spent in ed25519_verify_batch (csrc/ed25519/), counted by callgrind:
# immune to the load of a shared machine, unlike timings. Builds csrc/ed25519 with the flags of
# the shipped extension (-O2, C11) plus bench/native/ed25519_count.c, then runs each case.
#
#   bench/native/ed25519_callgrind.sh [N:KEYS ...]     (default: 64:64 1024:1 4096:1 4096:4096)
#
# Needs valgrind and libsodium-dev (signing and hashing in the driver, not counted).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CC="${CC:-gcc}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ed25519-count.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
CASES=("$@")
[ ${#CASES[@]} -gt 0 ] || CASES=(64:64 1024:1 4096:1 4096:4096)

"$CC" -std=c11 -Wall -Wextra -Werror -O2 ${EXTRA_CFLAGS:-} -I"$ROOT/csrc" \
    "$ROOT/bench/native/ed25519_count.c" "$ROOT"/csrc/ed25519/*.c -lsodium -o "$WORK/count"
printf '%-12s %14s %12s\n' "n:keys" "instructions" "per sig"
for c in "${CASES[@]}"; do
    n="${c%%:*}" keys="${c##*:}"
    valgrind --tool=callgrind --toggle-collect=ed25519_verify_batch \
        --callgrind-out-file="$WORK/out" "$WORK/count" "$n" "$keys" 2>"$WORK/log" \
        || { cat "$WORK/log" >&2; exit 1; }
    ir="$(grep -E '^(summary|totals):' "$WORK/out" | head -1 | awk '{print $2}')"
    printf '%-12s %14s %12.0f\n' "$c" "$ir" "$(echo "$ir / $n" | bc -l)"
done
