/*
 * Native PHI scanner, the driver: one left-to-right pass over UTF-8 bytes that finds the same
 * spans as the reference scanner (src/agent/phi/reference.py), byte for byte.
 *
 * Semantics (see reference.py): at each position the rules (phi_rules.def) are tried in table
 * order; the first that matches and passes its checks wins, its spans are kept and the scan
 * resumes where its match ends; otherwise the scan moves on by one byte. Every rule mirrors one
 * regular expression of the reference, including what that expression does when it backtracks.
 * This file skips the positions where no rule can start (phi_prefilter.c), picks the rules to
 * try at the others (the generated tables of phi_dispatch.h) and runs them (phi_rules_*.c).
 *
 * Safety: every read goes through at(), which returns -1 outside the text; no global mutable
 * state (a scan's state lives on the caller's stack, a scanner's buffers in its phi_scanner);
 * the tables are static const.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "phi_dispatch.h"
#include "phi_prefilter.h"
#include "phi_rules.h"

/* The rules, in the order of phi_rules.def (bit r of a rule set is RULES[r]). */
static const rule_fn RULES[NRULES] = {
#define RULE(fn, first, words, inword, anchor) fn,
#include "phi_rules.def"
#undef RULE
};

/* Word rules that can start at p, by its first three characters. */
static inline uint32_t words_at(const dispatch_t *d, const uint64_t (*tri)[NCLS], const unsigned char *s,
                                size_t n, size_t p)
{
    unsigned k0 = d->cls[s[p]];
    unsigned k1 = d->cls[p + 1 < n ? s[p + 1] : 256];
    unsigned k2 = d->cls[p + 2 < n ? s[p + 2] : 256];
    return (tri[k0][k1] >> k2) & 1 ? d->pair[k0][k1] : 0;
}

/* Drop rules that cannot match at p (not inside a word), by cheap necessary conditions. The
 * window filter restates them (fast_init in tools/phi_dispatch_gen.c, window_masks in
 * phi_prefilter.c): keep them in step. */
static uint32_t prefilter(const text_t *t, size_t p, uint32_t m)
{
    int c = t->s[p];
    if (is_digit(c)) {
        size_t e = run(t, p + 1, is_digit), dn = e - p;
        int nx = at(t, e);
        uint32_t keep = 0;
        if (dn == 1 && mbi_a(nx)) keep |= BIT(r_medicare);
        if (dn == 3 && (nx == '-' || nx == ' ' || nx == '.')) keep |= BIT(r_ssn);
        if ((dn == 4 && (nx == ' ' || nx == '-' || nx == '.')) || (dn >= 13 && dn <= 19)) keep |= BIT(r_cc);
        if (((dn == 3 && d29(c)) || (dn == 1 && c == '1')) && (nx == '-' || nx == '.' || nx == ' '))
            keep |= BIT(r_phone);
        if (dn == 5 && nx == '-') keep |= BIT(r_zip4);
        if (dn <= 6 && nx == ' ') {
            int f = at(t, skip_set(t, e, " "));
            if (is_upper(f) || is_digit(f)) keep |= BIT(r_address);
        }
        return m & (keep | ~DIGIT_RULES);
    }
    int c1 = at(t, p + 1);
    switch (c) {
    case '-':
        if (c1 != '-') m &= ~BIT(r_pem);
        if (lower(c1) != 'p') m &= ~BIT(r_ps_password);
        break;
    case '(':
        if (!d29(c1)) m &= ~BIT(r_phone);
        break;
    case '+':
        if (c1 != '1') m &= ~BIT(r_phone);
        break;
    case '\\':
        if (c1 != 'r' && c1 != 'n') m &= ~BIT(r_hl7);
        break;
    case '"':
    case '\'':
        if (!is_alpha(c1)) m &= ~BIT(r_json_key);
        break;
    default:
        if (!is_upper(c1) || at(t, p + 2) != ' ') m &= ~BIT(r_zip_state);
        break;
    }
    return m;
}

/*
 * The one position before the next '@' (or "://") at or after `from` where the e-mail (or URL)
 * rule can start: the start of the run of local-part (scheme) characters that ends there, if it
 * is not too long (and, for a URL, starts with a letter). The rule can start nowhere else before
 * that '@': it needs a run that ends at an '@' and no such character before it.
 */
typedef struct {
    size_t q;     /* the '@' or ':' of "://"; n when there is none; recompute when p > q */
    size_t cand;  /* NOPE when there is no candidate */
} anchor_t;

static anchor_t email_anchor(const unsigned char *s, size_t n, size_t from)
{
    anchor_t a = {n, NOPE};
    const unsigned char *q = from < n ? memchr(s + from, '@', n - from) : NULL;
    if (q == NULL) return a;
    a.q = (size_t)(q - s);
    size_t b = a.q;
    while (b > 0 && a.q - b <= EMAIL_LOCAL_MAX && is_local(s[b - 1])) b--;
    if (b < a.q && a.q - b <= EMAIL_LOCAL_MAX) a.cand = b;
    return a;
}

static anchor_t url_anchor(const unsigned char *s, size_t n, size_t from)
{
    anchor_t a = {n, NOPE};
    size_t i = from;
    for (;;) {  /* the "//" first: rarer than ':' in logs */
        const unsigned char *q = i + 1 < n ? memchr(s + i + 1, '/', n - i - 1) : NULL;
        if (q == NULL) return a;
        i = (size_t)(q - s);
        if (i + 1 < n && s[i + 1] == '/' && s[i - 1] == ':' && i - 1 >= from) break;
        i++;
    }
    a.q = --i;
    size_t b = i;
    while (b > 0 && i - b <= SCHEME_MAX && is_scheme(s[b - 1])) b--;
    if (b < i && i - b <= SCHEME_MAX && is_alpha(s[b])) a.cand = b;
    return a;
}

/*
 * Scan s[0..n) from `from` until the first position at or after `stop` that the scan stands on
 * (stop itself, or where a match across it ends), or until `out` is full. The scan is a function
 * of the position only (every cache and anchor is recomputed from it), so scanning from any
 * position that a scan from 0 stands on continues exactly like that scan.
 */
static size_t scan_at_depth(const dispatch_t *d, const unsigned char *s, size_t n, size_t from,
                            size_t stop, phi_span *out, size_t cap, size_t *next, int depth, window_t *win)
{
    text_t t = {s, n, NOPE, 0, NOPE, NOPE, NOPE, NOPE, 0, NOPE, depth};
    hit_t h;
    size_t count = 0, p = from;
    anchor_t em = email_anchor(s, n, from), url = url_anchor(s, n, from);
    /* the first position where an anchor is due: a candidate, or past its '@' or "://" */
    size_t due = min2(min2(em.cand, url.cand), min2(em.q, url.q) + 1);
    const size_t end = min2(n, stop);
    while (p < end) {
        if (p < due) {  /* nothing to do before the next candidate, or the next anchor */
            p = next_candidate(d, win, s, n, p, min2(due, end));
            if (p >= end) break;
        }
        unsigned c = s[p];
        uint32_t m;
        if (p > 0 && d->alnum[s[p - 1]] && d->alnum[c]) {
            /* inside a word: only the inword rules, which start with a few letters */
            m = words_at(d, d->tri_inw, s, n, p) & d->inword_mask;
            if (!m) {
                p++;
                continue;
            }
        } else {
            m = d->first[c];
            if (d->wordfirst[c]) m |= words_at(d, d->tri, s, n, p);
            if (p >= due) {
                /* the anchors are never inside a word: the byte before them is not a letter or
                 * digit */
                if (p > em.q) em = email_anchor(s, n, p);
                if (p > url.q) url = url_anchor(s, n, p);
                if (p == em.cand) m |= BIT(r_email);
                if (p == url.cand) m |= BIT(r_url_userinfo);
                due = min2(min2(em.cand > p ? em.cand : NOPE, url.cand > p ? url.cand : NOPE),
                           min2(em.q, url.q) + 1);
            }
            if (m) m = prefilter(&t, p, m);
            if ((!d->fast || window_b64(win, p)) && b64_start(&t, p)) m |= BIT(r_base64);
            if (!m) {
                p++;
                continue;
            }
        }
        int found = 0;
        for (; m && !found; m &= m - 1) found = RULES[__builtin_ctz(m)](&t, p, &h);
        if (!found) {
            p++;
            continue;
        }
        if (h.count > cap - count) break;
        memcpy(out + count, h.spans, h.count * sizeof h.spans[0]);
        count += h.count;
        p = h.end;
    }
    *next = p < n ? p : n;
    return count;
}

static size_t scan(const unsigned char *s, size_t n, size_t from, size_t stop, phi_span *out, size_t cap,
                   size_t *next)
{
    window_t win;
    window_init(&win, s, n, 0);
    return scan_at_depth(&PHI_DISPATCH, s, n, from, stop, out, cap, next, 0, &win);
}

size_t phi_scan_window(const unsigned char *text, size_t len, size_t from, size_t stop, phi_span *out,
                       size_t cap, size_t *next, window_t *win)
{
    return scan_at_depth(&PHI_DISPATCH, text, len, from, stop, out, cap, next, 0, win);
}

size_t phi_scan_decoded(const unsigned char *s, size_t n, phi_span *out, size_t cap)
{
    size_t next;
    window_t win;
    window_init(&win, s, n, 0);
    return scan_at_depth(&PHI_DISPATCH, s, n, 0, n, out, cap, &next, 1, &win);
}

/* ----------------------------------------------------------------------- public API */

size_t phi_scan(const unsigned char *text, size_t len, size_t from, phi_span *out, size_t cap, size_t *next)
{
    if (text == NULL || out == NULL || next == NULL) {
        if (next) *next = len;
        return 0;
    }
    return scan(text, len, from, len, out, cap, next);
}

size_t phi_scan_range(const unsigned char *text, size_t len, size_t from, size_t stop, phi_span *out,
                      size_t cap, size_t *next)
{
    if (next) *next = len;
    if (text == NULL || out == NULL || next == NULL) return 0;
    return scan(text, len, from, stop, out, cap, next);
}

size_t phi_scan_many(const unsigned char *buf, const size_t *offsets, size_t n, phi_span *out, size_t cap, size_t *counts)
{
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        size_t a = offsets[i], b = offsets[i + 1];
        if (b < a) return NOPE;
        size_t next;
        size_t c = scan(buf + a, b - a, 0, b - a, out + used, cap - used, &next);
        if (next < b - a) return i;
        counts[i] = c;
        used += c;
    }
    return n;
}

size_t phi_split(const unsigned char *buf, size_t len, size_t *offsets, size_t n)
{
    if (buf == NULL || offsets == NULL || n == 0) return NOPE;
    size_t i = 0, pos = 0;
    offsets[0] = 0;
    for (;;) {
        const unsigned char *z = pos < len ? memchr(buf + pos, 0, len - pos) : NULL;
        if (z == NULL || i + 1 >= n) break;
        pos = (size_t)(z - buf) + 1;
        offsets[++i] = pos;
    }
    if (i + 1 != n) return i;
    if (pos < len && memchr(buf + pos, 0, len - pos) != NULL) return n;  /* more NULs than texts */
    offsets[n] = len + 1;
    return i;
}

size_t phi_scan_batch(const unsigned char *buf, const size_t *offsets, size_t n, size_t sep, size_t first,
                      phi_span *out, size_t *lines, size_t cap, size_t *count)
{
    if (count) *count = 0;
    if (buf == NULL || offsets == NULL || out == NULL || lines == NULL || count == NULL || first > n)
        return NOPE;
    if (!offsets_ok(offsets, first, n, sep)) return NOPE;
    size_t used = 0, i = first;
    window_t win;
    int joined = batch_windows(&win, buf, offsets, first, n, sep);
    for (; i < n; i++) {
        size_t a = offsets[i], b = text_end(offsets, i, sep), next;
        text_windows(&win, joined, buf, offsets, i, sep);
        size_t c = phi_scan_window(buf + a, b - a, 0, b - a, out + used, cap - used, &next, &win);
        if (next < b - a) break;  /* out is full: this text is scanned again by the next call */
        for (size_t k = used; k < used + c; k++) {
            out[k].start += a;
            out[k].end += a;
            lines[k] = i;
        }
        used += c;
    }
    *count = used;
    return i;
}
