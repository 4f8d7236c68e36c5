/*
 * libFuzzer harness of the Ed25519 batch verifier (csrc/ed25519/), differential against
 * libsodium's crypto_sign_verify_detached, built with ASan + UBSan by fuzz/run.sh. The input
 * describes up to 8 items, each either raw bytes (key, signature, message) or a signature
 * crafted from input-chosen secrets with small-order components added to the key and the nonce
 * (libsodium accepts some of those), optionally damaged afterwards. Any verdict that differs
 * from libsodium's traps, and so does any point on which the subgroup test (subgroup.c) and
 * the scalar multiplication by L disagree, and any sum of the decodable points on which
 * Pippenger's buckets (pippenger.c, any window) and Straus (msm.c) disagree.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "ed25519/ed25519_batch.h"
#include "ed25519/ed25519_internal.h"

#define MAX_ITEMS 8
#define MAX_MSG 64

typedef struct reader {
    const uint8_t *p;
    size_t n;
} reader;

static uint8_t take(reader *r)
{
    if (r->n == 0) return 0;
    r->n--;
    return *r->p++;
}

static void take_n(reader *r, uint8_t *out, size_t k)
{
    for (size_t i = 0; i < k; i++) out[i] = take(r);
}

/* [j] T8 for a point T8 of order 8 */
static void torsion(ge_p3 *out, int j)
{
    static const unsigned char y8[32] = {
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0,
        0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05};
    ge_p3 t8;
    ge_cached c;
    if (ge_frombytes(&t8, y8) != 0) __builtin_trap();
    ge_to_cached(&c, &t8);
    ge_identity(out);
    for (int i = 0; i < j; i++) ge_add(out, out, &c);
}

/* [scalar]B + [j]T8, encoded */
static void point(unsigned char out[32], const unsigned char scalar[32], int j)
{
    ge_p3 b, p, t;
    ge_cached table[MSM_TABLE], tc;
    signed char naf[SC_NAF_LEN];
    const ge_cached *tables[1] = {table};
    const unsigned char *scalars[1] = {scalar};
    ge_basepoint(&b);
    msm_table(table, &b);
    msm_straus(&p, tables, scalars, 1, naf);
    torsion(&t, j);
    ge_to_cached(&tc, &t);
    ge_add(&p, &p, &tc);
    ge_tobytes(out, &p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned char keys[MAX_ITEMS][32], sigs[MAX_ITEMS][64], msgs[MAX_ITEMS][MAX_MSG];
    static unsigned char hashes[MAX_ITEMS][64], coeffs[MAX_ITEMS][16], uniq[MAX_ITEMS][32];
    size_t mlen[MAX_ITEMS], key_index[MAX_ITEMS];
    unsigned char verdicts[MAX_ITEMS];
    if (sodium_init() < 0) __builtin_trap();
    reader in = {data, size};
    size_t n = 1 + take(&in) % MAX_ITEMS;
    for (size_t i = 0; i < n; i++) {
        uint8_t mode = take(&in);
        mlen[i] = take(&in) % (MAX_MSG + 1);
        take_n(&in, msgs[i], mlen[i]);
        if ((mode & 3) == 0) { /* raw bytes */
            take_n(&in, keys[i], 32);
            take_n(&in, sigs[i], 64);
        } else { /* crafted: a, r from the input; torsion indexes from the mode */
            unsigned char wide[64], a[32], r[32], k[32], ka[32];
            take_n(&in, wide, 64);
            sc_reduce64(a, wide);
            crypto_hash_sha512(wide, wide, 64);
            sc_reduce64(r, wide);
            if (i > 0 && (mode & 0x80)) memcpy(keys[i], keys[i - 1], 32); /* a shared key... */
            else point(keys[i], a, (mode >> 2) & 7);
            point(sigs[i], r, (mode >> 5) & 3 ? (mode >> 4) & 7 : 0);
            crypto_hash_sha512_state st;
            crypto_hash_sha512_init(&st);
            crypto_hash_sha512_update(&st, sigs[i], 32);
            crypto_hash_sha512_update(&st, keys[i], 32);
            crypto_hash_sha512_update(&st, msgs[i], mlen[i]);
            crypto_hash_sha512_final(&st, wide);
            sc_reduce64(k, wide);
            sc_mul(ka, k, a); /* ...signed with this item's a: valid only if a matches */
            sc_add(sigs[i] + 32, ka, r);
            if ((mode & 3) == 2) { /* damage one bit */
                uint8_t bit = take(&in);
                sigs[i][bit >> 2] ^= (unsigned char)(1u << (bit & 7));
            } else if ((mode & 3) == 3 && take(&in) & 1) { /* s + L when it fits in 256 bits */
                unsigned char l[32];
                sc_order(l);
                unsigned c = 0;
                for (int j = 0; j < 32; j++) {
                    c += (unsigned)sigs[i][32 + j] + l[j];
                    sigs[i][32 + j] = (unsigned char)c;
                    c >>= 8;
                }
            }
        }
        take_n(&in, coeffs[i], 16);
    }
    /* the fast subgroup test agrees with [L]P = identity on every decodable key and R */
    for (size_t i = 0; i < n; i++) {
        ge_p3 pt;
        ge_cached table[MSM_TABLE];
        for (int which = 0; which < 2; which++) {
            const unsigned char *enc = which ? sigs[i] : keys[i];
            if (ge_has_small_order(enc) || ge_frombytes(&pt, enc) != 0) continue;
            msm_table(table, &pt);
            if (ge_is_torsion_free(&pt) != ge_in_prime_subgroup(table)) __builtin_trap();
        }
    }
    /* Pippenger and Straus agree on sum z_i P_i over the decodable keys and R (torsion included),
     * with 128-bit scalars (the coefficients) or full ones (s when canonical), any window */
    {
        static ge_cached tables[2 * MAX_ITEMS][MSM_TABLE], points[2 * MAX_ITEMS];
        static signed char naf[2 * MAX_ITEMS * SC_NAF_LEN];
        static unsigned char full[2 * MAX_ITEMS][32];
        static uint64_t scratch[1 << 15]; /* 256 KiB, aligned for the buckets */
        const ge_cached *tp[2 * MAX_ITEMS], *pp[2 * MAX_ITEMS];
        const unsigned char *sp[2 * MAX_ITEMS];
        uint8_t shape = take(&in);
        int wide = shape & 1, c = 4 + (shape >> 1) % 8;
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            for (int which = 0; which < 2; which++) {
                ge_p3 pt;
                const unsigned char *enc = which ? sigs[i] : keys[i];
                if (ge_frombytes(&pt, enc) != 0) continue;
                msm_table(tables[m], &pt);
                ge_to_cached(&points[m], &pt);
                memset(full[m], 0, 32);
                if (wide && sc_is_canonical(sigs[i] + 32)) memcpy(full[m], sigs[i] + 32, 32);
                else memcpy(full[m], coeffs[i], 16);
                tp[m] = tables[m];
                pp[m] = &points[m];
                sp[m] = full[m];
                m++;
            }
        }
        if (m > 0) {
            ge_p3 a, b;
            unsigned char ea[32], eb[32];
            if (msm_pippenger_scratch(m, wide ? 253 : 128, c) > sizeof scratch) __builtin_trap();
            msm_straus(&a, tp, sp, m, naf);
            msm_pippenger(&b, pp, sp, m, wide ? 253 : 128, c, scratch);
            ge_tobytes(ea, &a);
            ge_tobytes(eb, &b);
            if (memcmp(ea, eb, 32) != 0) __builtin_trap();
        }
    }
    /* distinct keys and the index of each item's key */
    size_t nkeys = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < nkeys && memcmp(uniq[j], keys[i], 32) != 0) j++;
        if (j == nkeys) memcpy(uniq[nkeys++], keys[i], 32);
        key_index[i] = j;
        crypto_hash_sha512_state st;
        crypto_hash_sha512_init(&st);
        crypto_hash_sha512_update(&st, sigs[i], 32);
        crypto_hash_sha512_update(&st, keys[i], 32);
        crypto_hash_sha512_update(&st, msgs[i], mlen[i]);
        crypto_hash_sha512_final(&st, hashes[i]);
    }
    if (ed25519_verify_batch(&uniq[0][0], nkeys, key_index, &sigs[0][0], &hashes[0][0], &coeffs[0][0], n,
                             verdicts) != 0)
        __builtin_trap();
    for (size_t i = 0; i < n; i++) {
        int want = crypto_sign_verify_detached(sigs[i], msgs[i], mlen[i], keys[i]) == 0;
        if (want != verdicts[i]) __builtin_trap();
    }
    return 0;
}
