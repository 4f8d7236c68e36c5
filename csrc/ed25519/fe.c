/*
 * Field arithmetic mod p = 2^255 - 19 in radix 2^51 (five 64-bit limbs): carries, inversion,
 * powers and square roots, encoding. The products themselves are inline in fe_core.h.
 */
#include <string.h>

#include "ed25519_internal.h"
#include "fe_core.h"

void fe_0(fe *h) { memset(h, 0, sizeof *h); }

void fe_1(fe *h)
{
    fe_0(h);
    h->v[0] = 1;
}

void fe_copy(fe *h, const fe *f) { *h = *f; }

/* One carry pass: limbs below 2^51 except limb 0, below 2^51 + 19 * 2^13. */
static inline void carry(fe *h)
{
    uint64_t c;
    c = h->v[0] >> 51; h->v[0] &= MASK51; h->v[1] += c;
    c = h->v[1] >> 51; h->v[1] &= MASK51; h->v[2] += c;
    c = h->v[2] >> 51; h->v[2] &= MASK51; h->v[3] += c;
    c = h->v[3] >> 51; h->v[3] &= MASK51; h->v[4] += c;
    c = h->v[4] >> 51; h->v[4] &= MASK51; h->v[0] += 19 * c;
}

void fe_add(fe *h, const fe *f, const fe *g)
{
    for (int i = 0; i < 5; i++) h->v[i] = f->v[i] + g->v[i];
    carry(h);
}

/* f - g computed as f + 4p - g, so that no limb goes negative for g below 2^53. */
void fe_sub(fe *h, const fe *f, const fe *g)
{
    static const uint64_t four_p[5] = {0x1fffffffffffb4u, 0x1ffffffffffffcu, 0x1ffffffffffffcu,
                                       0x1ffffffffffffcu, 0x1ffffffffffffcu};
    for (int i = 0; i < 5; i++) h->v[i] = f->v[i] + four_p[i] - g->v[i];
    carry(h);
}

void fe_neg(fe *h, const fe *f)
{
    fe zero;
    fe_0(&zero);
    fe_sub(h, &zero, f);
}

void fe_mul(fe *h, const fe *f, const fe *g) { fe_mul_core(h, f, g); }

void fe_sq(fe *h, const fe *f) { fe_sq_core(h, f); }

/* f^(2^n), n >= 1: the squarings stay in registers (no call per squaring). */
static void fe_sqn(fe *h, const fe *f, int n)
{
    fe t;
    fe_sq_core(&t, f);
    for (int i = 1; i < n; i++) fe_sq_core(&t, &t);
    *h = t;
}

/* Keeps the compiler from merging the two squarings of sqn_lanes into one instruction stream:
 * that needs twice the registers and spills (a fifth more instructions); the processor overlaps
 * the two chains by itself. */
#if defined(__GNUC__)
#define LANE_BARRIER(t) __asm__ volatile("" : : "r"(t) : "memory")
#else
#define LANE_BARRIER(t) ((void)(t))
#endif

/* h[k] = f[k]^(2^n) for k < lanes (1 or 2). Two independent chains of squarings in one loop
 * keep the multiplier busy while each one waits for its carries (about a tenth less time per
 * verification, measured with bench/native/ed25519_count.c). */
static void sqn_lanes(fe *h, const fe *f, int n, int lanes)
{
    if (lanes < 2) {
        fe_sqn(h, f, n);
        return;
    }
    fe t[2];
    t[0] = f[0];
    t[1] = f[1];
    for (int i = 0; i < n; i++) {
        fe_sq_core(&t[0], &t[0]);
        LANE_BARRIER(t);
        fe_sq_core(&t[1], &t[1]);
        LANE_BARRIER(t);
    }
    h[0] = t[0];
    h[1] = t[1];
}

static void mul_lanes(fe *h, const fe *f, const fe *g, int lanes)
{
    for (int k = 0; k < lanes; k++) fe_mul_core(&h[k], &f[k], &g[k]);
}

/* z^(2^250 - 1) into t250[k] and z^11 into z11[k], for k < lanes */
static void pow_2_250_1(fe *t250, fe *z11, const fe *z, int lanes)
{
    fe z2[2], z9[2], t5[2], t10[2], t20[2], t40[2], t50[2], t100[2], t[2];
    sqn_lanes(z2, z, 1, lanes);              /* z^2 */
    sqn_lanes(t, z2, 2, lanes);              /* z^8 */
    mul_lanes(z9, t, z, lanes);              /* z^9 */
    mul_lanes(z11, z9, z2, lanes);           /* z^11 */
    sqn_lanes(t, z11, 1, lanes);             /* z^22 */
    mul_lanes(t5, t, z9, lanes);             /* z^31 = z^(2^5 - 1) */
    sqn_lanes(t, t5, 5, lanes);
    mul_lanes(t10, t, t5, lanes);            /* 2^10 - 1 */
    sqn_lanes(t, t10, 10, lanes);
    mul_lanes(t20, t, t10, lanes);           /* 2^20 - 1 */
    sqn_lanes(t, t20, 20, lanes);
    mul_lanes(t40, t, t20, lanes);           /* 2^40 - 1 */
    sqn_lanes(t, t40, 10, lanes);
    mul_lanes(t50, t, t10, lanes);           /* 2^50 - 1 */
    sqn_lanes(t, t50, 50, lanes);
    mul_lanes(t100, t, t50, lanes);          /* 2^100 - 1 */
    sqn_lanes(t, t100, 100, lanes);
    mul_lanes(t, t, t100, lanes);            /* 2^200 - 1 */
    sqn_lanes(t, t, 50, lanes);
    mul_lanes(t250, t, t50, lanes);          /* 2^250 - 1 */
}

/* z^(p - 2) = z^((2^250 - 1) 2^5 + 11) */
void fe_invert(fe *h, const fe *z)
{
    fe t, z11;
    pow_2_250_1(&t, &z11, z, 1);
    fe_sqn(&t, &t, 5);
    fe_mul(h, &t, &z11);
}

/* z^((p - 5) / 8) = z^((2^250 - 1) 4 + 1) */
void fe_pow_p58_lanes(fe *h, const fe *z, int lanes)
{
    fe t[2], z11[2];
    lanes = lanes < 2 ? 1 : 2;
    pow_2_250_1(t, z11, z, lanes);
    sqn_lanes(t, t, 2, lanes);
    mul_lanes(h, t, z, lanes);
}

void fe_pow_p58(fe *h, const fe *z) { fe_pow_p58_lanes(h, z, 1); }

/* z^((p - 1) / 4) = z^((2^250 - 1) 8 + 3): 1, -1 or a square root of -1 (z != 0) */
void fe_pow_quartic_lanes(fe *h, const fe *z, int lanes)
{
    fe t[2], z11[2], z3[2];
    lanes = lanes < 2 ? 1 : 2;
    pow_2_250_1(t, z11, z, lanes);
    sqn_lanes(t, t, 3, lanes);
    sqn_lanes(z3, z, 1, lanes);
    mul_lanes(z3, z3, z, lanes);
    mul_lanes(h, t, z3, lanes);
}

void fe_pow_quartic(fe *h, const fe *z) { fe_pow_quartic_lanes(h, z, 1); }

static const fe FE_SQRTM1 = {{0x61b274a0ea0b0u, 0x0d5a5fc8f189du, 0x7ef5e9cbd0c60u, 0x78595a6804c9eu,
                              0x2b8324804fc1du}};

int fe_sqrt_finish(fe *r, const fe *a, const fe *a_p58)
{
    fe x, check;
    fe_mul(&x, a_p58, a); /* a^((p + 3) / 8) */
    fe_sq(&check, &x);
    if (!fe_equal(&check, a)) {
        fe_mul(&x, &x, &FE_SQRTM1);
        fe_sq(&check, &x);
        if (!fe_equal(&check, a)) return 0;
    }
    *r = x;
    return 1;
}

int fe_sqrt(fe *r, const fe *a)
{
    fe x;
    fe_pow_p58(&x, a);
    return fe_sqrt_finish(r, a, &x);
}

int fe_sqrt_or_twist_finish(fe *r, const fe *a, const fe *a_p58, const fe *zeta_i, const fe *zeta_mi)
{
    fe x, check, t;
    fe_mul(&x, a_p58, a); /* b = a^((p + 3) / 8): b^2 is a, -a, i a or -i a */
    fe_sq(&check, &x);
    if (fe_equal(&check, a)) {
        *r = x;
        return 1;
    }
    fe_neg(&t, a);
    if (fe_equal(&check, &t)) {
        fe_mul(r, &x, &FE_SQRTM1);
        return 1;
    }
    fe_mul(&t, a, &FE_SQRTM1);
    fe_mul(r, &x, fe_equal(&check, &t) ? zeta_i : zeta_mi);
    return 0;
}

int fe_sqrt_or_twist(fe *r, const fe *a, const fe *zeta_i, const fe *zeta_mi)
{
    fe x;
    fe_pow_p58(&x, a);
    return fe_sqrt_or_twist_finish(r, a, &x, zeta_i, zeta_mi);
}

static uint64_t load64(const unsigned char *s)
{
    uint64_t r = 0;
    for (int i = 7; i >= 0; i--) r = (r << 8) | s[i];
    return r;
}

void fe_frombytes(fe *h, const unsigned char s[32])
{
    uint64_t w0 = load64(s), w1 = load64(s + 8), w2 = load64(s + 16), w3 = load64(s + 24);
    h->v[0] = w0 & MASK51;
    h->v[1] = ((w0 >> 51) | (w1 << 13)) & MASK51;
    h->v[2] = ((w1 >> 38) | (w2 << 26)) & MASK51;
    h->v[3] = ((w2 >> 25) | (w3 << 39)) & MASK51;
    h->v[4] = (w3 >> 12) & MASK51;
}

/* The value reduced into [0, p), limbs below 2^51. */
static void fe_canonical(fe *r, const fe *h)
{
    fe t = *h;
    carry(&t);
    carry(&t);
    carry(&t); /* now the value is below 2^255 and every limb below 2^51 */
    /* t >= p exactly when t + 19 >= 2^255 */
    fe u = t;
    u.v[0] += 19;
    uint64_t c;
    c = u.v[0] >> 51; u.v[0] &= MASK51; u.v[1] += c;
    c = u.v[1] >> 51; u.v[1] &= MASK51; u.v[2] += c;
    c = u.v[2] >> 51; u.v[2] &= MASK51; u.v[3] += c;
    c = u.v[3] >> 51; u.v[3] &= MASK51; u.v[4] += c;
    c = u.v[4] >> 51; u.v[4] &= MASK51;
    *r = c ? u : t;
}

void fe_tobytes(unsigned char s[32], const fe *h)
{
    fe t;
    fe_canonical(&t, h);
    uint64_t w[4];
    w[0] = t.v[0] | (t.v[1] << 51);
    w[1] = (t.v[1] >> 13) | (t.v[2] << 38);
    w[2] = (t.v[2] >> 26) | (t.v[3] << 25);
    w[3] = (t.v[3] >> 39) | (t.v[4] << 12);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 8; j++) s[8 * i + j] = (unsigned char)(w[i] >> (8 * j));
}

int fe_iszero(const fe *f)
{
    fe t;
    fe_canonical(&t, f);
    return (t.v[0] | t.v[1] | t.v[2] | t.v[3] | t.v[4]) == 0;
}

int fe_isnegative(const fe *f)
{
    fe t;
    fe_canonical(&t, f);
    return (int)(t.v[0] & 1);
}

int fe_equal(const fe *f, const fe *g)
{
    fe d;
    fe_sub(&d, f, g);
    return fe_iszero(&d);
}
