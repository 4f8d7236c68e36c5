/*
 * The group of edwards25519 (-x^2 + y^2 = 1 + d x^2 y^2) in extended coordinates, with the
 * encoding rules libsodium applies before it verifies (canonical y, small-order blocklist).
 * Addition uses the unified formulas for a = -1 (8 multiplications), which are complete on this
 * curve (d is not a square), so torsion points and the identity need no special cases.
 */
#include <string.h>

#include "ed25519_internal.h"
#include "fe_core.h"

static const fe FE_D = {{0x34dca135978a3u, 0x1a8283b156ebdu, 0x5e7a26001c029u, 0x739c663a03cbbu,
                         0x52036cee2b6ffu}};
static const fe FE_2D = {{0x69b9426b2f159u, 0x35050762add7au, 0x3cf44c0038052u, 0x6738cc7407977u,
                          0x2406d9dc56dffu}};
static const fe FE_INV_D = {{0x0f276cdc9f843u, 0x3084f2a85c4bcu, 0x6e73d982d775au, 0x721958b108a66u,
                             0x40907ed214d5cu}}; /* 1 / d */
static const fe FE_SQRTM1 = {{0x61b274a0ea0b0u, 0x0d5a5fc8f189du, 0x7ef5e9cbd0c60u,
                              0x78595a6804c9eu, 0x2b8324804fc1du}};
static const fe FE_BX = {{0x62d608f25d51au, 0x412a4b4f6592au, 0x75b7171a4b31du, 0x1ff60527118feu,
                          0x216936d3cd6e5u}};
static const fe FE_BY = {{0x6666666666658u, 0x4ccccccccccccu, 0x1999999999999u, 0x3333333333333u,
                          0x6666666666666u}};

void ge_identity(ge_p3 *r)
{
    fe_0(&r->X);
    fe_1(&r->Y);
    fe_1(&r->Z);
    fe_0(&r->T);
}

void ge_basepoint(ge_p3 *r)
{
    r->X = FE_BX;
    r->Y = FE_BY;
    fe_1(&r->Z);
    fe_mul(&r->T, &FE_BX, &FE_BY);
}

void ge_to_cached(ge_cached *r, const ge_p3 *p)
{
    fe_add(&r->YplusX, &p->Y, &p->X);
    fe_sub(&r->YminusX, &p->Y, &p->X);
    fe_add(&r->Z, &p->Z, &p->Z); /* 2Z: the factor 2 of D = 2 Z1 Z2 */
    fe_mul(&r->T2d, &p->T, &FE_2D);
}

/* q (or -q when `neg`) back in extended coordinates, scaled by 2: (Y+X) - (Y-X) = 2X,
 * (Y+X) + (Y-X) = 2Y, the cached 2Z, and 2dT / d = 2T. One multiplication. */
void ge_from_cached(ge_p3 *r, const ge_cached *q, int neg)
{
    const fe *ypx = neg ? &q->YminusX : &q->YplusX, *ymx = neg ? &q->YplusX : &q->YminusX;
    fe_sub(&r->X, ypx, ymx);
    fe_add(&r->Y, ypx, ymx);
    r->Z = q->Z;
    fe_mul_core(&r->T, &q->T2d, &FE_INV_D);
    if (neg) fe_neg(&r->T, &r->T);
}

/* p + q, or p - q when `neg`: -q swaps Y+X and Y-X and negates T. Limb bounds (p and q weakly
 * reduced, below 2^52): ypx, g, h below 2^53; ymx, e, f below 1.5 2^53; every product has
 * F G < 2^107.2 (fe_core.h). */
static inline void add_or_sub(ge_p3 *r, const ge_p3 *p, const ge_cached *q, int neg)
{
    fe a, b, c, d, e, f, g, h, ypx, ymx;
    fe_add_nc(&ypx, &p->Y, &p->X);
    fe_sub_nc(&ymx, &p->Y, &p->X);
    fe_mul_core(&a, &ymx, neg ? &q->YplusX : &q->YminusX);
    fe_mul_core(&b, &ypx, neg ? &q->YminusX : &q->YplusX);
    fe_mul_core(&c, &p->T, &q->T2d);
    fe_mul_core(&d, &p->Z, &q->Z);
    fe_sub_nc(&e, &b, &a);
    if (neg) {
        fe_add_nc(&f, &d, &c);
        fe_sub_nc(&g, &d, &c);
    } else {
        fe_sub_nc(&f, &d, &c);
        fe_add_nc(&g, &d, &c);
    }
    fe_add_nc(&h, &b, &a);
    fe_mul_core(&r->X, &e, &f);
    fe_mul_core(&r->Y, &g, &h);
    fe_mul_core(&r->T, &e, &h);
    fe_mul_core(&r->Z, &f, &g);
}

void ge_add(ge_p3 *r, const ge_p3 *p, const ge_cached *q) { add_or_sub(r, p, q, 0); }

void ge_sub(ge_p3 *r, const ge_p3 *p, const ge_cached *q) { add_or_sub(r, p, q, 1); }

/* Doubling for a = -1: 3 squarings and 5 multiplications. With A = X^2, B = Y^2, C = 2 Z^2,
 * E = 2 X Y, G = B - A, F = C + A - B, H = A + B, the double is (E F : G H : F G : E H) up to
 * the common factor -1 (dbl-2008-hwcd with F and H negated). Limb bounds (p weakly reduced):
 * A, B, Z^2, X Y below 2^52; E, C, H below 2^53; G below 1.5 2^53; F below 2.5 2^53; the
 * largest product, F G, has F G < 2^107.9 (fe_core.h allows 2^108.4). */
void ge_dbl(ge_p3 *r, const ge_p3 *p)
{
    fe a, b, c, e, f, g, h;
    fe_sq_core(&a, &p->X);
    fe_sq_core(&b, &p->Y);
    fe_sq_core(&c, &p->Z);
    fe_add_nc(&c, &c, &c);
    fe_mul_core(&e, &p->X, &p->Y);
    fe_add_nc(&e, &e, &e);
    fe_sub_nc(&g, &b, &a);
    fe_add_nc(&f, &c, &a);
    fe_sub_nc(&f, &f, &b);
    fe_add_nc(&h, &a, &b);
    fe_mul_core(&r->X, &e, &f);
    fe_mul_core(&r->Y, &g, &h);
    fe_mul_core(&r->T, &e, &h);
    fe_mul_core(&r->Z, &f, &g);
}

void ge_neg(ge_p3 *r, const ge_p3 *p)
{
    fe_neg(&r->X, &p->X);
    r->Y = p->Y;
    r->Z = p->Z;
    fe_neg(&r->T, &p->T);
}

int ge_is_identity(const ge_p3 *p) { return fe_iszero(&p->X) && fe_equal(&p->Y, &p->Z); }

void ge_tobytes(unsigned char s[32], const ge_p3 *p)
{
    fe zi, x, y;
    fe_invert(&zi, &p->Z);
    fe_mul(&x, &p->X, &zi);
    fe_mul(&y, &p->Y, &zi);
    fe_tobytes(s, &y);
    s[31] = (unsigned char)(s[31] | (fe_isnegative(&x) << 7));
}

/* What decoding keeps around its exponentiation: y, u = y^2 - 1, v = d y^2 + 1, v^3, and the
 * radicand u v^7. */
typedef struct decoding {
    fe y, u, v, v3, rad;
} decoding;

static void decode_start(decoding *d, const unsigned char s[32])
{
    fe t;
    fe_frombytes(&d->y, s);
    fe_sq(&d->u, &d->y);
    fe_mul(&d->v, &d->u, &FE_D);
    fe_1(&t);
    fe_sub(&d->u, &d->u, &t); /* u = y^2 - 1 */
    fe_add(&d->v, &d->v, &t); /* v = d y^2 + 1 */
    fe_sq(&d->v3, &d->v);
    fe_mul(&d->v3, &d->v3, &d->v);
    fe_sq(&t, &d->v3);
    fe_mul(&t, &t, &d->v);
    fe_mul(&d->rad, &t, &d->u);
}

/* x = u v^3 (u v^7)^((p - 5) / 8), a square root of u / v when one exists */
static int decode_finish(ge_p3 *r, const decoding *d, const fe *rad_p58, const unsigned char s[32])
{
    fe t, x, check;
    fe_mul(&t, rad_p58, &d->v3);
    fe_mul(&x, &t, &d->u);
    fe_sq(&check, &x);
    fe_mul(&check, &check, &d->v);
    if (!fe_equal(&check, &d->u)) {
        fe_neg(&t, &d->u);
        if (!fe_equal(&check, &t)) return -1;
        fe_mul(&x, &x, &FE_SQRTM1);
    }
    if (fe_isnegative(&x) != (s[31] >> 7)) fe_neg(&x, &x);
    r->X = x;
    r->Y = d->y;
    fe_1(&r->Z);
    fe_mul(&r->T, &x, &d->y);
    return 0;
}

void ge_frombytes_lanes(ge_p3 *r, const unsigned char *const *s, int *rc, int lanes)
{
    decoding d[2];
    fe rad[2], pw[2];
    lanes = lanes < 2 ? 1 : 2;
    for (int k = 0; k < lanes; k++) {
        decode_start(&d[k], s[k]);
        rad[k] = d[k].rad;
    }
    fe_pow_p58_lanes(pw, rad, lanes);
    for (int k = 0; k < lanes; k++) rc[k] = decode_finish(&r[k], &d[k], &pw[k], s[k]);
}

int ge_frombytes(ge_p3 *r, const unsigned char s[32])
{
    int rc;
    ge_frombytes_lanes(r, &s, &rc, 1);
    return rc;
}

int ge_is_canonical(const unsigned char s[32])
{
    /* y >= p = 2^255 - 19 exactly when bytes 1..30 are 0xff, byte 31 (low 7 bits) is 0x7f and
     * byte 0 is at least 0xed */
    if ((s[31] & 0x7f) != 0x7f || s[0] < 0xed) return 1;
    for (int i = 1; i < 31; i++)
        if (s[i] != 0xff) return 1;
    return 0;
}

int ge_has_small_order(const unsigned char s[32])
{
    /* y coordinates (little-endian, bit 255 clear) of libsodium's blocklist: 0 (order 4), 1
     * (identity), the two y of the points of order 8, p - 1 (order 2), and the non-canonical
     * p and p + 1 (0 and 1 again). */
    static const unsigned char ys[7][32] = {
        {0},
        {1},
        {0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0,
         0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05},
        {0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
         0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a},
        {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
        {0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
        {0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
    };
    unsigned char y[32];
    memcpy(y, s, 32);
    y[31] &= 0x7f;
    for (int i = 0; i < 7; i++)
        if (memcmp(y, ys[i], 32) == 0) return 1;
    return 0;
}
