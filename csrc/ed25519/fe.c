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

/* z^(2^250 - 1) into *t250 and z^11 into *z11. */
static void pow_2_250_1(fe *t250, fe *z11, const fe *z)
{
    fe z2, z9, t5, t10, t20, t40, t50, t100, t;
    fe_sq(&z2, z);                 /* z^2 */
    fe_sqn(&t, &z2, 2);            /* z^8 */
    fe_mul(&z9, &t, z);            /* z^9 */
    fe_mul(z11, &z9, &z2);         /* z^11 */
    fe_sq(&t, z11);                /* z^22 */
    fe_mul(&t5, &t, &z9);          /* z^31 = z^(2^5 - 1) */
    fe_sqn(&t, &t5, 5);
    fe_mul(&t10, &t, &t5);         /* 2^10 - 1 */
    fe_sqn(&t, &t10, 10);
    fe_mul(&t20, &t, &t10);        /* 2^20 - 1 */
    fe_sqn(&t, &t20, 20);
    fe_mul(&t40, &t, &t20);        /* 2^40 - 1 */
    fe_sqn(&t, &t40, 10);
    fe_mul(&t50, &t, &t10);        /* 2^50 - 1 */
    fe_sqn(&t, &t50, 50);
    fe_mul(&t100, &t, &t50);       /* 2^100 - 1 */
    fe_sqn(&t, &t100, 100);
    fe_mul(&t, &t, &t100);         /* 2^200 - 1 */
    fe_sqn(&t, &t, 50);
    fe_mul(t250, &t, &t50);        /* 2^250 - 1 */
}

/* z^(p - 2) = z^((2^250 - 1) 2^5 + 11) */
void fe_invert(fe *h, const fe *z)
{
    fe t, z11;
    pow_2_250_1(&t, &z11, z);
    fe_sqn(&t, &t, 5);
    fe_mul(h, &t, &z11);
}

/* z^((p - 5) / 8) = z^((2^250 - 1) 4 + 1) */
void fe_pow_p58(fe *h, const fe *z)
{
    fe t, z11;
    pow_2_250_1(&t, &z11, z);
    fe_sqn(&t, &t, 2);
    fe_mul(h, &t, z);
}

/* z^((p - 1) / 4) = z^((2^250 - 1) 8 + 3): 1, -1 or a square root of -1 (z != 0) */
void fe_pow_quartic(fe *h, const fe *z)
{
    fe t, z11, z3;
    pow_2_250_1(&t, &z11, z);
    fe_sqn(&t, &t, 3);
    fe_sq(&z3, z);
    fe_mul(&z3, &z3, z);
    fe_mul(h, &t, &z3);
}

static const fe FE_SQRTM1 = {{0x61b274a0ea0b0u, 0x0d5a5fc8f189du, 0x7ef5e9cbd0c60u, 0x78595a6804c9eu,
                              0x2b8324804fc1du}};

int fe_sqrt(fe *r, const fe *a)
{
    fe x, check;
    fe_pow_p58(&x, a);
    fe_mul(&x, &x, a); /* a^((p + 3) / 8) */
    fe_sq(&check, &x);
    if (!fe_equal(&check, a)) {
        fe_mul(&x, &x, &FE_SQRTM1);
        fe_sq(&check, &x);
        if (!fe_equal(&check, a)) return 0;
    }
    *r = x;
    return 1;
}

int fe_sqrt_or_twist(fe *r, const fe *a, const fe *zeta_i, const fe *zeta_mi)
{
    fe x, check, t;
    fe_pow_p58(&x, a);
    fe_mul(&x, &x, a); /* b = a^((p + 3) / 8): b^2 is a, -a, i a or -i a */
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
