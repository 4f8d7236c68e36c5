/*
 * Rules of the native PHI scanner: structured text (quoted JSON keys that name a PHI category,
 * HL7 v2 segments, clinical paths and FHIR references). Each mirrors one expression of
 * src/agent/phi/reference.py.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "phi_rules.h"
#include "phi_words.h"

static int is_key_ch(int c) { return is_alnum(c) || c == '_' || c == ' ' || c == '-'; }

static int json_literal(const unsigned char *v, size_t n)
{
    return (n == 4 && (memcmp(v, "null", 4) == 0 || memcmp(v, "true", 4) == 0)) ||
           (n == 5 && memcmp(v, "false", 5) == 0);
}

int r_json_key(text_t *t, size_t quote, hit_t *h)
{
    int q = at(t, quote);
    if (q != '"' && q != '\'') return 0;
    size_t p = quote + 1, e = p;
    int c0 = lower(at(t, p));
    if (!is_lower(c0) || !((PHI_KEY_FIRST >> (c0 - 'a')) & 1)) return 0;  /* no key starts so */
    while (e < t->n && e - p < 64 && is_key_ch(t->s[e])) e++;
    if (e == p || at(t, e) != q) return 0;
    size_t k = skip_set(t, e + 1, " \t");
    if (at(t, k) != ':') return 0;
    int tag = -1;
    for (size_t w = 0; PHI_KEYS[w].key && tag < 0; w++)
        if (PHI_KEYS[w].key[0] == lower(t->s[p]) && label_chars(t, p, PHI_KEYS[w].key) == e) tag = PHI_KEYS[w].tag;
    if (tag < 0) return 0;
    k = skip_set(t, k + 1, " \t");
    int c = at(t, k);
    size_t a = k, b = k, end;
    if (c == '"' || c == '\'') {
        a = b = k + 1;
        for (;;) {
            int x = at(t, b);
            if (x == c) break;
            if (x < 0 || x == '\r' || x == '\n') return 0;
            if (x == '\\') {
                if (b + 1 >= t->n || t->s[b + 1] == '\n') return 0;
                b += 2;
            } else {
                b++;
            }
        }
        end = b + 1;
    } else {
        while (b < t->n && !is_space(t->s[b]) && !in_set(t->s[b], ",;}]\"'{[")) b++;
        end = b;
    }
    if (b == a || json_literal(t->s + a, b - a)) return 0;
    return one(h, (unsigned)tag, a, b, end);
}

_Static_assert(HL7_MAX_SPANS <= MAX_HITS, "an HL7 segment's spans fit in one hit");

static int is_hl7_sep(int c) { return c >= '!' && c <= '~' && !is_alnum(c); }

/* A segment can start at i: at a boundary, or after the literal \r or \n of a logged message. */
static int hl7_seg_start(const text_t *t, size_t i)
{
    return al(t, i) || (i >= 2 && t->s[i - 2] == '\\' && (t->s[i - 1] == 'r' || t->s[i - 1] == 'n'));
}

/* Separators of the segment at seg (reference hl7_separators): MSH-1 and MSH-2 of the last MSH
 * segment before it, else | ^ ~. */
static void hl7_separators(text_t *t, size_t seg, int *fs, int *comp, int *rep)
{
    if (seg < t->msh_upto) {
        t->msh_upto = 0;
        t->msh_last = NOPE;
    }
    /* each "MSH" at i in [msh_upto, seg - 3), found by its 'M' (memchr for both cases) */
    for (size_t i = t->msh_upto; i + 3 < seg;) {
        const unsigned char *a = memchr(t->s + i, 'm', seg - 3 - i);
        const unsigned char *b = memchr(t->s + i, 'M', (a ? (size_t)(a - t->s) : seg - 3) - i);
        if (a == NULL && b == NULL) break;
        size_t m = (size_t)((b != NULL ? b : a) - t->s);
        if (lower(t->s[m + 1]) == 's' && lower(t->s[m + 2]) == 'h' && is_hl7_sep(t->s[m + 3]) &&
            hl7_seg_start(t, m))
            t->msh_last = m;
        i = m + 1;
    }
    if (seg >= 3 && seg - 3 > t->msh_upto) t->msh_upto = seg - 3;
    *fs = '|';
    *comp = '^';
    *rep = '~';
    if (t->msh_last == NOPE) return;
    size_t m = t->msh_last;
    *fs = t->s[m + 3];
    int c = at(t, m + 4), r = at(t, m + 5);
    if (!is_hl7_sep(c) || c == *fs) return;
    *comp = c;
    if (is_hl7_sep(r) && r != *fs && r != c) *rep = r;
}

static void hl7_add(hit_t *h, unsigned tag, size_t a, size_t b)
{
    if (b <= a || h->count >= HL7_MAX_SPANS) return;
    h->spans[h->count].tag = tag;
    h->spans[h->count].start = a;
    h->spans[h->count].end = b;
    h->count++;
}

static size_t find_ch(const text_t *t, int c, size_t a, size_t b)
{
    const unsigned char *q = a < b ? memchr(t->s + a, c, b - a) : NULL;
    return q ? (size_t)(q - t->s) : b;
}

/* An HL7 segment of HL7_SEGMENT_NAMES (reference HL7Rule): its PHI fields become spans. */
int r_hl7(text_t *t, size_t p, hit_t *h)
{
    size_t seg;
    if (at(t, p) == '\\' && (at(t, p + 1) == 'r' || at(t, p + 1) == 'n')) seg = p + 2;
    else if (al(t, p)) seg = p;
    else return 0;
    int k = -1;
    for (int i = 0; HL7_SEGMENT_NAMES[i] && k < 0; i++)
        if (label_chars(t, seg, HL7_SEGMENT_NAMES[i]) == seg + 3) k = i;
    if (k < 0) return 0;
    int fs, comp, rep;
    hl7_separators(t, seg, &fs, &comp, &rep);
    if (at(t, seg + 3) != fs) return 0;
    size_t seg_end = seg + 4;
    while (seg_end < t->n && t->s[seg_end] != '\r' && t->s[seg_end] != '\n' &&
           !(t->s[seg_end] == '\\' && seg_end + 1 < t->n && (t->s[seg_end + 1] == 'r' || t->s[seg_end + 1] == 'n')))
        seg_end++;
    h->count = 0;
    size_t start = seg + 4;
    for (unsigned field = 1; field <= HL7_LAST_FIELD && h->count < HL7_MAX_SPANS; field++) {
        size_t end = find_ch(t, fs, start, seg_end);
        for (size_t f = 0; f < sizeof HL7_FIELDS / sizeof HL7_FIELDS[0]; f++) {
            if (HL7_FIELDS[f].seg != k || HL7_FIELDS[f].field != field) continue;
            if (HL7_FIELDS[f].whole) {
                hl7_add(h, HL7_FIELDS[f].tag, start, end);
                continue;
            }
            for (size_t r = start;;) {  /* the first component of each repetition */
                size_t r_end = find_ch(t, rep, r, end);
                hl7_add(h, HL7_FIELDS[f].tag, r, find_ch(t, comp, r, r_end));
                if (r_end >= end) break;
                r = r_end + 1;
            }
        }
        if (end >= seg_end) break;
        start = end + 1;
    }
    if (h->count == 0) return 0;
    h->end = h->spans[h->count - 1].end;
    return 1;
}

static int is_path_ch(int c) { return c >= 0 && !is_space(c) && !in_set(c, "/\\\":|<>*?"); }

/* FHIR: Patient/123456 outside a path (reference fhir, the rule after path). */
static int fhir(text_t *t, size_t p, hit_t *h)
{
    int b = before(t, p);
    if (is_alnum(b) || is_pathsep(b) || label_chars(t, p, "patient") != p + 7 || at(t, p + 7) != '/') return 0;
    size_t a = p + 8, e = a;
    while (e < t->n && e - a < 64 && is_id_ch(t->s[e])) e++;
    if (e == a || !ar(t, e) || count_digits(t, a, e) == 0) return 0;
    return one(h, T_PATIENT_ID, a, e, e);
}

int r_path(text_t *t, size_t p, hit_t *h)
{
    if (!is_pathsep(before(t, p))) return fhir(t, p, h);
    size_t j = NOPE;
    for (const char *const *d = CLINICAL_DIRS; *d; d++) {
        size_t k = label_chars(t, p, *d);
        if (k != NOPE && is_pathsep(at(t, k))) { j = k; break; }
    }
    if (j == NOPE) return fhir(t, p, h);
    j = run(t, j, is_pathsep);
    size_t first = run(t, j, is_path_ch);
    if (first == j) return 0;
    size_t e = first;
    while (at(t, e) == ' ' && is_path_ch(at(t, e + 1))) e = run(t, e + 1, is_path_ch);
    if (!is_pathsep(at(t, e))) e = first;
    return one(h, T_PATH, j, e, e);
}
