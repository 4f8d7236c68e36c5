/*
 * Prime-order subgroup test without a scalar multiplication by L.
 *
 * E(F_p) is cyclic of order 8L; the subgroup of order L is 8E. On the Montgomery form
 * v^2 = u^3 + A u^2 + u (u = (1 + y) / (1 - y), v = sqrt(-(A + 2)) u / x):
 *   - P is in 2E iff u(P) is a square, iff w^2 + A w + 1 is a square (w = u(P));
 *   - the halves Q of P (2Q = P) have u(Q) = m +- sqrt(m^2 - 1) with m = w +- s,
 *     s^2 = w^2 + A w + 1: for one sign of s, m^2 - 1 is a square and the halves are rational;
 *   - Q is in 4E iff the reduced Tate pairing of order 4 with T = (1, sqrt(A + 2)) (a rational
 *     point of order 4, since p = 1 mod 4) is 1: f(Q)^((p - 1) / 4) = 1 with
 *     f = l^2 / u, l = v - sqrt(A + 2) u the tangent at T (Miller's function for 4T = O);
 *   - P is in 8E iff P is in 2E and a half of P is in 4E.
 * The half is checked to be one (its u satisfies the doubling formula and its v the curve
 * equation), so a wrong branch can only answer "not in the subgroup", which sends the item to
 * the exact one-by-one verification: never a wrong verdict.
 */
#include "ed25519_internal.h"

static const fe MONT_A = {{486662u, 0, 0, 0, 0}};
static const fe SQRT_M_AP2 = {{0x604aaff457e06u, 0x2296fa350598du, 0x7f13dfb16874fu,
                               0x35de93d846e01u, 0x0f26edf460a00u}}; /* sqrt(-(A + 2)) */
static const fe SQRT_AP2 = {{0x248ef9c884415u, 0x0e509526c7d34u, 0x7d29bbd8d6847u,
                             0x157e10fd3bd6bu, 0x6be4f497f9a9cu}}; /* sqrt(A + 2) */
static const fe N_A24 = {{0x0003724c21c20u, 0, 0, 0, 0}}; /* n = A^2 - 4, not a square */
static const fe ZETA_I = {{0x71277b3ba5222u, 0x2970a394eb516u, 0x0b29a3e775c7bu, 0x0f75f12ecb490u,
                           0x219fc5bc27acfu}}; /* sqrt(n / i) */
static const fe ZETA_MI = {{0x48befa14b6386u, 0x3d8b4d0d98017u, 0x40e99219f1a86u, 0x5f873e60f4e67u,
                            0x797f018b3b0eeu}}; /* sqrt(n / -i) */

/* a^2 + A a b + b^2 */
static void mont_quad(fe *r, const fe *a, const fe *b)
{
    fe t, u;
    fe_mul(&t, &MONT_A, b);
    fe_add(&t, &t, a);
    fe_mul(&t, &t, a); /* a^2 + A a b */
    fe_sq(&u, b);
    fe_add(r, &t, &u);
}

/* Every quantity is kept as a fraction over powers of D = Z - Y, so no inversion is needed:
 * w = u(P) = W / D with W = Z + Y; v(P) = Vn / Vd with Vn = sqrt(-(A+2)) W Z, Vd = D X.
 * The test runs in three stages, each ending with the radicand of an exponentiation, so that
 * two points can go through it side by side (their exponentiations interleaved,
 * fe_pow_p58_lanes); a point that fails a stage is dead, and its later exponentiations are
 * of 1. */
typedef struct lane {
    int alive;
    fe W, D, Vn, Vd, S, D2, M, rad;
} lane;

/* P in 2E: S = sqrt(W^2 + A W D + D^2) = D s exists. Its radicand. */
static void stage_s(lane *l, const ge_p3 *p)
{
    fe_add(&l->W, &p->Z, &p->Y);
    fe_sub(&l->D, &p->Z, &p->Y);
    l->alive = !(fe_iszero(&l->D) || fe_iszero(&l->W) || fe_iszero(&p->X)); /* small order */
    fe_mul(&l->Vn, &l->W, &p->Z);
    fe_mul(&l->Vn, &l->Vn, &SQRT_M_AP2);
    fe_mul(&l->Vd, &l->D, &p->X);
    mont_quad(&l->rad, &l->W, &l->D);
}

/* S from its exponentiation; then the radicand of a rational half: u(Q) = Xn / D,
 * Xn = M + sqrt(M^2 - D^2) for M = W + S or M = W - S, whichever makes M^2 - D^2 a square.
 * (M+^2 - D^2)(M-^2 - D^2) = W^2 D^2 n with n = A^2 - 4 not a square, so exactly one does;
 * the radicand is M+^2 - D^2 (stage_e handles M-). */
static void stage_half(lane *l, const fe *p58)
{
    if (!l->alive || !fe_sqrt_finish(&l->S, &l->rad, p58)) {
        l->alive = 0;
        return;
    }
    fe_sq(&l->D2, &l->D);
    fe_add(&l->M, &l->W, &l->S);
    fe_sq(&l->rad, &l->M);
    fe_sub(&l->rad, &l->rad, &l->D2);
    if (fe_iszero(&l->rad)) l->alive = 0;
}

/* The half, checked to be one, and the radicand E of the quartic character (Q in 4E iff it is
 * 1). When M- is the one, its root W D n / rho comes from the same exponentiation
 * (rho = sqrt((M+^2 - D^2) n)), and W, D are scaled by rho so that w = W / D and x = Xn / D
 * still share their denominator. */
static void stage_e(lane *l, const fe *p58)
{
    fe R, Xn, t, G, Rh, lhs, Nn, Ln, E;
    if (!l->alive) return;
    fe *W = &l->W, *D = &l->D, *D2 = &l->D2;
    if (fe_sqrt_or_twist_finish(&R, &l->rad, p58, &ZETA_I, &ZETA_MI)) {
        fe_add(&Xn, &l->M, &R);
    } else {
        fe_sub(&l->M, W, &l->S);
        fe_mul(&Xn, &l->M, &R);
        fe_mul(&t, W, D);
        fe_mul(&t, &t, &N_A24);
        fe_add(&Xn, &Xn, &t);
        fe_mul(W, W, &R);
        fe_mul(D, D, &R);
        fe_sq(D2, D);
    }
    l->alive = 0;
    if (fe_iszero(&Xn) || fe_iszero(D)) return;

    /* check u(2Q) = w: (Xn^2 - D^2)^2 = 4 W Xn (Xn^2 + A Xn D + D^2) = 4 W Rh */
    fe Xn2;
    fe_sq(&Xn2, &Xn);
    fe_sub(&lhs, &Xn2, D2);
    fe_sq(&lhs, &lhs);
    mont_quad(&G, &Xn, D);
    fe_mul(&Rh, &Xn, &G); /* D^3 (x^3 + A x^2 + x) */
    fe_mul(&t, &Rh, W);
    fe_add(&t, &t, &t);
    fe_add(&t, &t, &t);
    if (!fe_equal(&lhs, &t)) return;

    /* v(Q) = Nn Vd / (2 Vn D^3) with Nn = (3Xn^2 + 2A Xn D + D^2)(Xn - W) - 2 Rh (the half with
     * 2Q = P); check v(Q)^2 = x^3 + A x^2 + x: Nn^2 Vd^2 = 4 Vn^2 D^3 Rh */
    fe a3, D3, c1, c2;
    fe_add(&a3, &Xn2, &Xn2);
    fe_add(&a3, &a3, &Xn2);
    fe_mul(&t, &MONT_A, &Xn);
    fe_mul(&t, &t, D);
    fe_add(&t, &t, &t);
    fe_add(&a3, &a3, &t);
    fe_add(&a3, &a3, D2);
    fe_sub(&t, &Xn, W);
    fe_mul(&Nn, &a3, &t);
    fe_add(&t, &Rh, &Rh);
    fe_sub(&Nn, &Nn, &t);
    fe_mul(&D3, D2, D);
    fe_mul(&c1, &Nn, &l->Vd);
    fe_sq(&c1, &c1);
    fe_sq(&c2, &l->Vn);
    fe_mul(&c2, &c2, &D3);
    fe_mul(&c2, &c2, &Rh);
    fe_add(&c2, &c2, &c2);
    fe_add(&c2, &c2, &c2);
    if (!fe_equal(&c1, &c2)) return;

    /* Q in 4E: l = v(Q) - sqrt(A+2) x = Ln / Ld, Ln = Nn Vd - 2 sqrt(A+2) Xn Vn D^2,
     * Ld = 2 Vn D^3; l^2 x^3 = Ln^2 Xn^3 / (Ld^2 D^3) has the quartic character of
     * Ln^2 Xn^3 (Ld^2 D^3)^3, that is of Ln^2 Xn^3 Ld^2 D (fourth powers dropped). */
    fe Ld;
    fe_mul(&Ln, &Nn, &l->Vd);
    fe_mul(&t, &Xn, &l->Vn);
    fe_mul(&t, &t, D2);
    fe_mul(&t, &t, &SQRT_AP2);
    fe_add(&t, &t, &t);
    fe_sub(&Ln, &Ln, &t);
    if (fe_iszero(&Ln)) return;
    fe_mul(&Ld, &l->Vn, &D3);
    fe_add(&Ld, &Ld, &Ld);
    fe_sq(&E, &Ln);
    fe_mul(&E, &E, &Xn2);
    fe_mul(&E, &E, &Xn);
    fe_sq(&t, &Ld);
    fe_mul(&E, &E, &t);
    fe_mul(&E, &E, D);
    l->rad = E;
    l->alive = 1;
}

/* The radicands of the live lanes, 1 for the dead ones. */
static void radicands(fe *out, const lane *l, int lanes)
{
    for (int k = 0; k < lanes; k++) {
        if (l[k].alive)
            out[k] = l[k].rad;
        else
            fe_1(&out[k]);
    }
}

void ge_is_torsion_free_lanes(const ge_p3 *const *p, int *out, int lanes)
{
    lane l[2];
    fe rad[2], pw[2], one;
    lanes = lanes < 2 ? 1 : 2;
    for (int k = 0; k < lanes; k++) stage_s(&l[k], p[k]);
    radicands(rad, l, lanes);
    fe_pow_p58_lanes(pw, rad, lanes);
    for (int k = 0; k < lanes; k++) stage_half(&l[k], &pw[k]);
    radicands(rad, l, lanes);
    fe_pow_p58_lanes(pw, rad, lanes);
    for (int k = 0; k < lanes; k++) stage_e(&l[k], &pw[k]);
    radicands(rad, l, lanes);
    fe_pow_quartic_lanes(pw, rad, lanes);
    fe_1(&one);
    for (int k = 0; k < lanes; k++) out[k] = l[k].alive && fe_equal(&pw[k], &one);
}

int ge_is_torsion_free(const ge_p3 *p)
{
    int out;
    ge_is_torsion_free_lanes(&p, &out, 1);
    return out;
}
