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
        /* the batch shares its candidate windows across the NULs: the spans of each text alone */
        {
            static phi_span alone[LARGE];
            size_t k = 0;
            for (size_t i = 0; i <= nuls; i++) {
                size_t a = soffs[i], len = soffs[i + 1] - 1 - a, nx;
                size_t c = phi_scan(data + a, len, 0, alone, LARGE, &nx);
                if (nx != len) return 0;
                for (size_t j = 0; j < c; j++, k++)
                    if (k >= got || lines[k] != i || acc[k].tag != alone[j].tag || acc[k].start != a + alone[j].start
                        || acc[k].end != a + alone[j].end)
                        __builtin_trap();
            }
            if (k != got) __builtin_trap();
            /* and through a scanner context, in two calls appended (as two threads do) */
            phi_scanner *s1 = phi_scanner_new(), *s2 = phi_scanner_new();
            if (s1 == NULL || s2 == NULL) __builtin_trap();
            size_t half = (nuls + 1) / 2;
            if (phi_scanner_scan(s1, data, soffs, nuls + 1, 1, 0, half) == (size_t)-1
                || phi_scanner_scan(s2, data, soffs, nuls + 1, 1, half, nuls + 1) == (size_t)-1
                || phi_scanner_append(s1, s2, 0) != got)
                __builtin_trap();
            phi_scanner_view v = phi_scanner_results(s1);
            for (size_t j = 0; j < got; j++)
                if (v.lines[j] != lines[j] || memcmp(&v.spans[j], &acc[j], sizeof acc[j]) != 0) __builtin_trap();
            phi_scanner_free(s1);
            phi_scanner_free(s2);
        }
        memset(h8, 'b', 8 * got);
        need = phi_render(data, soffs, nuls + 1, 1, acc, lines, got, h8, NULL, 0, NULL, NULL, &nch);
        if (need == (size_t)-1 || need > sizeof rendered) __builtin_trap();
        if (phi_render(data, soffs, nuls + 1, 1, acc, lines, got, h8, rendered, need, changed, out_offs, &nch) != need)
            __builtin_trap();
    }

    /* one text cut at `cut` as the two-thread scan does: a scan up to the cut, a scan from it,
     * and the one behind walked on until both stand on the same position; then the first scan's
     * spans and the second's from there on are the spans of one scan */
    {
        static phi_span part[LARGE], walk[LARGE];
        size_t a = 0, b = cut, n1 = 0, drop = 0, n2 = phi_scan_range(data, size, cut, size, part, LARGE, &next);
        if (next != size) __builtin_trap();
        n1 = phi_scan_range(data, size, 0, cut, acc, LARGE, &a);
        if (a < cut && a < size) __builtin_trap();
        while (a != b) {
            if (b < a) {
                drop += phi_scan_range(data, size, b, a, walk, LARGE, &next);
                if (next < a && next < size) __builtin_trap();
                b = next;
            } else {
                n1 += phi_scan_range(data, size, a, b, acc + n1, LARGE - n1, &next);
                if (next < b && next < size) __builtin_trap();
                a = next;
            }
        }
        if (drop > n2 || n1 + n2 - drop != n_big || memcmp(acc, big, n1 * sizeof big[0]) != 0
            || memcmp(part + drop, big + n1, (n2 - drop) * sizeof big[0]) != 0)
            __builtin_trap();
    }

    /* distinct values with a small table (it fills up), and the render by value ids: the same
     * bytes as the render with one hash per span */
    {
        static size_t ids[LARGE], table[4];
        static phi_span uniq[LARGE];
        static unsigned char h8u[8 * LARGE], r1[LARGE * 40 + 4096], r2[LARGE * 40 + 4096];
        size_t nu = phi_dedupe(data, size, big, n_big, ids, uniq, table, 4);
        if (nu == (size_t)-1 || nu > n_big) __builtin_trap();
        for (size_t k = 0; k < n_big; k++) {
            const phi_span *u = &uniq[ids[k]];
            if (ids[k] >= nu || u->tag != big[k].tag || u->end - u->start != big[k].end - big[k].start
                || memcmp(data + u->start, data + big[k].start, u->end - u->start) != 0)
                __builtin_trap();
        }
        for (size_t j = 0; j < nu; j++)
            for (size_t i = 0; i < 8; i++) h8u[8 * j + i] = (unsigned char)('a' + (j + i) % 26);
        for (size_t k = 0; k < n_big; k++) memcpy(h8 + 8 * k, h8u + 8 * ids[k], 8);
        static size_t zl[LARGE];
        size_t nch1 = 0, nch2 = 0;
        offs[1] = size;
        size_t need1 = phi_render(data, offs, 1, 0, big, zl, n_big, h8, NULL, 0, NULL, NULL, &nch1);
        size_t need2 = phi_render_ids(data, offs, 1, 0, big, zl, n_big, ids, nu, h8u, NULL, 0, NULL, NULL, &nch2);
        if (need1 != need2 || need1 == (size_t)-1 || need1 > sizeof r1) __builtin_trap();
        if (phi_render(data, offs, 1, 0, big, zl, n_big, h8, r1, need1, changed, out_offs, &nch1) != need1
            || phi_render_ids(data, offs, 1, 0, big, zl, n_big, ids, nu, h8u, r2, need2, changed, out_offs,
                              &nch2) != need2
            || memcmp(r1, r2, need1) != 0)
            __builtin_trap();
        if (n_big && phi_render_ids(data, offs, 1, 0, big, zl, n_big, ids, 0, h8u, NULL, 0, NULL, NULL, &nch2)
                         != (size_t)-1)
            __builtin_trap();  /* an id without a hash is rejected */
    }

    /* the table of token hashes (phi_h8cache.c), small so that it fills up: a value found in it
     * has the hash stored for that (tag, value); secrets always read "00000000" */
    {
        static phi_h8_entry table[8];
        static unsigned char got[8 * LARGE], put[8 * LARGE];
        static size_t missing[LARGE];
        size_t used = 0;
        memset(table, 0, sizeof table);
        for (size_t k = 0; k < n_big; k++) {  /* a hash that depends on (tag, value) only */
            unsigned h = (unsigned)big[k].tag * 31u;
            for (size_t i = big[k].start; i < big[k].end; i++) h = h * 131u + data[i];
            for (size_t i = 0; i < 8; i++) put[8 * k + i] = (unsigned char)('a' + (h >> (3 * i)) % 26);
        }
        for (int round = 0; round < 2; round++) {
            size_t m = phi_h8_get(table, 8, data, size, big, n_big, got, missing);
            if (m > n_big) __builtin_trap();
            size_t j = 0;
            for (size_t k = 0; k < n_big; k++) {
                if (j < m && missing[j] == k) {  /* missing[] is ascending */
                    j++;
                    continue;
                }
                const char *want = big[k].tag == 15 ? "00000000" : (const char *)put + 8 * k;
                if (memcmp(got + 8 * k, want, 8) != 0) __builtin_trap();
            }
            static unsigned char found[8 * LARGE];
            for (j = 0; j < m; j++) memcpy(found + 8 * j, put + 8 * missing[j], 8);
            if (phi_h8_put(table, 8, &used, data, size, big, n_big, missing, m, found, got) == (size_t)-1
                || used > 6)
                __builtin_trap();
            for (j = 0; j < m; j++)
                if (memcmp(got + 8 * missing[j], put + 8 * missing[j], 8) != 0) __builtin_trap();
        }
    }

    /* descending offsets are rejected before anything is read */
    size_t bad[3] = {1, 0, 0};
    if (phi_scan_many(data, bad, 2, acc, LARGE, counts) != (size_t)-1) __builtin_trap();
    return 0;
}
