/*
 * libFuzzer harness of the native PHI scanner (csrc/phi_scan.c), built with ASan + UBSan by
 * fuzz/run.sh. Any input bytes: the scanner must not read or write out of bounds, and its spans
 * must be well formed (inside the text, ascending, non-overlapping, known tags), identical
 * whether the output buffer is small (resumed scans) or large, and identical through the batch
 * API. fuzz/crosscheck.py then replays the corpus against the Python reference.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "agent_native.h"

#define SMALL 16
#define LARGE 8192

static void check(const phi_span *s, size_t n, size_t len, unsigned tags)
{
    size_t last = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i].tag >= tags || s[i].start >= s[i].end || s[i].end > len || s[i].start < last)
            __builtin_trap();
        last = s[i].end;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static phi_span big[LARGE], acc[LARGE], small[SMALL];
    static size_t counts[3];
    unsigned tags = phi_tag_count();
    size_t next = 0;

    size_t n_big = phi_scan(data, size, 0, big, LARGE, &next);
    if (next != size) return 0;  /* more spans than LARGE: nothing more to compare */
    check(big, n_big, size, tags);

    /* resumed scans with a small buffer give the same spans */
    size_t n_acc = 0, from = 0;
    for (;;) {
        size_t got = phi_scan(data, size, from, small, SMALL, &next);
        if (n_acc + got > LARGE || next < from || (got == 0 && next == from && next < size))
            __builtin_trap();
        memcpy(acc + n_acc, small, got * sizeof small[0]);
        n_acc += got;
        if (next >= size) break;
        from = next;
    }
    if (n_acc != n_big || memcmp(acc, big, n_big * sizeof big[0]) != 0) __builtin_trap();

    /* batch API: the whole input as one text, then split in two at a data-chosen point */
    size_t cut = size ? data[0] % (size + 1) : 0;
    size_t offs[4] = {0, size, size, size};
    if (phi_scan_many(data, offs, 1, acc, LARGE, counts) != 1 || counts[0] != n_big
        || memcmp(acc, big, n_big * sizeof big[0]) != 0)
        __builtin_trap();
    offs[1] = cut;
    size_t done = phi_scan_many(data, offs, 2, acc, LARGE, counts);
    if (done != 2) __builtin_trap();
    check(acc, counts[0], cut, tags);
    check(acc + counts[0], counts[1], size - cut, tags);

    /* batch scan with offsets into the buffer, then the render of the tokens */
    static size_t lines[LARGE], changed[LARGE], out_offs[LARGE + 1];
    static unsigned char h8[8 * LARGE], rendered[LARGE * 40 + 4096];
    size_t got = 0;
    offs[1] = size;
    if (phi_scan_batch(data, offs, 1, 0, 0, acc, lines, LARGE, &got) != 1 || got != n_big
        || memcmp(acc, big, n_big * sizeof big[0]) != 0)
        __builtin_trap();
    memset(h8, 'a', 8 * got);
    size_t nch = 0, need = phi_render(data, offs, 1, 0, acc, lines, got, h8, NULL, 0, NULL, NULL, &nch);
    if (need == (size_t)-1 || need > sizeof rendered) __builtin_trap();
    if (phi_render(data, offs, 1, 0, acc, lines, got, h8, rendered, need, changed, out_offs, &nch) != need
        || nch != (got ? 1u : 0u))
        __builtin_trap();
    /* the same bytes as NUL-separated texts, when the input holds NULs */
    size_t nuls = 0;
    for (size_t i = 0; i < size; i++) nuls += data[i] == 0;
    if (nuls > 0 && nuls < 64) {
        static size_t soffs[66];
        if (phi_split(data, size, soffs, nuls + 1) != nuls) __builtin_trap();
        size_t done_n = phi_scan_batch(data, soffs, nuls + 1, 1, 0, acc, lines, LARGE, &got);
        if (done_n != nuls + 1) __builtin_trap();
        memset(h8, 'b', 8 * got);
        need = phi_render(data, soffs, nuls + 1, 1, acc, lines, got, h8, NULL, 0, NULL, NULL, &nch);
        if (need == (size_t)-1 || need > sizeof rendered) __builtin_trap();
        if (phi_render(data, soffs, nuls + 1, 1, acc, lines, got, h8, rendered, need, changed, out_offs, &nch) != need)
            __builtin_trap();
    }

    /* descending offsets are rejected before anything is read */
    size_t bad[3] = {1, 0, 0};
    if (phi_scan_many(data, bad, 2, acc, LARGE, counts) != (size_t)-1) __builtin_trap();
    return 0;
}
