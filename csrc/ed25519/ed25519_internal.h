/*
 * Internal declarations of the Ed25519 batch verifier (csrc/ed25519/). Not parsed by cffi; the
 * public API is ed25519_batch.h. One job per file:
 *   fe.c     field arithmetic mod p = 2^255 - 19, radix 2^51 (128-bit products, with a portable
 *            path for compilers without unsigned __int128); the products themselves are inline
 *            in fe_core.h, shared with ge.c
 *   ge.c     group: extended twisted Edwards coordinates, encode/decode, libsodium's encoding
 *            rules (canonical y, small-order blocklist)
 *   sc.c     scalars mod L: canonical test, Barrett reduction, products, signed-window recoding
 *   msm.c    multi-scalar multiplication (Straus with width-5 signed windows)
 *   pippenger.c  multi-scalar multiplication by buckets (Pippenger), for many short scalars
 *   subgroup.c  the prime-order subgroup test (one point halving and a quartic character)
 *   batch.c  the batch verifier: per-key and per-item checks, random linear combination,
 *            bisection of a failing batch
 * No global mutable state anywhere: every table is a local or caller-provided buffer.
 */
#ifndef ED25519_INTERNAL_H
#define ED25519_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* ---- fe.c ---- */
/* An element of GF(2^255 - 19): five limbs of 51 bits (value = sum v[i] 2^(51 i)). Functions
 * accept limbs below 2^52 and return limbs below 2^52 (weakly reduced). */
typedef struct fe {
    uint64_t v[5];
} fe;

void fe_0(fe *h);
void fe_1(fe *h);
void fe_copy(fe *h, const fe *f);
void fe_add(fe *h, const fe *f, const fe *g);
void fe_sub(fe *h, const fe *f, const fe *g);
void fe_neg(fe *h, const fe *f);
void fe_mul(fe *h, const fe *f, const fe *g);
void fe_sq(fe *h, const fe *f);
void fe_invert(fe *h, const fe *z);
/* z^((p - 5) / 8) */
void fe_pow_p58(fe *h, const fe *z);
/* z^((p - 1) / 4), the quartic character of z */
void fe_pow_quartic(fe *h, const fe *z);
/* The same for z[0..lanes) into h[0..lanes), lanes 1 or 2: two exponentiations interleaved
 * take less time than one after the other. */
void fe_pow_p58_lanes(fe *h, const fe *z, int lanes);
void fe_pow_quartic_lanes(fe *h, const fe *z, int lanes);
/* A square root of a into *r and 1, or 0 when a is not a square. */
int fe_sqrt(fe *r, const fe *a);
/* fe_sqrt given a_p58 = fe_pow_p58(a); likewise fe_sqrt_or_twist_finish. */
int fe_sqrt_finish(fe *r, const fe *a, const fe *a_p58);
int fe_sqrt_or_twist_finish(fe *r, const fe *a, const fe *a_p58, const fe *zeta_i, const fe *zeta_mi);
/* Like fe_sqrt from one exponentiation; when a (nonzero) is not a square, *r receives a square
 * root of a n instead, for a fixed non-square n, given zeta_i^2 = n / i and zeta_mi^2 = n / -i
 * (i = sqrt(-1)), and 0 is returned. */
int fe_sqrt_or_twist(fe *r, const fe *a, const fe *zeta_i, const fe *zeta_mi);
/* The low 255 bits of s (bit 255 is ignored). */
void fe_frombytes(fe *h, const unsigned char s[32]);
/* The canonical encoding (value reduced mod p). */
void fe_tobytes(unsigned char s[32], const fe *h);
int fe_iszero(const fe *f);
int fe_isnegative(const fe *f); /* low bit of the canonical value */
int fe_equal(const fe *f, const fe *g);

/* ---- ge.c ---- */
typedef struct ge_p3 { /* extended coordinates: x = X/Z, y = Y/Z, T = XY/Z */
    fe X, Y, Z, T;
} ge_p3;

typedef struct ge_cached { /* a point prepared for addition: Y+X, Y-X, Z, 2dT */
    fe YplusX, YminusX, Z, T2d;
} ge_cached;

void ge_identity(ge_p3 *r);
void ge_basepoint(ge_p3 *r);
void ge_to_cached(ge_cached *r, const ge_p3 *p);
/* q, or -q when `neg`, in extended coordinates (a multiplication instead of an addition to
 * the identity). */
void ge_from_cached(ge_p3 *r, const ge_cached *q, int neg);
void ge_add(ge_p3 *r, const ge_p3 *p, const ge_cached *q);
void ge_sub(ge_p3 *r, const ge_p3 *p, const ge_cached *q);
void ge_dbl(ge_p3 *r, const ge_p3 *p);
void ge_neg(ge_p3 *r, const ge_p3 *p);
int ge_is_identity(const ge_p3 *p);
void ge_tobytes(unsigned char s[32], const ge_p3 *p);
/* Decodes s (y from the low 255 bits, x of the sign given by bit 255). Returns 0, or -1 when
 * no point has that y. Does not check that y < p (see ge_is_canonical). */
int ge_frombytes(ge_p3 *r, const unsigned char s[32]);
/* ge_frombytes of s[k] into r[k] and rc[k], k < lanes (1 or 2), the exponentiations
 * interleaved. */
void ge_frombytes_lanes(ge_p3 *r, const unsigned char *const *s, int *rc, int lanes);
/* 1 when the y coordinate of s (bit 255 ignored) is below p. */
int ge_is_canonical(const unsigned char s[32]);
/* 1 when s (bit 255 ignored) is one of libsodium's small-order encodings: y in {0, 1, p - 1,
 * p, p + 1} or the y of a point of order 8 (either one). */
int ge_has_small_order(const unsigned char s[32]);

/* ---- sc.c ---- */
#define SC_NAF_LEN 264 /* digits of a recoded scalar < 2^255, with room to spare */

int sc_is_canonical(const unsigned char s[32]);   /* s < L */
void sc_reduce64(unsigned char out[32], const unsigned char in[64]); /* in mod L */
void sc_mul(unsigned char out[32], const unsigned char a[32], const unsigned char b[32]); /* ab mod L */
void sc_add(unsigned char out[32], const unsigned char a[32], const unsigned char b[32]); /* a, b < L */
void sc_order(unsigned char out[32]); /* L itself */
/* A sum of products a b (a below 2^128, b below 2^256), reduced mod L once at the end: below
 * 2^512 for up to 2^64 terms. 32-bit words, little-endian. */
typedef struct sc_wide {
    uint32_t w[16];
} sc_wide;
void sc_wide_zero(sc_wide *acc);
void sc_wide_muladd(sc_wide *acc, const unsigned char a[16], const unsigned char b[32]); /* acc += a b */
void sc_wide_reduce(unsigned char out[32], const sc_wide *acc);                     /* acc mod L */
/* Signed window-w recoding of s < 2^255: s = sum naf[i] 2^i, each digit 0 or odd with
 * |digit| < 2^(w-1), nonzero digits at least w apart. Returns 1 + the highest nonzero position
 * (0 for s = 0). */
int sc_wnaf(signed char naf[SC_NAF_LEN], const unsigned char s[32], int w);

/* ---- msm.c ---- */
#define MSM_WINDOW 5
#define MSM_TABLE (1 << (MSM_WINDOW - 2)) /* odd multiples P, 3P, ..., 15P */
#define MSM_CHUNK 192                     /* points per pass of msm_straus */

void msm_table(ge_cached table[MSM_TABLE], const ge_p3 *p);
/* out = sum scalars[i] * P_i where tables[i] is msm_table(P_i); scalars < 2^255, 32 bytes each
 * little-endian. `naf` is scratch of min(n, MSM_CHUNK) * SC_NAF_LEN bytes. Variable time. */
void msm_straus(ge_p3 *out, const ge_cached *const *tables, const unsigned char *const *scalars,
                size_t n, signed char *naf);
/* 1 when p is in the subgroup of prime order L ([L]p is the identity), by scalar
 * multiplication: the slow reference the tests and the fuzzer compare subgroup.c with. */
int ge_in_prime_subgroup(const ge_cached table[MSM_TABLE]);

/* ---- pippenger.c ---- */
/* The window (bits per digit) that costs least for n scalars below 2^bits. */
int msm_pippenger_window(size_t n, int bits);
/* Bytes of scratch that msm_pippenger needs for up to n scalars below 2^bits and any window up
 * to c. */
size_t msm_pippenger_scratch(size_t n, int bits, int c);
/* out = sum scalars[i] * P_i, points[i] being P_i in cached form; scalars below 2^bits
 * (bits <= 255), 32 bytes each little-endian; c from msm_pippenger_window (4..11). Variable
 * time. */
void msm_pippenger(ge_p3 *out, const ge_cached *const *points, const unsigned char *const *scalars,
                   size_t n, int bits, int c, void *scratch);

/* ---- subgroup.c ---- */
/* 1 when p is in the subgroup of prime order L; 0 when it is not, and for the eight points of
 * small order (callers have refused those already). About five exponentiations. */
int ge_is_torsion_free(const ge_p3 *p);
/* ge_is_torsion_free of p[k] into out[k], k < lanes (1 or 2), the exponentiations of the two
 * interleaved. */
void ge_is_torsion_free_lanes(const ge_p3 *const *p, int *out, int lanes);

#endif
