/*
 * Rules of the native PHI scanner: places (street addresses, PO boxes) and clinical host names.
 * Each mirrors one expression of src/agent/phi/reference.py.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "phi_rules.h"
#include "phi_words.h"

static const char *const STREET_SUFFIXES[] = {
    "street", "st", "avenue", "ave", "road", "rd", "drive", "dr", "lane", "ln", "boulevard",
    "blvd", "court", "ct", "way", "place", "pl", "circle", "cir", "parkway", "pkwy", "highway",
    "hwy", "terrace", "ter", "trail", "trl", NULL};
static const char *const UNIT_WORDS[] = {"apartment", "apt", "suite", "ste", "unit", NULL};

/* A street word and the spaces after it (reference _STREET_WORD), or NOPE. */
static size_t street_word(const text_t *t, size_t i)
{
    int c = at(t, i);
    size_t e = NOPE;
    if (is_upper(c)) {
        size_t l = run(t, i + 1, is_lower);
        if (l > i + 1 && at(t, l) == ' ') e = l;
        else {
            size_t u = run(t, i, is_upper);
            if (at(t, u) == ' ') e = u;
            else if (at(t, i + 1) == '.' && at(t, i + 2) == ' ') e = i + 2;  /* N. Main Street */
        }
    } else if (is_digit(c)) {
        size_t d = digits_at(t, i);
        if (d <= 3) {
            size_t s = day_suffix(t, i + d);
            if (s > i + d && at(t, s) == ' ') e = s;
        }
    }
    if (e == NOPE) return NOPE;
    return skip_set(t, e, " ");
}

static size_t unit_at(const text_t *t, size_t j)
{
    size_t k = j;
    if (at(t, k) == ',') k++;
    k = skip_set(t, k, " ");
    if (at(t, k) == '#') {
        k++;
    } else {
        size_t w = NOPE;
        for (const char *const *u = UNIT_WORDS; *u && w == NOPE; u++) {
            size_t m = label_chars(t, k, *u);
            if (m != NOPE && !is_alpha(at(t, m))) w = m;
        }
        if (w == NOPE) return j;
        k = w;
        if (at(t, k) == '.') k++;
        k = skip_set(t, k, " ");
        if (at(t, k) == '#') k++;
    }
    k = skip_set(t, k, " ");
    size_t e = run(t, k, is_alnum);
    return e > k ? e : j;
}

int r_address(text_t *t, size_t p, hit_t *h)
{
    if (!nl(t, p)) return 0;
    size_t d = digits_at(t, p);
    if (d < 1 || d > 6 || at(t, p + d) != ' ') return 0;
    size_t pos[5];
    size_t n = 0;
    pos[0] = skip_set(t, p + d, " ");
    while (n < 4) {
        size_t e = street_word(t, pos[n]);
        if (e == NOPE) break;
        pos[++n] = e;
    }
    for (size_t k = n; k >= 1; k--) {
        size_t s = first_label(t, pos[k], STREET_SUFFIXES);
        if (s == NOPE) continue;
        if (at(t, s) == '.') s++;
        size_t e = unit_at(t, s);
        return one(h, T_ADDRESS, p, e, e);
    }
    return 0;
}

/* PO Box 1234, P.O. Box 77 (reference po_box): the whole of it is the address. */
int r_po_box(text_t *t, size_t p, hit_t *h)
{
    if (!al(t, p) || lower(at(t, p)) != 'p') return 0;
    size_t k = p + 1;
    if (at(t, k) == '.') k++;
    if (at(t, k) == ' ') k++;
    if (lower(at(t, k)) != 'o') return 0;
    k++;
    if (at(t, k) == '.') k++;
    k = skip_set(t, k, " ");
    if (lower(at(t, k)) != 'b' || lower(at(t, k + 1)) != 'o' || lower(at(t, k + 2)) != 'x') return 0;
    k = skip_set(t, k + 3, " ");
    if (at(t, k) == '#') k++;
    k = skip_set(t, k, " ");
    size_t d = digits_at(t, k);
    if (d < 1 || d > 6 || !ar(t, k + d)) return 0;
    return one(h, T_ADDRESS, p, k + d, k + d);
}

static int iso_duration(const text_t *t, size_t a, size_t b)
{
    if (b - a < 2 || lower(t->s[a]) != 'p' || lower(t->s[a + 1]) != 't') return 0;
    size_t i = a + 2;
    if (i >= b) return 0;
    while (i < b) {
        size_t d = i;
        while (d < b && is_digit(t->s[d])) d++;
        if (d == i) return 0;
        if (d < b && t->s[d] == '.') {
            size_t f = d + 1;
            while (f < b && is_digit(t->s[f])) f++;
            if (f > d + 1) d = f;
        }
        if (d >= b || !in_set(t->s[d], "HMS")) return 0;
        i = d + 1;
    }
    return 1;
}

/* 16 or more hex digits and nothing else: a key, hash or nonce, never a host someone named. */
static int hex_key(const text_t *t, size_t a, size_t b)
{
    if (b - a < 16) return 0;
    for (size_t i = a; i < b; i++) {
        char c = t->s[i];
        if (!is_digit(c) && !((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return 0;
    }
    return 1;
}

int r_hostname(text_t *t, size_t p, hit_t *h)
{
    if (is_host(before(t, p))) return 0;
    size_t j = NOPE;
    for (const char *const *x = HOSTNAME_PREFIXES; *x; x++) {
        size_t k = label_chars(t, p, *x);
        if (k != NOPE && (at(t, k) == '-' || at(t, k) == '_' || is_digit(at(t, k)))) { j = k; break; }
    }
    if (j == NOPE) return 0;
    size_t e = run(t, j + 1, is_host);
    while (e > j + 1 && (t->s[e - 1] == '.' || t->s[e - 1] == '-')) e--;
    int up = 0, lo = 0;
    for (size_t i = p; i < e; i++) {
        up |= is_upper(t->s[i]);
        lo |= is_lower(t->s[i]);
    }
    if (count_digits(t, p, e) == 0 || (up && lo) || iso_duration(t, p, e) || hex_key(t, p, e))
        return 0;
    return one(h, T_HOSTNAME, p, e, e);
}
