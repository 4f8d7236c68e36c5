/*
 * Tokens (see agent_native.h): the renderer that replaces each span of a batch by its token, and
 * the de-duplication of span values (so that each distinct value is hashed once). The spans come
 * from the scanner (phi_scan.c); the hashes from Python or the table of phi_h8cache.c.
 *
 * Safety: every span and offset is checked before anything is written; no allocation.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "phi_internal.h"

static const char *const TAG_NAMES[] = {PHI_TAG_NAMES};
_Static_assert(sizeof TAG_NAMES / sizeof TAG_NAMES[0] == PHI_TAG_COUNT, "one name per tag");

#define REDACTED "-REDACTED-"
#define SECRET_TOKEN "[SECRET-REDACTED]"

static size_t token_len(size_t tag)
{
    if (tag == T_SECRET) return sizeof SECRET_TOKEN - 1;
    return 1 + strlen(TAG_NAMES[tag]) + (sizeof REDACTED - 1) + PHI_H8 + 1;
}

size_t phi_render(const unsigned char *buf, const size_t *offsets, size_t n, size_t sep, const phi_span *spans,
                  const size_t *lines, size_t nspans, const unsigned char *h8, unsigned char *out,
                  size_t out_cap, size_t *changed, size_t *out_offsets, size_t *nchanged)
{
    return phi_render_ids(buf, offsets, n, sep, spans, lines, nspans, NULL, nspans, h8, out, out_cap,
                          changed, out_offsets, nchanged);
}

size_t phi_render_ids(const unsigned char *buf, const size_t *offsets, size_t n, size_t sep,
                      const phi_span *spans, const size_t *lines, size_t nspans, const size_t *ids,
                      size_t nh8, const unsigned char *h8, unsigned char *out, size_t out_cap,
                      size_t *changed, size_t *out_offsets, size_t *nchanged)
{
    if (nchanged) *nchanged = 0;
    if (buf == NULL || offsets == NULL || (nspans && (spans == NULL || lines == NULL || h8 == NULL)))
        return NOPE;
    for (size_t k = 0; k < nspans; k++)
        if ((ids ? ids[k] : k) >= nh8) return NOPE;
    if (!offsets_ok(offsets, 0, n, sep)) return NOPE;
    /* Validate and size: spans ascending, inside their text, texts ascending. */
    size_t size = 0, texts = 0;
    for (size_t k = 0; k < nspans; k++) {
        size_t L = lines[k];
        const phi_span *sp = &spans[k];
        if (L >= n || sp->tag > T_SECRET) return NOPE;
        if (sp->start >= sp->end || sp->start < offsets[L] || sp->end > text_end(offsets, L, sep)) return NOPE;
        if (k > 0 && (L < lines[k - 1] || (L == lines[k - 1] && sp->start < spans[k - 1].end)))
            return NOPE;
        if (k == 0 || L != lines[k - 1]) {
            size += text_end(offsets, L, sep) - offsets[L];
            texts++;
        }
        size += token_len(sp->tag);
        size -= sp->end - sp->start;  /* no wrap: the span lies inside its text, counted above */
    }
    if (out == NULL) return size;
    if (out_cap < size || changed == NULL || out_offsets == NULL || nchanged == NULL) return NOPE;
    size_t pos = 0, j = 0, k = 0;
    while (k < nspans) {
        size_t L = lines[k], last = offsets[L];
        changed[j] = L;
        out_offsets[j] = pos;
        for (; k < nspans && lines[k] == L; k++) {
            const phi_span *sp = &spans[k];
            memcpy(out + pos, buf + last, sp->start - last);
            pos += sp->start - last;
            if (sp->tag == T_SECRET) {
                memcpy(out + pos, SECRET_TOKEN, sizeof SECRET_TOKEN - 1);
                pos += sizeof SECRET_TOKEN - 1;
            } else {
                size_t tl = strlen(TAG_NAMES[sp->tag]);
                out[pos++] = '[';
                memcpy(out + pos, TAG_NAMES[sp->tag], tl);
                pos += tl;
                memcpy(out + pos, REDACTED, sizeof REDACTED - 1);
                pos += sizeof REDACTED - 1;
                memcpy(out + pos, h8 + PHI_H8 * (ids ? ids[k] : k), PHI_H8);
                pos += PHI_H8;
                out[pos++] = ']';
            }
            last = sp->end;
        }
        memcpy(out + pos, buf + last, text_end(offsets, L, sep) - last);
        pos += text_end(offsets, L, sep) - last;
        j++;
    }
    out_offsets[j] = pos;
    *nchanged = texts;
    return pos;
}

static uint64_t span_hash(const unsigned char *b, size_t len, size_t tag)
{
    uint64_t h = phi_fnv1a(b, len, 0xcbf29ce484222325u ^ (uint64_t)tag);
    return h ^ (h >> 29);
}

size_t phi_dedupe(const unsigned char *buf, size_t len, const phi_span *spans, size_t nspans, size_t *ids,
                  phi_span *uniq, size_t *table, size_t tcap)
{
    if (buf == NULL || (nspans && (spans == NULL || ids == NULL || uniq == NULL || table == NULL)))
        return NOPE;
    if (nspans && (tcap < 2 || (tcap & (tcap - 1)) != 0)) return NOPE;
    for (size_t i = 0; i < tcap && nspans; i++) table[i] = NOPE;
    size_t nu = 0, stored = 0;
    for (size_t k = 0; k < nspans; k++) {
        const phi_span *sp = &spans[k];
        if (sp->start > sp->end || sp->end > len) return NOPE;
        size_t L = sp->end - sp->start;
        size_t slot = (size_t)span_hash(buf + sp->start, L, sp->tag) & (tcap - 1);
        for (;;) {
            size_t u = table[slot];
            if (u == NOPE) {  /* a new value: remembered while the table is at most half full */
                if (stored < tcap / 2) {
                    table[slot] = nu;
                    stored++;
                }
                uniq[nu] = *sp;
                ids[k] = nu++;
                break;
            }
            const phi_span *o = &uniq[u];
            if (o->tag == sp->tag && o->end - o->start == L && memcmp(buf + o->start, buf + sp->start, L) == 0) {
                ids[k] = u;
                break;
            }
            slot = (slot + 1) & (tcap - 1);
        }
    }
    return nu;
}

const char *phi_tag_name(unsigned int tag)
{
    return tag <= T_SECRET ? TAG_NAMES[tag] : NULL;
}

unsigned int phi_tag_count(void)
{
    return PHI_TAG_COUNT;
}
