/*
 * Which positions of a text can start a rule (a superset: the scan decides exactly), so that the
 * scan skips the others without dispatching. Two filters give the same candidates:
 * phi_window_at() tests 64 positions at a time with SSE2 (x86-64), and
 * phi_next_candidate_bytes() tests byte by byte (the portable filter: what builds without SSE2,
 * e.g. aarch64, and builds with PHI_SCALAR run; the tests build and compare both). Internal.
 */
#ifndef PHI_PREFILTER_H
#define PHI_PREFILTER_H

#include <stddef.h>
#include <stdint.h>

#include "phi_rules.h"

/* The window filter uses SSE2 (every x86-64) unless PHI_SCALAR is defined. */
#if defined(__SSE2__) && !defined(PHI_SCALAR)
#define PHI_SSE2 1
#else
#define PHI_SSE2 0
#endif

#define WIN 64  /* positions of a window; it reads 2 bytes more */

static inline size_t min2(size_t a, size_t b) { return a < b ? a : b; }

/*
 * Candidates: the positions where the dispatch in scan() can find a rule to try (a superset:
 * scan() decides exactly). Outside a word: a letter or digit, or a byte of `start`; inside a
 * word (the byte before is a letter or digit): a letter or digit whose pair with the next byte
 * can start an inword rule (not skip2). The e-mail and URL anchors are not candidates: scan()
 * never skips past the next one (`due`).
 */
size_t phi_next_candidate_bytes(const dispatch_t *d, const unsigned char *s, size_t n, size_t p,
                                   size_t lim);

#if PHI_SSE2
/* Candidates of the window at s[w..] of a text of n bytes (w < n), bit i for position w + i;
 * *b64: the positions that may start a base64 run (a superset of b64_start). */
uint64_t phi_window_at(const dispatch_t *d, const unsigned char *s, size_t n, size_t w, uint64_t *b64);

/* The candidates of one window, kept while the scan walks through it. Windows are taken from
 * `buf`: the text itself (off = 0), or a batch of texts joined by NUL bytes that holds it at
 * `off` (a NUL reads like the end of a text in every table, so the candidates are the same; a
 * window then serves the end of one text and the start of the next). */
typedef struct {
    const unsigned char *buf;
    size_t len;     /* of buf */
    size_t off;     /* where the text being scanned starts in buf */
    size_t base;    /* first position (in buf) of the window; NOPE before the first */
    uint64_t mask;  /* bit i: base + i is a candidate */
    uint64_t b64;   /* bit i: base + i may start a base64 run (a superset of b64_start) */
} window_t;

static inline void window_init(window_t *win, const unsigned char *buf, size_t len, size_t off)
{
    win->buf = buf;
    win->len = len;
    win->off = off;
    win->base = NOPE;
    win->mask = win->b64 = 0;
}

/* Whether r_base64 may start at p, as far as the window of p tells (1 when it does not cover p). */
static inline int window_b64(const window_t *win, size_t p)
{
    size_t q = win->off + p;
    if (win->base == NOPE || q < win->base || q - win->base >= WIN) return 1;
    return (int)((win->b64 >> (q - win->base)) & 1);
}

/* The first candidate in [p, lim) (lim <= n) of the text s[0..n), or lim: by windows, or byte by
 * byte when the tables do not allow windows. */
static inline size_t next_candidate(const dispatch_t *d, window_t *win, const unsigned char *s,
                                    size_t n, size_t p, size_t lim)
{
    if (!d->fast) return phi_next_candidate_bytes(d, s, n, p, lim);
    size_t q = win->off + p, qlim = win->off + lim;
    while (q < qlim) {
        if (win->base != NOPE && q >= win->base && q - win->base < WIN) {
            uint64_t m = win->mask >> (q - win->base);
            if (m) return min2(q + (size_t)__builtin_ctzll(m), qlim) - win->off;
            q = win->base + WIN;
            continue;
        }
        win->base = q;
        win->mask = phi_window_at(d, win->buf, win->len, q, &win->b64);
    }
    return lim;
}
#else
/* Without SSE2, the byte-by-byte filter: windows built byte by byte cost more than they save. */
typedef struct {
    size_t off;  /* where the text being scanned starts in its batch (unused here) */
} window_t;

static inline void window_init(window_t *win, const unsigned char *buf, size_t len, size_t off)
{
    (void)buf;
    (void)len;
    win->off = off;
}

static inline int window_b64(const window_t *win, size_t p)
{
    (void)win;
    (void)p;
    return 1;
}

static inline size_t next_candidate(const dispatch_t *d, window_t *win, const unsigned char *s,
                                    size_t n, size_t p, size_t lim)
{
    (void)win;
    return phi_next_candidate_bytes(d, s, n, p, lim);
}
#endif

/* Windows for texts first..n-1 of a batch (as in phi_scan_batch): over the whole batch when its
 * texts are joined by NUL bytes (returns 1: set win->off to each text's offset), else 0 (give
 * each text windows of its own). */
static inline int batch_windows(window_t *win, const unsigned char *buf, const size_t *offsets, size_t first,
                                size_t n, size_t sep)
{
    if (sep != 1 || first >= n) return 0;
    for (size_t i = first; i + 1 < n; i++)
        if (buf[text_end(offsets, i, sep)] != 0) return 0;
    window_init(win, buf, text_end(offsets, n - 1, sep), 0);
    return 1;
}

/* Point `win` at text i of a batch (see batch_windows). */
static inline void text_windows(window_t *win, int joined, const unsigned char *buf, const size_t *offsets,
                                size_t i, size_t sep)
{
    if (joined) win->off = offsets[i];
    else window_init(win, buf + offsets[i], text_end(offsets, i, sep) - offsets[i], 0);
}

/* The scan of phi_scan_range (phi_scan.c) with the caller's windows: `win` covers the text
 * (window_init), possibly as part of a NUL-joined batch, and is kept from one text to the next. */
size_t phi_scan_window(const unsigned char *text, size_t len, size_t from, size_t stop, phi_span *out,
                       size_t cap, size_t *next, window_t *win);

#endif
