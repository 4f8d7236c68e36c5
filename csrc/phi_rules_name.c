/*
 * Rules of the native PHI scanner: names (after a patient label, in a patient context, after a
 * title). Each mirrors one expression of src/agent/phi/reference.py.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "phi_rules.h"
#include "phi_words.h"

static const char *const CONTEXT_WORDS[] = {"patient", "pt", NULL};
static const char *const TITLES[] = {"Miss", "Mrs", "Mr", "Ms", "Mx", "Dr", NULL};

/* A word of NAME_STOP_WORDS at i (any case, not followed by a letter): it ends a name. */
static int name_stop(const text_t *t, size_t i)
{
    int c = lower(at(t, i));
    for (const char *const *w = NAME_STOP_WORDS; *w; w++) {
        if ((*w)[0] != c) continue;
        size_t j = label_chars(t, i, *w);
        if (j != NOPE && !is_alpha(at(t, j))) return 1;
    }
    return 0;
}

/* A name word (reference _NAME_WORD): Title-Case with ' - and inner capitals, or NOPE. */
static size_t name_word(const text_t *t, size_t i)
{
    if (!is_upper(at(t, i)) || name_stop(t, i)) return NOPE;
    size_t j = run(t, i + 1, is_lower);
    for (;;) {
        int c = at(t, j);
        if ((c == '\'' || c == '-') && is_upper(at(t, j + 1)) && is_lower(at(t, j + 2))) j = run(t, j + 2, is_lower);
        else if ((c == '\'' || c == '-') && is_lower(at(t, j + 1))) j = run(t, j + 1, is_lower);
        else if (is_upper(c) && is_lower(at(t, j + 1))) j = run(t, j + 1, is_lower);
        else break;
    }
    if (is_upper(t->s[j - 1]) || !ar(t, j)) return NOPE;
    return j;
}

typedef size_t (*word_fn)(const text_t *t, size_t i);

/* Up to three name words with a middle initial between them: Title-Case words one space apart
 * (reference _NAME_VALUE), or, `any`, words of any case after "," or spaces (_ANY_NAME). */
static size_t name_words(const text_t *t, size_t j, word_fn word, int any)
{
    size_t e = word(t, j);
    if (e == NOPE) return NOPE;
    for (int k = 0; k < 2; k++) {
        size_t q;
        if (any && at(t, e) == ',') q = skip_set(t, e + 1, " ");
        else if (at(t, e) == ' ') q = any ? skip_set(t, e, " ") : e + 1;
        else break;
        int initial = any ? is_alpha(at(t, q)) : is_upper(at(t, q));
        if (initial && at(t, q + 1) == '.' && at(t, q + 2) == ' ') {  /* Jane Q. Doe */
            size_t f = word(t, any ? skip_set(t, q + 2, " ") : q + 3);
            if (f != NOPE) {
                e = f;
                continue;
            }
        }
        size_t f = word(t, q);
        if (f == NOPE) break;
        e = f;
    }
    return e;
}

static size_t v_name(text_t *t, size_t j, size_t p)
{
    (void)p;
    return name_words(t, j, name_word, 0);
}

/* A word of any case after a strong label (reference _ANY_WORD), or NOPE. */
static size_t name_any(const text_t *t, size_t i)
{
    if (!is_alpha(at(t, i)) || name_stop(t, i)) return NOPE;
    size_t j = run(t, i, is_alpha);
    while ((at(t, j) == '\'' || at(t, j) == '-') && is_alpha(at(t, j + 1))) j = run(t, j + 1, is_alpha);
    int c = at(t, j);
    return (is_alnum(c) || c == '_') ? NOPE : j;
}

/* A strong separator after the NAME label p..j (reference _STRONG_SEP, _PT_DOT_SEP): where the
 * value starts, or NOPE. */
static size_t strong_sep(const text_t *t, size_t p, size_t j)
{
    if (j - p == 2 && at(t, j) == '.') {  /* Pt. */
        size_t q = skip_set(t, j + 1, " \t");
        if (at(t, q) == ':' || at(t, q) == '=') return skip_set(t, q + 1, " \t");
        return q > j + 1 ? q : NOPE;
    }
    size_t q = skip_set(t, j, " \t");
    if (at(t, q) == ':' || at(t, q) == '=') return skip_set(t, q + 1, " \t");
    return NOPE;
}

/* The first patient word before p (NAME context), or NOPE: looked for only as far as asked. */
static size_t name_context(text_t *t, size_t p)
{
    for (size_t i = t->ctx_upto; t->ctx == NOPE && i < p && i < t->n; i++) {
        if (!al(t, i)) continue;
        if (label_at(t, i, CONTEXT_WORDS[0]) != NOPE || label_at(t, i, CONTEXT_WORDS[1]) != NOPE) t->ctx = i;
    }
    if (p > t->ctx_upto) t->ctx_upto = p;
    return t->ctx;
}

/* A NAME label: after a strong separator, words of any case; else Title-Case words. */
static int name_rule(text_t *t, size_t p, hit_t *h, const char *const *labels, int context)
{
    if (!al(t, p)) return 0;
    size_t j = first_label(t, p, labels);
    if (j == NOPE) return 0;
    if (context) {
        size_t c = name_context(t, p);
        if (c == NOPE || c >= p) return 0;
    }
    size_t s = strong_sep(t, p, j);
    if (s != NOPE) {
        size_t e = name_words(t, s, name_any, 1);
        if (e != NOPE) return one(h, T_NAME, s, e, e);
    }
    size_t k = label_sep(t, j);
    size_t e = v_name(t, k, p);
    if (e == NOPE) return 0;
    return one(h, T_NAME, k, e, e);
}

int r_name_labelled(text_t *t, size_t p, hit_t *h) { return name_rule(t, p, h, NAME_LABELS, 0); }
int r_name_context(text_t *t, size_t p, hit_t *h) { return name_rule(t, p, h, NAME_CONTEXT_LABELS, 1); }

int r_name_title(text_t *t, size_t p, hit_t *h)
{
    if (!al(t, p)) return 0;
    size_t j = NOPE;
    for (const char *const *x = TITLES; *x; x++) {
        if (case_word_at(t, p, *x) && ar(t, p + strlen(*x))) { j = p + strlen(*x); break; }
    }
    if (j == NOPE) return 0;
    if (at(t, j) == '.') j++;
    size_t k = skip_set(t, j, " ");
    if (k == j) return 0;
    size_t e = v_name(t, k, p);
    if (e == NOPE) return 0;
    return one(h, T_NAME, k, e, e);
}
