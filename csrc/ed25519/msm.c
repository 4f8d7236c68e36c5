/*
 * Multi-scalar multiplication: Straus's interleaving with width-5 signed windows (one shared
 * chain of doublings, one table of odd multiples per point), and the prime-order subgroup test
 * built on it. Variable time: every input here is public (keys, signatures, and random
 * coefficients that only need to be unpredictable before the call).
 */
#include "ed25519_internal.h"

void msm_table(ge_cached table[MSM_TABLE], const ge_p3 *p)
{
    ge_p3 p2, acc = *p;
    ge_cached c2;
    ge_dbl(&p2, p);
    ge_to_cached(&c2, &p2);
    ge_to_cached(&table[0], p);
    for (int i = 1; i < MSM_TABLE; i++) {
        ge_add(&acc, &acc, &c2); /* (2i + 1) P */
        ge_to_cached(&table[i], &acc);
    }
}

/* Straus over at most MSM_CHUNK points: their tables and digits stay in cache. */
static void straus_chunk(ge_p3 *out, const ge_cached *const *tables, const unsigned char *const *scalars,
                         size_t n, signed char *naf)
{
    int top = 0;
    for (size_t j = 0; j < n; j++) {
        int t = sc_wnaf(naf + j * SC_NAF_LEN, scalars[j], MSM_WINDOW);
        if (t > top) top = t;
    }
    ge_identity(out);
    for (int i = top - 1; i >= 0; i--) {
        ge_dbl(out, out);
        for (size_t j = 0; j < n; j++) {
            int digit = naf[j * SC_NAF_LEN + (size_t)i];
            if (digit > 0)
                ge_add(out, out, &tables[j][digit >> 1]);
            else if (digit < 0)
                ge_sub(out, out, &tables[j][(-digit) >> 1]);
        }
    }
}

void msm_straus(ge_p3 *out, const ge_cached *const *tables, const unsigned char *const *scalars,
                size_t n, signed char *naf)
{
    /* Large inputs in chunks: one more chain of doublings per chunk (a fraction of a point
     * addition per point) buys tables that fit in the cache. */
    ge_p3 part;
    ge_cached c;
    ge_identity(out);
    for (size_t start = 0; start < n; start += MSM_CHUNK) {
        size_t len = n - start < MSM_CHUNK ? n - start : MSM_CHUNK;
        straus_chunk(&part, tables + start, scalars + start, len, naf);
        if (start == 0) {
            *out = part;
        } else {
            ge_to_cached(&c, &part);
            ge_add(out, out, &c);
        }
    }
}

int ge_in_prime_subgroup(const ge_cached table[MSM_TABLE])
{
    unsigned char order[32];
    signed char naf[SC_NAF_LEN];
    const ge_cached *tables[1] = {table};
    const unsigned char *scalars[1] = {order};
    ge_p3 r;
    sc_order(order);
    msm_straus(&r, tables, scalars, 1, naf);
    return ge_is_identity(&r);
}
