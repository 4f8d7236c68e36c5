/*
 * Generator of csrc/phi_dispatch.h, the dispatch tables of the native PHI scanner, from the one
 * rule description csrc/phi_rules.def (with the word lists of csrc/phi_words.h). Run by
 * tools/gen_phi_dispatch.py (which compiles it with the host C compiler); not part of the
 * extension. Prints the header on stdout.
 */
#include <stdio.h>
#include <stdlib.h>

#include "phi_rules.h"
#include "phi_words.h"

static const struct rule {
    const char *name;
    const char *first;
    const char *const *words;
    int inword;
    int anchor;
} RULES[] = {
#define RULE(fn, first, words, inword, anchor) {#fn, first, words, inword, anchor},
#include "phi_rules.def"
#undef RULE
};

/* Class of a byte for the word tables: a letter (any case), a digit, or one of a few others. */
static unsigned cls2(int c)
{
    if (is_alpha(c)) return (unsigned)(lower(c) - 'a');
    switch (c) {
    case '.': return 26;
    case '#': return 27;
    case '|': return 28;
    case '-': return 29;
    case ' ': return 30;
    case '_': return 31;
    case '/': return 32;
    default: return is_digit(c) ? 33 : 34;
    }
}

#define ANY3 ((uint64_t)(((uint64_t)1 << NCLS) - 1))



/* The letter pairs (any case) where an inword rule can start, as the SSE2 filter tests them:
 * authorization, api key, convertto-securestring, client secret, passphrase/password/passwd,
 * pwd, secret, token. fast_init checks that the tables need no other pair. */
static const char INWORD_PAIRS[][3] = {"au", "ap", "co", "cl", "pa", "pw", "se", "to"};

/*
 * The window filter's assumptions (see window_candidates), checked against the tables: outside
 * a word, a rule can start at a digit only if it is a digit rule, at a letter only if it is a
 * word rule or r_zip_state (upper case), and at no other byte than '-' (r_pem, r_ps_password),
 * '(' and '+' (r_phone); inside a word, only at a pair of letters. `digit_keep` restates what
 * prefilter() keeps of the digit rules (a superset: by the first digit, the run length and the
 * byte after the run), window_masks() what it keeps of '-', '(' and '+', and `zipfirst` what it
 * keeps of r_zip_state. When the tables break an assumption, `fast` stays 0 and the exact
 * byte-by-byte filter (next_candidate_bytes) runs instead.
 */
static void fast_init(dispatch_t *d)
{
    d->fast = 0;
    for (unsigned c = 0; c < 256; c++) {
        /* '/' (and '+'): where a base64 run may start (r_base64) */
        d->start[c] = (unsigned char)(!d->alnum[c] && (d->first[c] || d->wordfirst[c] || c == '/' || c == '+'));
        d->zipfirst[c] = (unsigned char)((d->first[c] & BIT(r_zip_state)) != 0);
        uint32_t allowed = 0;
        if (is_digit((int)c)) allowed = DIGIT_RULES;
        else if (is_upper((int)c)) allowed = BIT(r_zip_state);
        else if (c == '-') allowed = BIT(r_pem) | BIT(r_ps_password);
        else if (c == '(' || c == '+') allowed = BIT(r_phone);
        else if (c == '\\') allowed = BIT(r_hl7);
        else if (c == '"' || c == '\'') allowed = BIT(r_json_key);
        if ((d->first[c] & ~allowed) || (d->wordfirst[c] && !is_alpha((int)c))) return;
        for (unsigned f = 0; f < 3; f++) {
            uint64_t k = ((uint64_t)1 << 20) - ((uint64_t)1 << 13);  /* 13..19 digits: r_cc */
            if (c == '-' || c == '.' || c == ' ') {  /* r_phone: "1-", "1.", "1 ", "ddd-", ... */
                if (f == 1) k |= 1u << 1;
                if (f == 2) k |= 1u << 3;
            }
            if (c == '-') k |= (1u << 3) | (1u << 4) | (1u << 5);  /* r_ssn, r_cc, r_zip4 */
            if (c == '.') k |= (1u << 3) | (1u << 4);             /* r_ssn, r_cc */
            if (c == ' ') k |= 0x7eu;                   /* r_ssn, r_cc, 1..6 digits: r_address */
            if (is_alpha((int)c)) k |= 1u << 1;          /* r_medicare */
            d->digit_keep[f][c] = k;
        }
    }
    for (unsigned k0 = 0; k0 < NCLS; k0++) {
        for (unsigned k1 = 0; k1 < NCLS; k1++) {
            d->triw[k0][k1] = d->pair[k0][k1] ? d->tri[k0][k1] : 0;
            if (d->tri_inw[k0][k1] == 0) continue;
            if (k0 >= 26 || k1 >= 26) return;
            size_t k = 0, np = sizeof INWORD_PAIRS / sizeof INWORD_PAIRS[0];
            while (k < np && !(INWORD_PAIRS[k][0] == 'a' + (int)k0 && INWORD_PAIRS[k][1] == 'a' + (int)k1)) k++;
            if (k == np) return;
        }
    }
    d->fast = 1;
}

/* Record the first three character classes of every spelling of `w` (' ' = optional joiner). */
static void add_word(dispatch_t *d, const char *w, uint32_t bit, int inword, unsigned *k, int depth)
{
    if (depth == 3 || *w == '\0') {
        uint64_t third = depth == 3 ? (uint64_t)1 << k[2] : ANY3;
        if (depth < 2) return;  /* every word has at least two letters before any joiner */
        d->pair[k[0]][k[1]] |= bit;
        d->tri[k[0]][k[1]] |= third;
        if (inword) d->tri_inw[k[0]][k[1]] |= third;
        return;
    }
    if (*w == ' ') {
        static const char joiners[] = " _-";
        for (const char *j = joiners; *j; j++) {
            k[depth] = cls2(*j);
            add_word(d, w + 1, bit, inword, k, depth + 1);
        }
        add_word(d, w + 1, bit, inword, k, depth);
        return;
    }
    k[depth] = cls2((unsigned char)*w);
    add_word(d, w + 1, bit, inword, k, depth + 1);
}

static void dispatch_init(dispatch_t *d)
{
    memset(d, 0, sizeof *d);
    for (unsigned c = 0; c < 256; c++) {
        d->alnum[c] = (unsigned char)is_alnum((int)c);
        d->cls[c] = (unsigned char)cls2((int)c);
    }
    d->cls[256] = (unsigned char)cls2(-1);
    for (size_t r = 0; r < NRULES; r++) {
        uint32_t bit = (uint32_t)1 << r;
        if (RULES[r].inword) d->inword_mask |= bit;
        if (RULES[r].first)
            for (const char *c = RULES[r].first; *c; c++) d->first[(unsigned char)*c] |= bit;
        if (!RULES[r].words) continue;
        for (const char *const *w = RULES[r].words; *w; w++) {
            unsigned k[3] = {0, 0, 0};
            add_word(d, *w, bit, RULES[r].inword, k, 0);
            unsigned char c0 = (unsigned char)(*w)[0];
            unsigned char up = (unsigned char)(is_lower(c0) ? c0 - 32 : c0);
            d->wordfirst[c0] = d->wordfirst[up] = 1;
        }
    }
    for (unsigned k0 = 0; k0 < NCLS; k0++)
        for (unsigned k1 = 0; k1 < NCLS; k1++)
            d->skip2[k0][k1] = (unsigned char)((k0 < 26 || k0 == 33) && d->tri_inw[k0][k1] == 0);
    fast_init(d);
}

/* An array of n integers of `size` bytes; with `rows`, as rows of `row` (a 2-D array). */
static void print_u(const char *name, const void *v, size_t n, size_t size, size_t row, int rows)
{
    printf("    .%s = {", name);
    for (size_t i = 0; i < n; i++) {
        unsigned long long x = size == 1 ? ((const unsigned char *)v)[i]
                             : size == 4 ? ((const uint32_t *)v)[i] : ((const uint64_t *)v)[i];
        if (i % row == 0) printf(rows ? "\n        {" : "\n        ");
        printf(size == 8 ? "0x%llxu" : "%llu", x);
        if (i % row == row - 1) printf(rows ? "}," : ",");
        else printf(", ");
    }
    printf("},\n");
}

int main(void)
{
    static dispatch_t d;
    dispatch_init(&d);
    printf("/* Generated by tools/gen_phi_dispatch.py from csrc/phi_rules.def: do not edit. */\n");
    printf("#ifndef PHI_DISPATCH_H\n#define PHI_DISPATCH_H\n\n#include \"phi_rules.h\"\n\n");
    printf("/* Where each rule can start (see dispatch_t in phi_rules.h). */\n");
    printf("static const dispatch_t PHI_DISPATCH = {\n");
    print_u("first", d.first, 256, 4, 16, 0);
    print_u("pair", d.pair, NCLS * NCLS, 4, NCLS, 1);
    print_u("tri", d.tri, NCLS * NCLS, 8, NCLS, 1);
    print_u("tri_inw", d.tri_inw, NCLS * NCLS, 8, NCLS, 1);
    printf("    .inword_mask = %lluu,\n", (unsigned long long)d.inword_mask);
    print_u("alnum", d.alnum, 256, 1, 32, 0);
    print_u("wordfirst", d.wordfirst, 256, 1, 32, 0);
    print_u("skip2", d.skip2, NCLS * NCLS, 1, NCLS, 1);
    print_u("cls", d.cls, 257, 1, 32, 0);
    print_u("start", d.start, 256, 1, 32, 0);
    printf("    .fast = %d,\n", d.fast);
    print_u("zipfirst", d.zipfirst, 256, 1, 32, 0);
    print_u("digit_keep", d.digit_keep, 3 * 256, 8, 256, 1);
    print_u("triw", d.triw, NCLS * NCLS, 8, NCLS, 1);
    printf("};\n\n#endif\n");
    return 0;
}
