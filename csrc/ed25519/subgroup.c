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

/* u^2 + A u + 1 */
static void mont_rhs_over_u(fe *r, const fe *u)
{
    fe t, one;
    fe_1(&one);
    fe_add(&t, u, &MONT_A);
    fe_mul(&t, &t, u);
    fe_add(r, &t, &one);
}

int ge_is_torsion_free(const ge_p3 *p)
{
    fe zmy, zpy, den, inv, w, v, t, s, m, r, x, one;
    fe_1(&one);
    /* Montgomery coordinates of P (one inversion) */
    fe_sub(&zmy, &p->Z, &p->Y);
    fe_add(&zpy, &p->Z, &p->Y);
    fe_mul(&den, &zmy, &p->X);
    if (fe_iszero(&den)) return 0; /* x = 0 or y = 1: small order */
    fe_invert(&inv, &den);
    fe_mul(&w, &zpy, &p->X);
    fe_mul(&w, &w, &inv);          /* (Z + Y) / (Z - Y) */
    fe_mul(&v, &zpy, &p->Z);
    fe_mul(&v, &v, &inv);
    fe_mul(&v, &v, &SQRT_M_AP2);   /* sqrt(-(A + 2)) (Z + Y) Z / ((Z - Y) X) */
    if (fe_iszero(&w) || fe_iszero(&v)) return 0;

    /* P in 2E: s = sqrt(w^2 + A w + 1) exists */
    mont_rhs_over_u(&t, &w);
    if (!fe_sqrt(&s, &t)) return 0;

    /* a rational half: u(Q) = m + sqrt(m^2 - 1), m = w + s or w - s */
    int found = 0;
    for (int sign = 0; sign < 2 && !found; sign++) {
        if (sign == 0)
            fe_add(&m, &w, &s);
        else
            fe_sub(&m, &w, &s);
        fe_sq(&t, &m);
        fe_sub(&t, &t, &one);
        if (fe_sqrt(&r, &t)) {
            fe_add(&x, &m, &r);
            found = 1;
        }
    }
    if (!found || fe_iszero(&x)) return 0;

    /* check: u(2Q) = w, i.e. (x^2 - 1)^2 = 4 w x (x^2 + A x + 1) */
    fe x2, lhs, rhs, g;
    fe_sq(&x2, &x);
    fe_sub(&lhs, &x2, &one);
    fe_sq(&lhs, &lhs);
    mont_rhs_over_u(&g, &x); /* x^2 + A x + 1 */
    fe_mul(&rhs, &g, &x);    /* x^3 + A x^2 + x = v(Q)^2 */
    fe_mul(&t, &rhs, &w);
    fe_add(&t, &t, &t);
    fe_add(&t, &t, &t);
    if (!fe_equal(&lhs, &t)) return 0;

    /* v(Q) = nq / (2v), nq = (3x^2 + 2Ax + 1)(x - w) - 2(x^3 + A x^2 + x): the half with 2Q = P */
    fe nq, a3, two_v;
    fe_add(&a3, &x2, &x2);
    fe_add(&a3, &a3, &x2);           /* 3x^2 */
    fe_mul(&t, &MONT_A, &x);
    fe_add(&t, &t, &t);              /* 2Ax */
    fe_add(&a3, &a3, &t);
    fe_add(&a3, &a3, &one);          /* 3x^2 + 2Ax + 1 */
    fe_sub(&t, &x, &w);
    fe_mul(&nq, &a3, &t);
    fe_add(&t, &rhs, &rhs);
    fe_sub(&nq, &nq, &t);
    fe_add(&two_v, &v, &v);
    /* check: v(Q)^2 = x^3 + A x^2 + x, i.e. nq^2 = (2v)^2 (x^3 + A x^2 + x) */
    fe four_v2, c1, c2;
    fe_sq(&four_v2, &two_v);
    fe_sq(&c1, &nq);
    fe_mul(&c2, &four_v2, &rhs);
    if (!fe_equal(&c1, &c2)) return 0;

    /* Q in 4E: (l^2 / x)^((p-1)/4) = 1 with l = v(Q) - sqrt(A + 2) x = (nq - 2v sqrt(A+2) x) / (2v).
     * l^2 / x = ln^2 / (4v^2 x) has the quartic character of ln^2 (4v^2 x)^3. */
    fe ln, e, d3;
    fe_mul(&t, &two_v, &SQRT_AP2);
    fe_mul(&t, &t, &x);
    fe_sub(&ln, &nq, &t);
    if (fe_iszero(&ln)) return 0;
    fe_sq(&e, &ln);
    fe_mul(&d3, &four_v2, &x);
    fe_sq(&t, &d3);
    fe_mul(&d3, &d3, &t);
    fe_mul(&e, &e, &d3);
    fe_pow_quartic(&t, &e);
    return fe_equal(&t, &one);
}
