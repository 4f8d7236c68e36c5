/*
 * Token hashes kept between calls (see agent_native.h): a table owned by the caller that maps
 * (tag, value bytes) to the 8 hex characters of the value's token, so that the hashes of values
 * seen before need no trip through Python. Open addressing, linear probing; the table is emptied
 * when it is three quarters full. Secrets are never stored: their tokens carry no hash.
 *
 * Safety: no global state, no allocation; every span is checked against the buffer.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "phi_internal.h"

_Static_assert(sizeof(((phi_h8_entry *)0)->h8) == PHI_H8, "8 hex characters per hash");

static uint64_t value_hash(const unsigned char *b, size_t len, size_t tag)
{
    uint64_t h = phi_fnv1a(b, len, 0x9e3779b97f4a7c15u ^ (uint64_t)tag);
    h ^= h >> 31;
    return h | 1;  /* 0 marks an empty entry */
}

static int table_ok(size_t cap) { return cap >= 2 && (cap & (cap - 1)) == 0; }

static int span_ok(const phi_span *sp, size_t len)
{
    return sp->start <= sp->end && sp->end <= len;
}

/* The entry of (tag, value), or of the empty slot where it would go. */
static size_t probe(const phi_h8_entry *table, size_t cap, uint64_t h, size_t tag, const unsigned char *v,
                    size_t n)
{
    size_t slot = (size_t)h & (cap - 1);
    for (size_t step = 0; step < cap; step++) {
        const phi_h8_entry *e = &table[slot];
        if (e->hash == 0) return slot;
        if (e->hash == h && e->tag == tag && e->len == n && memcmp(e->value, v, n) == 0) return slot;
        slot = (slot + 1) & (cap - 1);
    }
    return NOPE;  /* full: not reached while the table is emptied at three quarters */
}

size_t phi_h8_get(const phi_h8_entry *table, size_t cap, const unsigned char *buf, size_t len,
                  const phi_span *spans, size_t n, unsigned char *h8, size_t *missing)
{
    if (table == NULL || !table_ok(cap) || (n && (buf == NULL || spans == NULL || h8 == NULL || missing == NULL)))
        return NOPE;
    size_t m = 0;
    for (size_t k = 0; k < n; k++) {
        const phi_span *sp = &spans[k];
        if (!span_ok(sp, len)) return NOPE;
        size_t vn = sp->end - sp->start;
        if (sp->tag == T_SECRET) {
            memset(h8 + PHI_H8 * k, '0', PHI_H8);
            continue;
        }
        size_t slot = NOPE;
        if (vn <= sizeof table->value) {
            const unsigned char *v = buf + sp->start;
            slot = probe(table, cap, value_hash(v, vn, sp->tag), sp->tag, v, vn);
        }
        if (slot != NOPE && table[slot].hash != 0) {
            memcpy(h8 + PHI_H8 * k, table[slot].h8, PHI_H8);
        } else {
            missing[m++] = k;
        }
    }
    return m;
}

size_t phi_h8_put(phi_h8_entry *table, size_t cap, size_t *used, const unsigned char *buf, size_t len,
                  const phi_span *spans, size_t n, const size_t *missing, size_t m, const unsigned char *found,
                  unsigned char *h8)
{
    if (table == NULL || used == NULL || !table_ok(cap) || *used > cap
        || (m && (buf == NULL || spans == NULL || missing == NULL || found == NULL || h8 == NULL)))
        return NOPE;
    for (size_t j = 0; j < m; j++)
        if (missing[j] >= n || !span_ok(&spans[missing[j]], len)) return NOPE;
    size_t stored = 0;
    for (size_t j = 0; j < m; j++) {
        const phi_span *sp = &spans[missing[j]];
        memcpy(h8 + PHI_H8 * missing[j], found + PHI_H8 * j, PHI_H8);
        size_t vn = sp->end - sp->start;
        if (sp->tag == T_SECRET || vn > sizeof table->value) continue;
        if (*used >= cap - cap / 4) {  /* three quarters full: start again */
            memset(table, 0, cap * sizeof *table);
            *used = 0;
        }
        const unsigned char *v = buf + sp->start;
        uint64_t h = value_hash(v, vn, sp->tag);
        size_t slot = probe(table, cap, h, sp->tag, v, vn);
        if (slot == NOPE || table[slot].hash != 0) continue;  /* already there (a repeat) */
        phi_h8_entry *e = &table[slot];
        e->hash = h;
        e->tag = (unsigned int)sp->tag;
        e->len = (unsigned int)vn;
        memcpy(e->value, v, vn);
        memcpy(e->h8, found + PHI_H8 * j, PHI_H8);
        (*used)++;
        stored++;
    }
    return stored;
}
