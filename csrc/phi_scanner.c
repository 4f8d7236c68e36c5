/*
 * One scanner's context (phi_scanner, opaque to callers): the buffers of one scrub, owned by the
 * scanner and grown as needed, so that a batch is scanned, de-duplicated and rendered in one
 * native call each with results in memory of ours. A scanner is used by one thread at a time;
 * it holds no pointer into the caller's text between calls.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "phi_internal.h"
#include "phi_prefilter.h"

#define MIN_SPANS 256
#define MIN_ROOM 32             /* the most spans one match yields, and some */

struct phi_scanner {
    phi_span *spans;
    size_t *lines;
    size_t count, cap;
    phi_span *uniq;
    size_t *ids;
    size_t nuniq, ucap;
    size_t *table;
    size_t tcap;
    unsigned char *out;
    size_t out_len, out_cap;
    size_t *changed, *out_offsets;
    size_t nchanged, ccap;
};

phi_scanner *phi_scanner_new(void) { return calloc(1, sizeof(phi_scanner)); }

void phi_scanner_free(phi_scanner *sc)
{
    if (sc == NULL) return;
    free(sc->spans);
    free(sc->lines);
    free(sc->uniq);
    free(sc->ids);
    free(sc->table);
    free(sc->out);
    free(sc->changed);
    free(sc->out_offsets);
    free(sc);
}

void phi_scanner_clear(phi_scanner *sc)
{
    if (sc == NULL) return;
    sc->count = sc->nuniq = sc->out_len = sc->nchanged = 0;
}

/* Room for `more` spans after the ones kept; 0 when memory runs out. */
static int span_room(phi_scanner *sc, size_t more)
{
    if (more > SIZE_MAX / 2 / sizeof(phi_span) - sc->count) return 0;
    size_t need = sc->count + more;
    if (need <= sc->cap) return 1;
    size_t cap = sc->cap ? sc->cap : MIN_SPANS;
    while (cap < need) cap *= 2;
    phi_span *s = realloc(sc->spans, cap * sizeof *s);
    if (s == NULL) return 0;
    sc->spans = s;
    size_t *l = realloc(sc->lines, cap * sizeof *l);
    if (l == NULL) return 0;
    sc->lines = l;
    sc->cap = cap;
    return 1;
}

/* Spans of text[from..) until the scan stands at or after stop (phi_scan_range), offsets moved by
 * `base`, all of text `line`; returns where the scan stopped, or NOPE when memory runs out. */
static size_t scan_into(phi_scanner *sc, const unsigned char *text, size_t len, size_t from, size_t stop,
                        size_t base, size_t line, window_t *win)
{
    for (;;) {
        if (!span_room(sc, MIN_ROOM)) return NOPE;
        size_t next, k = sc->count;
        size_t got = phi_scan_window(text, len, from, stop, sc->spans + k, sc->cap - k, &next, win);
        for (size_t j = k; j < k + got; j++) {
            sc->spans[j].start += base;
            sc->spans[j].end += base;
            sc->lines[j] = line;
        }
        sc->count += got;
        if (next >= stop || next >= len) return next;
        if (!span_room(sc, sc->cap)) return NOPE;  /* full: twice the room, go on from there */
        from = next;
    }
}

size_t phi_scanner_scan(phi_scanner *sc, const unsigned char *buf, const size_t *offsets, size_t n, size_t sep,
                        size_t first, size_t last)
{
    if (sc == NULL || buf == NULL || offsets == NULL || first > last || last > n) return NOPE;
    if (!offsets_ok(offsets, first, last, sep)) return NOPE;
    window_t win;
    int joined = batch_windows(&win, buf, offsets, first, last, sep);
    for (size_t i = first; i < last; i++) {
        size_t a = offsets[i], len = text_end(offsets, i, sep) - a;
        text_windows(&win, joined, buf, offsets, i, sep);
        if (scan_into(sc, buf + a, len, 0, len, a, i, &win) == NOPE) return NOPE;
    }
    return sc->count;
}

size_t phi_scanner_scan_range(phi_scanner *sc, const unsigned char *text, size_t len, size_t from, size_t stop,
                              size_t *next)
{
    if (next) *next = len;
    if (sc == NULL || text == NULL || next == NULL) return NOPE;
    window_t win;
    window_init(&win, text, len, 0);
    size_t k = sc->count, at = scan_into(sc, text, len, from, stop, 0, 0, &win);
    if (at == NOPE) return NOPE;
    *next = at;
    return sc->count - k;
}

size_t phi_scanner_append(phi_scanner *sc, const phi_scanner *other, size_t skip)
{
    if (sc == NULL || other == NULL || sc == other || skip > other->count) return NOPE;
    size_t more = other->count - skip;
    if (!span_room(sc, more)) return NOPE;
    memcpy(sc->spans + sc->count, other->spans + skip, more * sizeof *sc->spans);
    memcpy(sc->lines + sc->count, other->lines + skip, more * sizeof *sc->lines);
    sc->count += more;
    return sc->count;
}

size_t phi_scanner_dedupe(phi_scanner *sc, const unsigned char *buf, size_t len, size_t max_table)
{
    if (sc == NULL || buf == NULL || max_table < 2 || (max_table & (max_table - 1)) != 0) return NOPE;
    size_t n = sc->count;
    sc->nuniq = 0;
    if (n == 0) return 0;
    if (n > sc->ucap) {
        phi_span *u = realloc(sc->uniq, n * sizeof *u);
        if (u == NULL) return NOPE;
        sc->uniq = u;
        size_t *ids = realloc(sc->ids, n * sizeof *ids);
        if (ids == NULL) return NOPE;
        sc->ids = ids;
        sc->ucap = n;
    }
    size_t tcap = 2;
    while (tcap < 2 * n && tcap < max_table) tcap *= 2;
    if (tcap > sc->tcap) {
        size_t *t = realloc(sc->table, tcap * sizeof *t);
        if (t == NULL) return NOPE;
        sc->table = t;
        sc->tcap = tcap;
    }
    size_t nu = phi_dedupe(buf, len, sc->spans, n, sc->ids, sc->uniq, sc->table, tcap);
    if (nu != NOPE) sc->nuniq = nu;
    return nu;
}

size_t phi_scanner_render(phi_scanner *sc, const unsigned char *buf, const size_t *offsets, size_t n, size_t sep,
                          const unsigned char *h8, size_t nh8)
{
    if (sc == NULL) return NOPE;
    sc->out_len = sc->nchanged = 0;
    const size_t *ids = sc->nuniq ? sc->ids : NULL;
    size_t size = phi_render_ids(buf, offsets, n, sep, sc->spans, sc->lines, sc->count, ids, nh8, h8, NULL, 0,
                                 NULL, NULL, NULL);
    if (size == NOPE) return NOPE;
    if (size > sc->out_cap || sc->out == NULL) {
        unsigned char *o = realloc(sc->out, size ? size : 1);
        if (o == NULL) return NOPE;
        sc->out = o;
        sc->out_cap = size ? size : 1;
    }
    if (sc->count + 1 > sc->ccap) {
        size_t *c = realloc(sc->changed, (sc->count + 1) * sizeof *c);
        if (c == NULL) return NOPE;
        sc->changed = c;
        size_t *o = realloc(sc->out_offsets, (sc->count + 1) * sizeof *o);
        if (o == NULL) return NOPE;
        sc->out_offsets = o;
        sc->ccap = sc->count + 1;
    }
    size_t nchanged = 0;
    size_t got = phi_render_ids(buf, offsets, n, sep, sc->spans, sc->lines, sc->count, ids, nh8, h8, sc->out,
                                sc->out_cap, sc->changed, sc->out_offsets, &nchanged);
    if (got != size) return NOPE;
    sc->out_len = got;
    sc->nchanged = nchanged;
    return got;
}

phi_scanner_view phi_scanner_results(const phi_scanner *sc)
{
    phi_scanner_view v;
    memset(&v, 0, sizeof v);
    if (sc == NULL) return v;
    v.spans = sc->spans;
    v.lines = sc->lines;
    v.count = sc->count;
    v.uniq = sc->uniq;
    v.ids = sc->ids;
    v.nuniq = sc->nuniq;
    v.out = sc->out;
    v.out_len = sc->out_len;
    v.changed = sc->changed;
    v.out_offsets = sc->out_offsets;
    v.nchanged = sc->nchanged;
    return v;
}
