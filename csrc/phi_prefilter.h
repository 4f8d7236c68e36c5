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

/* The candidates of one window, kept while the scan walks through it. */
typedef struct {
    size_t base;    /* first position of the window; NOPE before the first */
    uint64_t mask;  /* bit i: base + i is a candidate */
    uint64_t b64;   /* bit i: base + i may start a base64 run (a superset of b64_start) */
} window_t;
#define WINDOW_NONE {NOPE, 0, 0}

/* Whether r_base64 may start at p, as far as the window of p tells (1 when it does not cover p). */
static inline int window_b64(const window_t *win, size_t p)
{
    if (win->base == NOPE || p < win->base || p - win->base >= WIN) return 1;
    return (int)((win->b64 >> (p - win->base)) & 1);
}

/* The first candidate in [p, lim) (lim <= n), or lim: by windows, or byte by byte when the
 * tables do not allow windows. */
static inline size_t next_candidate(const dispatch_t *d, window_t *win, const unsigned char *s,
                                    size_t n, size_t p, size_t lim)
{
    if (!d->fast) return phi_next_candidate_bytes(d, s, n, p, lim);
    while (p < lim) {
        if (win->base != NOPE && p >= win->base && p - win->base < WIN) {
            uint64_t m = win->mask >> (p - win->base);
            if (m) return min2(p + (size_t)__builtin_ctzll(m), lim);
            p = win->base + WIN;
            continue;
        }
        win->base = p;
        win->mask = phi_window_at(d, s, n, p, &win->b64);
    }
    return lim;
}
#else
/* Without SSE2, the byte-by-byte filter: windows built byte by byte cost more than they save. */
typedef struct {
    int unused;
} window_t;
#define WINDOW_NONE {0}

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

#endif
