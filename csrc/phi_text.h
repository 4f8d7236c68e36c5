/*
 * What every rule of the native PHI scanner reads through: the text being scanned (text_t), the
 * spans a rule reports (hit_t), character classes, labels, and a few small helpers. Internal to
 * csrc/ (the API is agent_native.h). Every read goes through at() / before(), which return -1
 * outside the text.
 *
 *   phi_scan.c         the driver: dispatch by position, anchors, the public scan API
 *   phi_prefilter.c    which positions can start a rule (SSE2 windows, portable byte filter)
 *   phi_rules_*.c      the rules, by family (phi_rules.def lists them in table order)
 *   phi_dispatch.h     the dispatch tables, generated from phi_rules.def (tools/gen_phi_dispatch.py)
 */
#ifndef PHI_TEXT_H
#define PHI_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "phi_internal.h"
#include "phi_tables.h"

#define MAX_HITS 32
#define EMAIL_LOCAL_MAX 64  /* longest local part (RFC 5321) */
#define SCHEME_MAX 32       /* longest URL scheme considered */

typedef struct {
    const unsigned char *s;
    size_t n;
    size_t ctx;      /* first patient word (NAME context), NOPE if none before ctx_upto */
    size_t ctx_upto; /* positions looked at for it: [0, ctx_upto) */
    size_t next_at;  /* cache: first '@' at or after next_at_from, NOPE if none */
    size_t next_at_from;
    size_t next_url; /* cache: first "://" at or after next_url_from, NOPE if none */
    size_t next_url_from;
    size_t msh_upto; /* cache: MSH segments looked for before msh_upto, the last at msh_last */
    size_t msh_last;
    int depth;       /* 1 inside decoded base64 */
} text_t;

typedef struct {
    phi_span spans[MAX_HITS];
    size_t count;
    size_t end;      /* where scanning resumes */
} hit_t;

/* Scan decoded text (depth 1: no base64 inside) into at most cap spans; returns their number
 * (phi_scan.c; r_base64 uses it). */
size_t phi_scan_decoded(const unsigned char *s, size_t n, phi_span *out, size_t cap);

/* ------------------------------------------------------------------ character classes */

static inline int at(const text_t *t, size_t i) { return i < t->n ? (int)t->s[i] : -1; }
static inline int before(const text_t *t, size_t i) { return (i > 0 && i <= t->n) ? (int)t->s[i - 1] : -1; }
static inline int is_digit(int c) { return c >= '0' && c <= '9'; }
static inline int is_upper(int c) { return c >= 'A' && c <= 'Z'; }
static inline int is_lower(int c) { return c >= 'a' && c <= 'z'; }
static inline int is_alpha(int c) { return is_upper(c) || is_lower(c); }
static inline int is_alnum(int c) { return is_alpha(c) || is_digit(c); }
static inline int lower(int c) { return is_upper(c) ? c + 32 : c; }
static inline int is_space(int c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
static inline int is_sepch(int c) { return is_space(c) || c == '"' || c == '#' || c == '\'' || c == '-' || c == ':' || c == '='; }
static inline int is_sepch_fn(int c) { return is_sepch(c); }
static inline int is_local(int c) { return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'; }
static inline int is_scheme(int c) { return is_alnum(c) || c == '+' || c == '.' || c == '-'; }
static inline int is_pathsep(int c) { return c == '/' || c == '\\'; }
static inline int is_host(int c) { return is_alnum(c) || c == '_' || c == '.' || c == '-'; }
static inline int in_set(int c, const char *set)
{
    for (; *set; set++)
        if ((unsigned char)*set == c) return 1;
    return 0;
}

static inline int al(const text_t *t, size_t i) { return !is_alnum(before(t, i)); }
static inline int ar(const text_t *t, size_t i) { return !is_alnum(at(t, i)); }
static inline int nl(const text_t *t, size_t i)
{
    if (!al(t, i)) return 0;
    int c = before(t, i);
    return !(i >= 2 && (c == '.' || c == '-') && is_digit(t->s[i - 2]));
}
static inline int nr(const text_t *t, size_t i)
{
    int c = at(t, i);
    if (is_alnum(c)) return 0;
    return !((c == '.' || c == '-') && is_digit(at(t, i + 1)));
}
static inline size_t run(const text_t *t, size_t i, int (*cls)(int))
{
    while (i < t->n && cls(t->s[i])) i++;
    return i;
}
static inline size_t skip_set(const text_t *t, size_t i, const char *set)
{
    while (i < t->n && in_set(t->s[i], set)) i++;
    return i;
}
static inline size_t digits_at(const text_t *t, size_t i) { return run(t, i, is_digit) - i; }
/* Exactly k digits at i (more may follow). */
static inline int k_digits(const text_t *t, size_t i, size_t k)
{
    for (size_t j = 0; j < k; j++)
        if (!is_digit(at(t, i + j))) return 0;
    return 1;
}

/* ------------------------------------------------------------------------- labels */

/* Words that may sit between a label and its value (reference LSEP). */
static const char *const LABEL_WORDS[] = {"is", "number", "no", NULL};

/* Case-insensitive literal; ' ' in the label is an optional joiner (space, '_' or '-'). */
static inline size_t label_chars(const text_t *t, size_t i, const char *label)
{
    for (const char *l = label; *l; l++) {
        if (*l == ' ') {
            int c = at(t, i);
            if (c == ' ' || c == '_' || c == '-') i++;
        } else {
            if (lower(at(t, i)) != *l) return NOPE;
            i++;
        }
    }
    return i;
}

/* A label: its characters, then no letter or digit if it ends with one. */
static inline size_t label_at(const text_t *t, size_t i, const char *label)
{
    size_t j = label_chars(t, i, label);
    if (j == NOPE) return NOPE;
    size_t n = strlen(label);
    if (is_alnum((unsigned char)label[n - 1]) && !ar(t, j)) return NOPE;
    return j;
}

static inline size_t first_label(const text_t *t, size_t i, const char *const *labels)
{
    int c0 = lower(at(t, i)), c1 = lower(at(t, i + 1));
    for (; *labels; labels++) {
        const char *l = *labels;
        if (l[0] != c0 || (l[1] != ' ' && l[1] != c1)) continue;
        size_t j = label_at(t, i, l);
        if (j != NOPE) return j;
    }
    return NOPE;
}


/* Separators between a label and its value, with one optional word (reference LSEP). */
static inline size_t label_sep(const text_t *t, size_t i)
{
    i = run(t, i, is_sepch_fn);
    for (const char *const *w = LABEL_WORDS; *w; w++) {
        size_t j = label_at(t, i, *w);
        if (j != NOPE) {
            if (at(t, j) == '.') j++;
            return run(t, j, is_sepch_fn);
        }
    }
    return i;
}

/* ------------------------------------------------------------------------- helpers */

static inline int one(hit_t *h, unsigned tag, size_t start, size_t end, size_t resume)
{
    h->spans[0].tag = tag;
    h->spans[0].start = start;
    h->spans[0].end = end;
    h->count = 1;
    h->end = resume;
    return 1;
}

static inline int case_word_at(const text_t *t, size_t i, const char *w)
{
    for (; *w; w++, i++)
        if (at(t, i) != *w) return 0;
    return 1;
}

static inline size_t count_digits(const text_t *t, size_t a, size_t b)
{
    size_t n = 0;
    for (size_t i = a; i < b; i++) n += (size_t)is_digit(t->s[i]);
    return n;
}


/* An ordinal suffix of a day number at i ("st", "nd", "rd", "th"): where it ends, else i. */
static inline size_t day_suffix(const text_t *t, size_t i)
{
    static const char *const sfx[] = {"st", "nd", "rd", "th", NULL};
    for (const char *const *s = sfx; *s; s++)
        if (case_word_at(t, i, *s)) return i + 2;
    return i;
}

/* A letter a Medicare ID may hold (not S, L, O, I, B, Z); an area code or exchange digit. */
static inline int mbi_a(int c) { return is_alpha(c) && !in_set(c, "SLOIBZsloibz"); }
static inline int d29(int c) { return c >= '2' && c <= '9'; }
static inline int is_id_ch(int c) { return is_alnum(c) || c == '-'; }

/* ------------------------------------------------------------------------- base64 */

static inline int is_b64(int c) { return is_alnum(c) || c == '+' || c == '/'; }

/* A base64 run can start at p (reference Base64Rule): not after a base64 character, and
 * at least B64_MIN base64 characters. */
static inline int b64_start(const text_t *t, size_t p)
{
    if (is_b64(before(t, p))) return 0;
    for (size_t i = 0; i < B64_MIN; i++)
        if (!is_b64(at(t, p + i))) return 0;
    return 1;
}

#endif
