/*
 * The rules of the native PHI scanner (phi_rules.def, defined in phi_rules_*.c) and the type of
 * the dispatch tables that say where each can start (generated: phi_dispatch.h). Internal.
 */
#ifndef PHI_RULES_H
#define PHI_RULES_H

#include <stdint.h>

#include "phi_text.h"

#define UPPERS "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#define DIGITS "0123456789"

enum { A_NONE, A_EMAIL, A_URL };

/* A rule at p: 1 with its spans in *h when it matches, else 0. */
typedef int (*rule_fn)(text_t *t, size_t p, hit_t *h);

#define RULE(fn, first, words, inword, anchor) int fn(text_t *t, size_t p, hit_t *h);
#include "phi_rules.def"
#undef RULE

/* The index of each rule in the table, and its bit in a set of rules. */
enum {
#define RULE(fn, first, words, inword, anchor) RI_##fn,
#include "phi_rules.def"
#undef RULE
    NRULES
};
_Static_assert(NRULES <= 32, "rule sets are 32-bit masks");
#define BIT(fn) ((uint32_t)1 << RI_##fn)
#define DIGIT_RULES (BIT(r_medicare) | BIT(r_ssn) | BIT(r_cc) | BIT(r_phone) | BIT(r_zip4) | BIT(r_address))

#define NCLS 35 /* character classes of the word tables (a letter, a digit, a few others) */

typedef struct dispatch {
    uint32_t first[256];          /* rules by first byte alone */
    uint32_t pair[NCLS][NCLS];    /* word rules by (first, second) character class */
    uint64_t tri[NCLS][NCLS];     /* classes of a third character that can follow a word pair */
    uint64_t tri_inw[NCLS][NCLS]; /* the same for the inword rules only */
    uint32_t inword_mask;
    unsigned char alnum[256];
    unsigned char wordfirst[256]; /* some word starts with this byte (any case) */
    unsigned char skip2[NCLS][NCLS]; /* a letter or digit whose class and the next one's start
                                        no inword word */
    unsigned char cls[257];       /* cls2 of each byte; [256] is the class of "no byte" */
    unsigned char start[256];     /* a byte that is not a letter or digit where a rule can start */
    /* The window filter (window_candidates): valid only when the tables keep to its assumptions
     * (checked by fast_init); `fast` is 0 otherwise. */
    int fast;
    unsigned char zipfirst[256];   /* an upper-case letter: r_zip_state starts with it */
    uint64_t digit_keep[3][256];   /* bit k: a run of k digits that starts with '0', '1' or
                                      '2'..'9' (0, 1, 2) and is followed by this byte passes */
    uint64_t triw[NCLS][NCLS];     /* tri, where the pair starts some word */
} dispatch_t;

#endif
