/*
 * The candidate filters of the native PHI scanner (see phi_prefilter.h): the portable byte filter
 * and, on x86-64, the SSE2 window filter.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "phi_prefilter.h"

#if PHI_SSE2
#include <emmintrin.h>
#endif

/*
 * Candidates: the positions where the dispatch in scan() can find a rule to try (a superset:
 * scan() decides exactly). Outside a word: a letter or digit, or a byte of `start`; inside a
 * word (the byte before is a letter or digit): a letter or digit whose pair with the next byte
 * can start an inword rule (not skip2). The e-mail and URL anchors are not candidates: scan()
 * never skips past the next one (`due`).
 */
size_t phi_next_candidate_bytes(const dispatch_t *d, const unsigned char *s, size_t n, size_t p,
                                   size_t lim)
{
    int pv = p > 0 && d->alnum[s[p - 1]];
    for (; p < lim; p++) {
        unsigned c = s[p];
        int al = d->alnum[c];
        if (al) {
            if (!pv || !d->skip2[d->cls[c]][d->cls[p + 1 < n ? s[p + 1] : 256]]) return p;
        } else if (d->start[c]) {
            return p;
        }
        pv = al;
    }
    return lim;
}

#if PHI_SSE2
/* Bytes of v in [lo, lo + width] (unsigned), as 0xff/0x00. */
static inline __m128i in_range(__m128i v, unsigned char lo, unsigned char width)
{
    __m128i t = _mm_sub_epi8(v, _mm_set1_epi8((char)lo));
    return _mm_cmpeq_epi8(_mm_min_epu8(t, _mm_set1_epi8((char)width)), t);
}

static inline __m128i eq(__m128i v, char c) { return _mm_cmpeq_epi8(v, _mm_set1_epi8(c)); }

static inline __m128i load16(const void *p) { return _mm_loadu_si128((const __m128i *)p); }

/* Masks of a window s[w..w+64) (bit i: w + i): letters and digits, digits, where r_zip_state may
 * start (an upper-case letter, another, a space), the non-letter bytes
 * that prefilter() keeps ('-' before '-' or 'p'/'P', '(' before a digit, '+' before '1', '\\'
 * before 'r' or 'n'), and the
 * letter pairs that can start an inword rule. SSE2 version, 16 bytes at a time. */
static void window_masks(const dispatch_t *d, const unsigned char *s, size_t w, uint64_t *al,
                         uint64_t *dg, uint64_t *sp, uint64_t *pr, uint64_t *ps, uint64_t *zp)
{
    (void)d;  /* the pairs are INWORD_PAIRS here */
    uint64_t a = 0, g = 0, x = 0, r = 0, b = 0, z = 0;
    const __m128i bit5 = _mm_set1_epi8(0x20);
    for (unsigned k = 0; k < WIN; k += 16) {
        __m128i v = load16(s + w + k), vn = load16(s + w + k + 1);
        __m128i lc = _mm_or_si128(v, bit5), lcn = _mm_or_si128(vn, bit5);
        __m128i digit = in_range(v, '0', 9), letter = in_range(lc, 'a', 25);
        __m128i n_o = eq(lcn, 'o');  /* INWORD_PAIRS */
        __m128i pm = _mm_and_si128(eq(lc, 'a'), _mm_or_si128(eq(lcn, 'u'), eq(lcn, 'p')));
        pm = _mm_or_si128(pm, _mm_and_si128(eq(lc, 'c'), _mm_or_si128(n_o, eq(lcn, 'l'))));
        pm = _mm_or_si128(pm, _mm_and_si128(eq(lc, 'p'), _mm_or_si128(eq(lcn, 'a'), eq(lcn, 'w'))));
        pm = _mm_or_si128(pm, _mm_and_si128(eq(lc, 's'), eq(lcn, 'e')));
        pm = _mm_or_si128(pm, _mm_and_si128(eq(lc, 't'), n_o));
        __m128i spc = _mm_and_si128(eq(v, '-'), _mm_or_si128(eq(vn, '-'), eq(lcn, 'p')));
        spc = _mm_or_si128(spc, _mm_and_si128(eq(v, '('), in_range(vn, '0', 9)));
        spc = _mm_or_si128(spc, _mm_and_si128(eq(v, '+'), eq(vn, '1')));
        spc = _mm_or_si128(spc, _mm_and_si128(eq(v, '\\'), _mm_or_si128(eq(vn, 'r'), eq(vn, 'n'))));
        spc = _mm_or_si128(spc, _mm_and_si128(_mm_or_si128(eq(v, '"'), eq(v, '\'')), in_range(lcn, 'a', 25)));
        a |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_or_si128(digit, letter)) << k;
        g |= (uint64_t)(unsigned)_mm_movemask_epi8(digit) << k;
        x |= (uint64_t)(unsigned)_mm_movemask_epi8(spc) << k;
        r |= (uint64_t)(unsigned)_mm_movemask_epi8(pm) << k;
        b |= (uint64_t)(unsigned)_mm_movemask_epi8(_mm_or_si128(eq(v, '+'), eq(v, '/'))) << k;
        __m128i zip = _mm_and_si128(in_range(v, 'A', 25), in_range(vn, 'A', 25));
        zip = _mm_and_si128(zip, eq(load16(s + w + k + 2), ' '));
        z |= (uint64_t)(unsigned)_mm_movemask_epi8(zip) << k;
    }
    *zp = z;
    *ps = b;
    *al = a;
    *dg = g;
    *sp = x;
    *pr = r;
}

/*
 * Candidates of a window of 64 positions, bit i for position i, given q[0..66) (the window and
 * the 2 bytes after it; a NUL stands for "past the end of the text", which it equals in every
 * table used here) and whether the byte before the window is a letter or digit: a superset of
 * the positions where scan() finds a rule to try (apart from the e-mail and URL anchors). Word
 * starts are filtered without a branch per position, as prefilter() and words_at() would (see
 * fast_init); a run of digits that reaches the end of the window is kept.
 */
static uint64_t window_candidates(const dispatch_t *d, const unsigned char *q, unsigned prev_alnum,
                                  unsigned prev_b64, uint64_t *b64_starts)
{
    uint64_t al, dg, sp, pr, ps, zp;
    window_masks(d, q, 0, &al, &dg, &sp, &pr, &ps, &zp);
    uint64_t prev = (al << 1) | prev_alnum;
    uint64_t ws = al & ~prev;
    uint64_t keep = sp | (al & prev & pr) | (ws & zp);  /* zp: where r_zip_state may start */
    for (uint64_t x = ws & dg; x; x &= x - 1) {
        unsigned i = (unsigned)__builtin_ctzll(x);
        uint64_t rest = ~dg >> i;  /* bit j: i + j is not a digit (0 past the window) */
        if (rest == 0) {
            keep |= (uint64_t)1 << i;
            continue;
        }
        unsigned dn = (unsigned)__builtin_ctzll(rest);
        unsigned f = (q[i] >= '1') + (q[i] >= '2');
        keep |= ((d->digit_keep[f][q[i + dn]] >> dn) & 1) << i;
    }
    for (uint64_t x = ws & ~dg; x; x &= x - 1) {
        unsigned i = (unsigned)__builtin_ctzll(x);
        const unsigned char *c = q + i;
        keep |= ((d->triw[d->cls[c[0]]][d->cls[c[1]]] >> d->cls[c[2]]) & 1) << i;
    }
    /* base64 runs (b64_start): a start of B64_MIN base64 characters, or of a run that reaches the
     * end of the window */
    uint64_t b64 = al | ps, r = b64;
    uint64_t starts = b64 & ~((b64 << 1) | prev_b64);
    r &= r >> 1;
    r &= r >> 2;
    r &= r >> 4;
    r &= r >> 8;
    _Static_assert(B64_MIN == 16, "the run test above is for 16 characters");
    uint64_t reach = ~b64 == 0 ? ~(uint64_t)0 : (uint64_t)(~(uint64_t)0 << (63 - __builtin_clzll(~b64))) << 1;
    *b64_starts = starts & (r | reach);
    return keep | *b64_starts;
}

/* Candidates of the window at s[w..] of a text of n bytes (w < n); near the end, from a copy
 * padded with NULs, without the positions past the end. */
uint64_t phi_window_at(const dispatch_t *d, const unsigned char *s, size_t n, size_t w, uint64_t *b64)
{
    unsigned prev = w > 0 && d->alnum[s[w - 1]];
    unsigned prev_b64 = w > 0 && is_b64(s[w - 1]);
    if (n - w >= WIN + 2) return window_candidates(d, s + w, prev, prev_b64, b64);
    unsigned char pad[WIN + 2];
    size_t len = n - w;
    memset(pad, 0, sizeof pad);
    memcpy(pad, s + w, len);
    uint64_t mask = window_candidates(d, pad, prev, prev_b64, b64);
    return len >= WIN ? mask : mask & (((uint64_t)1 << len) - 1);
}

#endif
