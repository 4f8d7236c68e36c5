/*
 * Multi-scalar multiplication by Pippenger's bucket method, for many points with short
 * scalars (the batch verifier's R_i with their 128-bit coefficients). Each scalar is recoded into
 * signed digits of c bits; per window, every point is added into the bucket of its digit (no
 * per-point table, unlike Straus), and the buckets are summed with the running-sum trick
 * (sum_b b B_b in 2 (2^(c-1)) additions). Windows are combined from the top with c doublings
 * each. Variable time: every input is public. No allocation: the caller passes the scratch
 * sized by msm_pippenger_scratch.
 */
#include <string.h>

#include "ed25519_internal.h"

#define MIN_WINDOW 4
#define MAX_WINDOW 11

/* Additions per point of one bucket-sum step (a conversion to cached form and an addition),
 * in tenths, for the window choice below. */
#define AGGREGATE_COST_TENTHS 22

static size_t windows_for(int bits, int c) { return (size_t)(bits / c + 1); }

int msm_pippenger_window(size_t n, int bits)
{
    int best = MIN_WINDOW;
    double best_cost = -1;
    for (int c = MIN_WINDOW; c <= MAX_WINDOW; c++) {
        double w = (double)windows_for(bits, c);
        double cost = w * (double)n + w * (double)((size_t)1 << (c - 1)) * AGGREGATE_COST_TENTHS / 10.0;
        if (best_cost < 0 || cost < best_cost) {
            best_cost = cost;
            best = c;
        }
    }
    return best;
}

size_t msm_pippenger_scratch(size_t n, int bits, int c)
{
    /* the digits of the narrowest window, the buckets of c: enough for any window up to c */
    size_t buckets = (size_t)1 << (c - 1);
    return buckets * (sizeof(ge_p3) + 1) + n * windows_for(bits, MIN_WINDOW) * sizeof(int16_t);
}

/* Signed digits of c bits of s (< 2^bits, 32 bytes little-endian): s = sum d_j 2^(c j), with
 * |d_j| <= 2^(c-1); the top digit takes the last carry without going negative. */
static void recode(int16_t *digits, const unsigned char s[32], int bits, int c)
{
    size_t nw = windows_for(bits, c);
    int carry = 0;
    for (size_t j = 0; j < nw; j++) {
        int raw = carry;
        for (int b = 0; b < c; b++) {
            size_t pos = j * (size_t)c + (size_t)b;
            if (pos < 256 && ((s[pos >> 3] >> (pos & 7)) & 1)) raw += 1 << b;
        }
        if (j + 1 < nw && raw >= (1 << (c - 1))) {
            digits[j] = (int16_t)(raw - (1 << c));
            carry = 1;
        } else {
            digits[j] = (int16_t)raw;
            carry = 0;
        }
    }
}

void msm_pippenger(ge_p3 *out, const ge_cached *const *points, const unsigned char *const *scalars,
                   size_t n, int bits, int c, void *scratch)
{
    if (c < MIN_WINDOW) c = MIN_WINDOW;
    if (c > MAX_WINDOW) c = MAX_WINDOW;
    size_t nb = (size_t)1 << (c - 1), nw = windows_for(bits, c);
    ge_p3 *bucket = scratch;
    unsigned char *filled = (unsigned char *)(bucket + nb);
    int16_t *digits = (int16_t *)(void *)(filled + nb); /* nb is even: aligned */
    for (size_t i = 0; i < n; i++) recode(digits + i * nw, scalars[i], bits, c);

    int started = 0;
    ge_identity(out);
    for (size_t j = nw; j-- > 0;) {
        if (started)
            for (int d = 0; d < c; d++) ge_dbl(out, out);
        memset(filled, 0, nb);
        int top = -1;
        for (size_t i = 0; i < n; i++) {
            int d = digits[i * nw + j];
            if (d == 0) continue;
            size_t b = (size_t)(d > 0 ? d : -d) - 1;
            if (!filled[b]) {
                ge_from_cached(&bucket[b], points[i], d < 0);
                filled[b] = 1;
                if ((int)b > top) top = (int)b;
            } else if (d > 0)
                ge_add(&bucket[b], &bucket[b], points[i]);
            else
                ge_sub(&bucket[b], &bucket[b], points[i]);
        }
        if (top < 0) continue;
        /* sum_b (b + 1) bucket[b] = sum over t of (bucket[top] + ... + bucket[t]) */
        ge_p3 running = bucket[top], sum = bucket[top];
        ge_cached tmp;
        for (int b = top - 1; b >= 0; b--) {
            if (filled[b]) {
                ge_to_cached(&tmp, &bucket[b]);
                ge_add(&running, &running, &tmp);
            }
            ge_to_cached(&tmp, &running);
            ge_add(&sum, &sum, &tmp);
        }
        if (started) {
            ge_to_cached(&tmp, &sum);
            ge_add(out, out, &tmp);
        } else {
            *out = sum;
            started = 1;
        }
    }
}
