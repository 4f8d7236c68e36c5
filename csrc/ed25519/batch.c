/*
 * The batch verifier. For each item, libsodium's crypto_sign_verify_detached accepts exactly
 * when: s < L; R is not a small-order encoding; A is canonical (y < p), not a small-order
 * encoding and decodes; and the encoding of [s]B - [k]A equals the 32 bytes of R, with
 * k = SHA-512(R || A || M) mod L (cofactorless). Here:
 *   1. the encoding checks are done per key (once per distinct key) and per item; R must also
 *      decode with y < p, since a canonical encoding never equals anything else;
 *   2. an item whose A and R both lie in the prime-order subgroup (tested once per distinct
 *      key and once per R, subgroup.c) joins the batch. For such an item the difference
 *      D = [s]B - R - [k]A lies in that subgroup, so libsodium's equation holds iff D = 0, and
 *      sum z_i D_i = 0 with random 128-bit z_i fails to reveal a D_i != 0 with probability at
 *      most 2^-128 (the subgroup has prime order L > 2^252);
 *   3. every other item (a key or R with a small-order component, or any item of a call with
 *      fewer than three)
 *      is verified alone with libsodium's exact cofactorless equation, compared byte for byte
 *      (R is then not decoded at all, as in libsodium);
 *   4. a batch equation that fails is split in halves until the bad items are found; two or
 *      fewer items are verified alone.
 * Items sharing a key add their z_i k_i into one scalar for that key. The combination is one
 * multi-scalar multiplication: Straus (msm.c) for the base point and the keys, and for the R_i
 * with their 128-bit z_i as well below PIPPENGER_MIN items, Pippenger's buckets (pippenger.c)
 * from there on (no per-R table: those are only built when a small subset needs them).
 */
#include <stdlib.h>
#include <string.h>

#include "ed25519_batch.h"
#include "ed25519_internal.h"

typedef struct key_state {
    ge_cached neg_table[MSM_TABLE]; /* odd multiples of -A */
    sc_wide acc;                    /* sum of z_i k_i over the items of the current subset */
    unsigned char sum[32];          /* the same mod L */
    int usable;                     /* encoding accepted and decoded */
    int prime;                      /* A is in the prime-order subgroup */
    int used;
} key_state;

/* From this many R_i in one combination on, they go through Pippenger's buckets. */
#define PIPPENGER_MIN 128
#define COEFF_BITS 128

typedef struct item_state {
    ge_cached neg_table[MSM_TABLE]; /* odd multiples of -R, once has_table */
    ge_cached neg_r;                /* -R */
    int has_table;
    unsigned char k[32];            /* SHA-512 mod L */
    unsigned char z[32];            /* the 128-bit coefficient, zero-extended */
} item_state;

typedef struct ctx {
    const unsigned char *sigs;
    const size_t *key_index;
    key_state *keys;
    item_state *items;
    ge_cached base_table[MSM_TABLE];
    /* scratch for one multi-scalar multiplication over at most n + nkeys + 1 points */
    const ge_cached **tables;
    const unsigned char **scalars;
    size_t *used_keys;
    signed char *naf;
    void *buckets; /* Pippenger's scratch for up to n points, windows up to max_window */
    int max_window;
    unsigned char *verdicts;
} ctx;

/* libsodium's equation for item i alone: encode([s]B + [k](-A)) == R. */
static int verify_single(ctx *c, size_t i)
{
    const unsigned char *sig = c->sigs + 64 * i;
    const ge_cached *tables[2] = {c->base_table, c->keys[c->key_index[i]].neg_table};
    const unsigned char *scalars[2] = {sig + 32, c->items[i].k};
    ge_p3 r;
    unsigned char enc[32];
    msm_straus(&r, tables, scalars, 2, c->naf);
    ge_tobytes(enc, &r);
    return memcmp(enc, sig, 32) == 0;
}

/* Whether sum z_i ([s_i]B - R_i - [k_i]A_i) = 0 over the items idx[0..cnt). */
static int batch_holds(ctx *c, const size_t *idx, size_t cnt)
{
    unsigned char bsum[32];
    sc_wide bacc;
    size_t nused = 0, m = 0;
    sc_wide_zero(&bacc);
    for (size_t t = 0; t < cnt; t++) {
        item_state *it = &c->items[idx[t]];
        key_state *ks = &c->keys[c->key_index[idx[t]]];
        sc_wide_muladd(&bacc, it->z, c->sigs + 64 * idx[t] + 32);
        if (!ks->used) {
            ks->used = 1;
            sc_wide_zero(&ks->acc);
            c->used_keys[nused++] = c->key_index[idx[t]];
        }
        sc_wide_muladd(&ks->acc, it->z, it->k);
    }
    sc_wide_reduce(bsum, &bacc);
    c->tables[m] = c->base_table;
    c->scalars[m++] = bsum;
    for (size_t u = 0; u < nused; u++) {
        key_state *ks = &c->keys[c->used_keys[u]];
        ks->used = 0;
        sc_wide_reduce(ks->sum, &ks->acc);
        c->tables[m] = ks->neg_table;
        c->scalars[m++] = ks->sum;
    }
    ge_p3 r;
    if (cnt >= PIPPENGER_MIN) {
        msm_straus(&r, c->tables, c->scalars, m, c->naf);
        const ge_cached **points = c->tables + m;
        const unsigned char **zs = c->scalars + m;
        for (size_t t = 0; t < cnt; t++) {
            points[t] = &c->items[idx[t]].neg_r;
            zs[t] = c->items[idx[t]].z;
        }
        int w = msm_pippenger_window(cnt, COEFF_BITS);
        ge_p3 part;
        ge_cached cached;
        msm_pippenger(&part, points, zs, cnt, COEFF_BITS, w < c->max_window ? w : c->max_window,
                      c->buckets);
        ge_to_cached(&cached, &part);
        ge_add(&r, &r, &cached);
        return ge_is_identity(&r);
    }
    for (size_t t = 0; t < cnt; t++) {
        item_state *it = &c->items[idx[t]];
        if (!it->has_table) {
            ge_p3 neg;
            ge_from_cached(&neg, &it->neg_r, 0);
            msm_table(it->neg_table, &neg);
            it->has_table = 1;
        }
        c->tables[m] = it->neg_table;
        c->scalars[m++] = it->z;
    }
    msm_straus(&r, c->tables, c->scalars, m, c->naf);
    return ge_is_identity(&r);
}

static void resolve(ctx *c, const size_t *idx, size_t cnt)
{
    if (cnt <= 2) {
        for (size_t t = 0; t < cnt; t++) c->verdicts[idx[t]] = (unsigned char)verify_single(c, idx[t]);
        return;
    }
    if (batch_holds(c, idx, cnt)) {
        for (size_t t = 0; t < cnt; t++) c->verdicts[idx[t]] = 1;
        return;
    }
    resolve(c, idx, cnt / 2);
    resolve(c, idx + cnt / 2, cnt - cnt / 2);
}

/* Keys j[0..lanes) that passed the encoding checks: decoded (side by side), their tables, and
 * the subgroup test (side by side) when the batch will use it. */
static void prepare_keys(ctx *c, const unsigned char *keys, const size_t *j, int lanes, int test_subgroup)
{
    ge_p3 a[2], neg;
    const unsigned char *enc[2] = {NULL, NULL};
    const ge_p3 *live[2];
    size_t which[2];
    int rc[2], prime[2], nlive = 0;
    for (int k = 0; k < lanes; k++) enc[k] = keys + 32 * j[k];
    ge_frombytes_lanes(a, enc, rc, lanes);
    for (int k = 0; k < lanes; k++) {
        if (rc[k] != 0) continue;
        key_state *ks = &c->keys[j[k]];
        ks->usable = 1;
        ge_neg(&neg, &a[k]);
        msm_table(ks->neg_table, &neg);
        live[nlive] = &a[k];
        which[nlive++] = j[k];
    }
    if (!test_subgroup || nlive == 0) return;
    ge_is_torsion_free_lanes(live, prime, nlive);
    for (int k = 0; k < nlive; k++) c->keys[which[k]].prime = prime[k];
}

/* Items i[0..lanes) whose key is in the prime-order subgroup and whose R passed the encoding
 * checks: R decoded and tested (side by side). An R that does not decode makes the item
 * invalid; one with a small-order component sends it to the exact equation; the others join
 * the batch. */
static void prepare_items(ctx *c, const size_t *i, int lanes, const unsigned char *coeffs, size_t *batch,
                          size_t *nbatch)
{
    ge_p3 r[2], neg;
    const unsigned char *enc[2] = {NULL, NULL};
    const ge_p3 *live[2];
    size_t which[2];
    int rc[2], prime[2], nlive = 0;
    for (int k = 0; k < lanes; k++) enc[k] = c->sigs + 64 * i[k];
    ge_frombytes_lanes(r, enc, rc, lanes);
    for (int k = 0; k < lanes; k++) {
        if (rc[k] != 0) continue; /* verdict 0 */
        live[nlive] = &r[k];
        which[nlive++] = i[k];
    }
    if (nlive == 0) return;
    ge_is_torsion_free_lanes(live, prime, nlive);
    for (int k = 0; k < nlive; k++) {
        size_t idx = which[k];
        item_state *it = &c->items[idx];
        if (!prime[k]) {
            c->verdicts[idx] = (unsigned char)verify_single(c, idx);
            continue;
        }
        memset(it->z, 0, 32);
        memcpy(it->z, coeffs + 16 * idx, 16);
        ge_neg(&neg, live[k]);
        ge_to_cached(&it->neg_r, &neg);
        it->has_table = 0;
        batch[(*nbatch)++] = idx;
    }
}

int ed25519_verify_batch(const unsigned char *keys, size_t nkeys, const size_t *key_index,
                         const unsigned char *sigs, const unsigned char *hashes,
                         const unsigned char *coeffs, size_t n, unsigned char *verdicts)
{
    for (size_t i = 0; i < n; i++)
        if (key_index[i] >= nkeys) return -1;
    memset(verdicts, 0, n);
    if (n == 0) return 0;
    size_t npoints = n + nkeys + 1;
    ctx c;
    memset(&c, 0, sizeof c);
    c.sigs = sigs;
    c.key_index = key_index;
    c.verdicts = verdicts;
    c.keys = malloc(nkeys * sizeof *c.keys);
    c.items = malloc(n * sizeof *c.items);
    c.tables = malloc(npoints * sizeof *c.tables);
    c.scalars = malloc(npoints * sizeof *c.scalars);
    c.used_keys = malloc(nkeys * sizeof *c.used_keys);
    c.naf = malloc((npoints < MSM_CHUNK ? npoints : MSM_CHUNK) * SC_NAF_LEN);
    size_t *batch = malloc(n * sizeof *batch);
    c.max_window = msm_pippenger_window(n, COEFF_BITS);
    if (n >= PIPPENGER_MIN) c.buckets = malloc(msm_pippenger_scratch(n, COEFF_BITS, c.max_window));
    int rc = -2;
    if (!c.keys || !c.items || !c.tables || !c.scalars || !c.used_keys || !c.naf || !batch
        || (n >= PIPPENGER_MIN && !c.buckets))
        goto done;

    ge_p3 b;
    ge_basepoint(&b);
    msm_table(c.base_table, &b);
    /* One or two items are cheaper to verify alone than to test for the batch (and a batch of
     * two that fails is resolved one by one anyway). */
    int for_batch = n >= 3;
    size_t pend[2];
    int npend = 0;
    for (size_t j = 0; j < nkeys; j++) {
        key_state *ks = &c.keys[j];
        ks->usable = ks->prime = ks->used = 0;
        if (!ge_is_canonical(keys + 32 * j) || ge_has_small_order(keys + 32 * j)) continue;
        pend[npend++] = j;
        if (npend == 2) {
            prepare_keys(&c, keys, pend, 2, for_batch);
            npend = 0;
        }
    }
    if (npend) prepare_keys(&c, keys, pend, npend, for_batch);

    /* Per item, libsodium's checks that need no group equation first (s < L, R not a
     * small-order encoding, a usable key); then either the exact equation (fewer than three
     * items, or a key with a small-order component) or, for a canonical R, prepare_items. */
    size_t nbatch = 0;
    npend = 0;
    for (size_t i = 0; i < n; i++) {
        const unsigned char *sig = sigs + 64 * i;
        const key_state *ks = &c.keys[key_index[i]];
        if (!ks->usable || !sc_is_canonical(sig + 32) || ge_has_small_order(sig)) continue;
        sc_reduce64(c.items[i].k, hashes + 64 * i);
        if (!for_batch || !ks->prime) {
            verdicts[i] = (unsigned char)verify_single(&c, i);
            continue;
        }
        if (!ge_is_canonical(sig)) continue;
        pend[npend++] = i;
        if (npend == 2) {
            prepare_items(&c, pend, 2, coeffs, batch, &nbatch);
            npend = 0;
        }
    }
    if (npend) prepare_items(&c, pend, npend, coeffs, batch, &nbatch);
    resolve(&c, batch, nbatch);
    rc = 0;
done:
    free(batch);
    free(c.buckets);
    free(c.naf);
    free(c.used_keys);
    free(c.scalars);
    free(c.tables);
    free(c.items);
    free(c.keys);
    return rc;
}
