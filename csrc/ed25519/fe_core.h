/*
 * The field products of fe.c, inline: radix 2^51 limbs with 128-bit products, unsigned __int128
 * where the compiler has it, otherwise a portable pair of 64-bit words built from 32-bit halves
 * (define ED25519_PORTABLE to force it; the tests build both). Included by fe.c and by the
 * group code whose inner loops are made of these products (ge.c), so that no call is paid per
 * product. Not part of the public API.
 */
#ifndef ED25519_FE_CORE_H
#define ED25519_FE_CORE_H

#include <stdint.h>

#include "ed25519_internal.h"

#define MASK51 ((((uint64_t)1) << 51) - 1)

/* The products are inlined into every caller (GCC and Clang otherwise keep them out of line for
 * their size, and the call then costs a tenth of the product). */
#if defined(__GNUC__)
#define FE_INLINE static inline __attribute__((always_inline))
#else
#define FE_INLINE static inline
#endif

#if defined(__SIZEOF_INT128__) && !defined(ED25519_PORTABLE)
__extension__ typedef unsigned __int128 u128;

static inline u128 mul64(uint64_t a, uint64_t b) { return (u128)a * b; }
static inline u128 add128(u128 x, u128 y) { return x + y; }
static inline uint64_t lo51(u128 x) { return (uint64_t)x & MASK51; }
static inline uint64_t shr51(u128 x) { return (uint64_t)(x >> 51); }
#else
typedef struct u128 {
    uint64_t lo, hi;
} u128;

static inline u128 mul64(uint64_t a, uint64_t b)
{
    uint64_t a0 = a & 0xffffffffu, a1 = a >> 32, b0 = b & 0xffffffffu, b1 = b >> 32;
    uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    uint64_t mid = (p00 >> 32) + (p01 & 0xffffffffu) + (p10 & 0xffffffffu);
    u128 r;
    r.lo = (p00 & 0xffffffffu) | (mid << 32);
    r.hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
    return r;
}

static inline u128 add128(u128 x, u128 y)
{
    u128 r;
    r.lo = x.lo + y.lo;
    r.hi = x.hi + y.hi + (r.lo < x.lo);
    return r;
}

static inline uint64_t lo51(u128 x) { return x.lo & MASK51; }
static inline uint64_t shr51(u128 x) { return (x.lo >> 51) | (x.hi << 13); }
#endif

/* r0..r4 to limbs below 2^52: the five carries are split off independently, then one 64-bit
 * carry pass. With input limbs F, G and F G < 2^108.4 (every product below): r_i <= 77 F G
 * < 2^115, so each carry is below 2^64, and r4 <= 5 F G, so 19 times its carry is too. */
static inline void reduce_wide(fe *h, u128 r0, u128 r1, u128 r2, u128 r3, u128 r4)
{
    uint64_t c0 = shr51(r0), c1 = shr51(r1), c2 = shr51(r2), c3 = shr51(r3), c4 = shr51(r4);
    uint64_t h0 = lo51(r0) + 19 * c4, h1 = lo51(r1) + c0, h2 = lo51(r2) + c1;
    uint64_t h3 = lo51(r3) + c2, h4 = lo51(r4) + c3;
    h1 += h0 >> 51; h0 &= MASK51;
    h2 += h1 >> 51; h1 &= MASK51;
    h3 += h2 >> 51; h2 &= MASK51;
    h4 += h3 >> 51; h3 &= MASK51;
    h0 += 19 * (h4 >> 51); h4 &= MASK51;
    h->v[0] = h0;
    h->v[1] = h1;
    h->v[2] = h2;
    h->v[3] = h3;
    h->v[4] = h4;
}

FE_INLINE void fe_mul_core(fe *h, const fe *f, const fe *g)
{
    uint64_t f0 = f->v[0], f1 = f->v[1], f2 = f->v[2], f3 = f->v[3], f4 = f->v[4];
    uint64_t g0 = g->v[0], g1 = g->v[1], g2 = g->v[2], g3 = g->v[3], g4 = g->v[4];
    uint64_t g1_19 = 19 * g1, g2_19 = 19 * g2, g3_19 = 19 * g3, g4_19 = 19 * g4;
    u128 r0 = add128(add128(mul64(f0, g0), mul64(f1, g4_19)),
                     add128(add128(mul64(f2, g3_19), mul64(f3, g2_19)), mul64(f4, g1_19)));
    u128 r1 = add128(add128(mul64(f0, g1), mul64(f1, g0)),
                     add128(add128(mul64(f2, g4_19), mul64(f3, g3_19)), mul64(f4, g2_19)));
    u128 r2 = add128(add128(mul64(f0, g2), mul64(f1, g1)),
                     add128(add128(mul64(f2, g0), mul64(f3, g4_19)), mul64(f4, g3_19)));
    u128 r3 = add128(add128(mul64(f0, g3), mul64(f1, g2)),
                     add128(add128(mul64(f2, g1), mul64(f3, g0)), mul64(f4, g4_19)));
    u128 r4 = add128(add128(mul64(f0, g4), mul64(f1, g3)),
                     add128(add128(mul64(f2, g2), mul64(f3, g1)), mul64(f4, g0)));
    reduce_wide(h, r0, r1, r2, r3, r4);
}

FE_INLINE void fe_sq_core(fe *h, const fe *f)
{
    uint64_t f0 = f->v[0], f1 = f->v[1], f2 = f->v[2], f3 = f->v[3], f4 = f->v[4];
    uint64_t f0_2 = 2 * f0, f1_2 = 2 * f1, f1_38 = 38 * f1, f2_38 = 38 * f2, f3_38 = 38 * f3;
    uint64_t f3_19 = 19 * f3, f4_19 = 19 * f4;
    u128 r0 = add128(mul64(f0, f0), add128(mul64(f1_38, f4), mul64(f2_38, f3)));
    u128 r1 = add128(mul64(f0_2, f1), add128(mul64(f2_38, f4), mul64(f3_19, f3)));
    u128 r2 = add128(mul64(f0_2, f2), add128(mul64(f1, f1), mul64(f3_38, f4)));
    u128 r3 = add128(mul64(f0_2, f3), add128(mul64(f1_2, f2), mul64(f4_19, f4)));
    u128 r4 = add128(mul64(f0_2, f4), add128(mul64(f1_2, f3), mul64(f2, f2)));
    reduce_wide(h, r0, r1, r2, r3, r4);
}

/* Sums and differences without a carry pass, for operands that go straight into a product:
 * fe_mul_core and fe_sq_core are exact for inputs whose largest limbs F and G have
 * F G < 2^108.4 (then 19 times the top carry of the product fits in 64 bits), so a limb may
 * grow to about 2^54 between two products. Callers state the bound at each use. */
static inline void fe_add_nc(fe *h, const fe *f, const fe *g)
{
    for (int i = 0; i < 5; i++) h->v[i] = f->v[i] + g->v[i];
}

/* f + 4p - g: g limbs at most 2^53 - 76 (any weakly reduced g, below 2^52, qualifies) */
static inline void fe_sub_nc(fe *h, const fe *f, const fe *g)
{
    static const uint64_t four_p[5] = {0x1fffffffffffb4u, 0x1ffffffffffffcu, 0x1ffffffffffffcu,
                                       0x1ffffffffffffcu, 0x1ffffffffffffcu};
    for (int i = 0; i < 5; i++) h->v[i] = f->v[i] + four_p[i] - g->v[i];
}

#endif
