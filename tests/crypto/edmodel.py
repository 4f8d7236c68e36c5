"""A small, slow model of edwards25519 for crafting test inputs (torsion points, non-canonical
encodings, signatures with chosen nonces). Tests only; never used to decide a verdict."""

from __future__ import annotations

import hashlib

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, -1, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)

Point = tuple[int, int, int, int]  # extended coordinates X, Y, Z, T
IDENTITY: Point = (0, 1, 1, 0)


def add(p: Point, q: Point) -> Point:
    a = (p[1] - p[0]) * (q[1] - q[0]) % P
    b = (p[1] + p[0]) * (q[1] + q[0]) % P
    c = 2 * D * p[3] * q[3] % P
    d = 2 * p[2] * q[2] % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def neg(p: Point) -> Point:
    return (-p[0] % P, p[1], p[2], -p[3] % P)


def mul(k: int, p: Point) -> Point:
    r = IDENTITY
    while k:
        if k & 1:
            r = add(r, p)
        p = add(p, p)
        k >>= 1
    return r


def x_from_y(y: int, sign: int) -> int | None:
    x2 = (y * y - 1) * pow(D * y * y + 1, -1, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P:
        return None
    if (x & 1) != sign:
        x = -x % P
    return x


def decode(s: bytes) -> Point | None:
    """Decodes like libsodium does (the y of the low 255 bits, reduced mod p)."""
    n = int.from_bytes(s, "little")
    y = (n & ((1 << 255) - 1)) % P
    x = x_from_y(y, n >> 255)
    return None if x is None else (x, y, 1, x * y % P)


def encode(p: Point) -> bytes:
    zi = pow(p[2], -1, P)
    x, y = p[0] * zi % P, p[1] * zi % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def equal(p: Point, q: Point) -> bool:
    return (p[0] * q[2] - q[0] * p[2]) % P == 0 and (p[1] * q[2] - q[1] * p[2]) % P == 0


BASE = decode((4 * pow(5, -1, P) % P).to_bytes(32, "little"))
assert BASE is not None


def _order8() -> Point:
    y = 2
    while True:
        q = decode(y.to_bytes(32, "little"))
        if q is not None:
            t = mul(L, q)
            if not equal(mul(4, t), IDENTITY):
                return t
        y += 1


T8 = _order8()
TORSION = [mul(i, T8) for i in range(8)]  # TORSION[i] = [i] T8, T8 of order 8


def hram(r: bytes, a: bytes, m: bytes) -> int:
    return int.from_bytes(hashlib.sha512(r + a + m).digest(), "little")


def sign_with(secret: int, public: bytes, nonce: Point, nonce_scalar: int, msg: bytes) -> bytes:
    """A signature R || s with R = the encoding of `nonce`, s = r + k a mod L (no torsion
    removed: what a signer with a torsion-carrying key or nonce would produce)."""
    r_enc = encode(nonce)
    k = hram(r_enc, public, msg) % L
    s = (nonce_scalar + k * secret) % L
    return r_enc + s.to_bytes(32, "little")
