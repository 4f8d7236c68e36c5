/*
 * Scalars modulo the group order L = 2^252 + 27742317777372353535851937790883648493, as
 * 32-byte little-endian strings. Reduction is Barrett's (radix 2^32, mu = floor(2^512 / L)),
 * products are schoolbook on 32-bit limbs; recoding into signed windows for the
 * multi-scalar multiplication.
 */
#include <string.h>

#include "ed25519_internal.h"

static const uint32_t L32[8] = {0x5cf5d3edu, 0x5812631au, 0xa2f79cd6u, 0x14def9deu,
                                0x00000000u, 0x00000000u, 0x00000000u, 0x10000000u};
static const uint32_t MU32[9] = {0x0a2c131bu, 0xed9ce5a3u, 0x086329a7u, 0x2106215du, 0xffffffebu,
                                 0xffffffffu, 0xffffffffu, 0xffffffffu, 0x0000000fu};

static void load32(uint32_t *w, const unsigned char *s, size_t nwords)
{
    for (size_t i = 0; i < nwords; i++)
        w[i] = (uint32_t)s[4 * i] | ((uint32_t)s[4 * i + 1] << 8) | ((uint32_t)s[4 * i + 2] << 16)
               | ((uint32_t)s[4 * i + 3] << 24);
}

static void store32(unsigned char *s, const uint32_t *w, size_t nwords)
{
    for (size_t i = 0; i < nwords; i++)
        for (int j = 0; j < 4; j++) s[4 * i + j] = (unsigned char)(w[i] >> (8 * j));
}

/* r[0..na+nb) = a * b */
static void mul_words(uint32_t *r, const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    memset(r, 0, (na + nb) * sizeof *r);
    for (size_t i = 0; i < na; i++) {
        uint64_t c = 0;
        for (size_t j = 0; j < nb; j++) {
            uint64_t t = (uint64_t)a[i] * b[j] + r[i + j] + c;
            r[i + j] = (uint32_t)t;
            c = t >> 32;
        }
        r[i + nb] = (uint32_t)c;
    }
}

/* a >= b for n-word numbers */
static int geq_words(const uint32_t *a, const uint32_t *b, size_t n)
{
    for (size_t i = n; i-- > 0;) {
        if (a[i] != b[i]) return a[i] > b[i];
    }
    return 1;
}

/* a -= b (mod 2^(32 n)) */
static void sub_words(uint32_t *a, const uint32_t *b, size_t n)
{
    uint64_t borrow = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t t = (uint64_t)a[i] - b[i] - borrow;
        a[i] = (uint32_t)t;
        borrow = (t >> 32) & 1;
    }
}

/* x (16 words, below 2^512) mod L into r (8 words) */
static void barrett(uint32_t r[8], const uint32_t x[16])
{
    uint32_t q2[18], r2[18], rr[9], l9[9];
    /* q3 = floor(floor(x / b^7) * mu / b^9) */
    mul_words(q2, x + 7, 9, MU32, 9);
    /* r = (x mod b^9) - (q3 L mod b^9), then at most two subtractions of L */
    mul_words(r2, q2 + 9, 9, L32, 8);
    memcpy(rr, x, sizeof rr);
    sub_words(rr, r2, 9);
    memcpy(l9, L32, sizeof L32);
    l9[8] = 0;
    while (geq_words(rr, l9, 9)) sub_words(rr, l9, 9);
    memcpy(r, rr, 8 * sizeof *r);
}

int sc_is_canonical(const unsigned char s[32])
{
    uint32_t w[8];
    load32(w, s, 8);
    return !geq_words(w, L32, 8);
}

void sc_reduce64(unsigned char out[32], const unsigned char in[64])
{
    uint32_t x[16], r[8];
    load32(x, in, 16);
    barrett(r, x);
    store32(out, r, 8);
}

void sc_mul(unsigned char out[32], const unsigned char a[32], const unsigned char b[32])
{
    uint32_t x[8], y[8], p[16], r[8];
    load32(x, a, 8);
    load32(y, b, 8);
    mul_words(p, x, 8, y, 8);
    barrett(r, p);
    store32(out, r, 8);
}

void sc_add(unsigned char out[32], const unsigned char a[32], const unsigned char b[32])
{
    uint32_t x[8], y[8];
    load32(x, a, 8);
    load32(y, b, 8);
    uint64_t c = 0;
    for (int i = 0; i < 8; i++) {
        uint64_t t = (uint64_t)x[i] + y[i] + c;
        x[i] = (uint32_t)t;
        c = t >> 32;
    }
    /* a + b < 2L < 2^254: no carry out of the top word */
    if (geq_words(x, L32, 8)) sub_words(x, L32, 8);
    store32(out, x, 8);
}

void sc_wide_zero(sc_wide *acc) { memset(acc, 0, sizeof *acc); }

void sc_wide_muladd(sc_wide *acc, const unsigned char a[16], const unsigned char b[32])
{
    uint32_t x[4], y[8];
    load32(x, a, 4);
    load32(y, b, 8);
    for (size_t i = 0; i < 4; i++) {
        uint64_t c = 0;
        for (size_t j = 0; j < 8; j++) {
            uint64_t t = (uint64_t)x[i] * y[j] + acc->w[i + j] + c;
            acc->w[i + j] = (uint32_t)t;
            c = t >> 32;
        }
        for (size_t k = i + 8; c != 0 && k < 16; k++) {
            uint64_t t = (uint64_t)acc->w[k] + c;
            acc->w[k] = (uint32_t)t;
            c = t >> 32;
        }
    }
}

void sc_wide_reduce(unsigned char out[32], const sc_wide *acc)
{
    uint32_t r[8];
    barrett(r, acc->w);
    store32(out, r, 8);
}

void sc_order(unsigned char out[32]) { store32(out, L32, 8); }

int sc_wnaf(signed char naf[SC_NAF_LEN], const unsigned char s[32], int w)
{
    uint64_t k[4];
    for (int i = 0; i < 4; i++) {
        k[i] = 0;
        for (int j = 7; j >= 0; j--) k[i] = (k[i] << 8) | s[8 * i + j];
    }
    memset(naf, 0, SC_NAF_LEN);
    const uint64_t width = (uint64_t)1 << w, half = width >> 1, mask = width - 1;
    uint64_t carry = 0;
    int top = 0, i = 0;
    while (i < 256) {
        int idx = i >> 6, off = i & 63;
        uint64_t bits = k[idx] >> off;
        if (off + w > 64 && idx < 3) bits |= k[idx + 1] << (64 - off);
        if ((bits & 1) == carry) { /* bit + carry is 0 or 2: digit 0, carry unchanged */
            i++;
            continue;
        }
        uint64_t win = (bits & mask) + carry; /* odd */
        if (win & half) {
            naf[i] = (signed char)((int64_t)win - (int64_t)width);
            carry = 1;
        } else {
            naf[i] = (signed char)win;
            carry = 0;
        }
        top = i + 1;
        i += w;
    }
    if (carry) { /* only for s >= 2^255, which callers never pass */
        naf[i < SC_NAF_LEN ? i : SC_NAF_LEN - 1] = 1;
        top = i + 1;
    }
    return top;
}
