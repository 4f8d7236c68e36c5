"""Batch verification of Ed25519 signatures with libsodium's verdicts.

``verify_batch(items)`` takes ``(public_key, message, signature)`` triples and returns one
``bool`` per item: exactly what :func:`agent.crypto.verify_ed25519` (PyNaCl, that is libsodium's
``crypto_sign_verify_detached``) says for that item, for every input. With the native core
(``csrc/ed25519/``, one C call that runs without the GIL) the items are checked together; without
it, and for calls with fewer than three well-formed items (libsodium alone is faster there), they
are checked one by one with PyNaCl. Keys, signatures or messages of types PyNaCl does not read as
bytes get whatever :func:`verify_ed25519` makes of them.

How identical verdicts are guaranteed. libsodium accepts ``(A, M, R || s)`` exactly when:
``len(A) == 32`` and ``len(sig) == 64``; ``s < L``; the 32 bytes of ``R`` are not one of its
small-order encodings; ``A`` is canonical (``y < p``), not a small-order encoding, and decodes to a
curve point; and the canonical encoding of ``[s]B - [k]A`` equals the bytes of ``R``, where
``k = SHA-512(R || A || M) mod L`` (the cofactorless equation). The C core applies the same
encoding rules, per distinct key and per item (an ``R`` that is not canonical or does not decode
can never equal a canonical encoding, so it is refused). Then:

* items whose ``A`` and ``R`` both lie in the prime-order subgroup (tested once per distinct key
  and once per ``R``: one point halving and a quartic character, ``csrc/ed25519/subgroup.c``; a
  test that cannot conclude answers "not in the subgroup", which only means the exact path below)
  are checked with one random linear combination ``sum z_i ([s_i]B - R_i - [k_i]A_i) = 0``, the
  ``z_i`` 128 bits each from ``os.urandom``, fresh for every call. Every point involved is in
  the subgroup of prime order ``L > 2^252``, so the sum is zero whenever libsodium accepts every
  item, and for a batch holding an item libsodium rejects it is zero with probability at most
  ``2^-128`` (no cofactor is multiplied in, and there is no small-order part to cancel out);
* items whose ``A`` or ``R`` has a small-order component (libsodium may accept those, about one
  in eight, through the exact cofactorless equation) are verified one by one with that exact
  equation, byte-compared like libsodium does;
* a failing combination is split in halves until the bad items are found (two items or fewer
  are verified one by one with the exact equation).

Items that share a public key fold their ``z_i k_i`` into one scalar for that key (one server
key, one evidence key: the common case). The combination is one multi-scalar multiplication:
Straus for the base point and the keys, Pippenger's buckets for the ``R_i`` from 128 items on.
None of this changes a verdict: the arithmetic is exact, only the order of the work differs.
The differential tests (``tests/crypto/``) check every verdict against PyNaCl: RFC 8032
vectors, the twelve edge cases of "Taming the many EdDSAs", torsion-carrying keys and nonces,
non-canonical encodings, random mixes, and batches large enough for the buckets.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import Any, Final

from agent import native
from agent.crypto.keys import verify_ed25519

KEY_LEN: Final = 32
SIG_LEN: Final = 64
_COEFF_LEN: Final = 16
_BATCH_MIN: Final = 3  # fewer well-formed items go to PyNaCl one by one
# Messages that verify_ed25519 reads as their bytes; any other type of message, and keys or
# signatures that are not bytes (PyNaCl refuses bytearray there), take the one-by-one path.
_MESSAGE_TYPES: Final = (bytes, bytearray, memoryview)

Item = tuple[bytes, bytes, bytes]


def native_in_use() -> tuple[bool, str]:
    """Whether :func:`verify_batch` runs the native verifier, and why not when it does not."""
    return native.batch_verifier()


def verify_batch(items: Sequence[Item]) -> list[bool]:
    """One verdict per ``(public_key, message, signature)``, identical to :func:`verify_ed25519`."""
    if native_in_use()[0]:
        return verify_batch_with(native.ffi(), native.lib(), items)
    return verify_batch_pure(items)


def verify_any_key(signed: Sequence[tuple[bytes, bytes]], keys: Sequence[bytes]) -> list[bytes | None]:
    """For each ``(message, signature)``, the first of ``keys`` (in their order) under which it
    verifies, or ``None``; what trying the keys in turn with :func:`verify_ed25519` gives.

    The keys are tried in rounds: every item against the first key in one :func:`verify_batch`
    call, the items left against the second key in the next, and so on. Items signed with the
    first key (the current server key: the common case) thus form one batch that passes as a
    whole, instead of a batch in which half the items fail for the wrong key.
    """
    found: list[bytes | None] = [None] * len(signed)
    left = list(range(len(signed)))
    for key in keys:
        if not left:
            break
        verdicts = verify_batch([(key, signed[i][0], signed[i][1]) for i in left])
        for i, ok in zip(left, verdicts, strict=True):
            if ok:
                found[i] = key
        left = [i for i, ok in zip(left, verdicts, strict=True) if not ok]
    return found


def verify_batch_pure(items: Sequence[Item]) -> list[bool]:
    """The pure-Python path: PyNaCl one item at a time."""
    return [verify_ed25519(pk, msg, sig) for pk, msg, sig in items]


def verify_batch_with(
    ffi: Any, lib: Any, items: Sequence[Item], *, native_from: int = _BATCH_MIN
) -> list[bool]:
    """:func:`verify_batch` through a given build of the C verifier (the tests load others);
    with fewer than ``native_from`` well-formed items, PyNaCl verifies them instead."""
    verdicts = [False] * len(items)
    keys: dict[bytes, int] = {}
    index: list[int] = []
    positions: list[int] = []
    sigs: list[bytes] = []
    hashes: list[bytes] = []
    for pos, (pk, msg, sig) in enumerate(items):
        if not (isinstance(pk, bytes) and isinstance(sig, bytes) and isinstance(msg, _MESSAGE_TYPES)):
            verdicts[pos] = verify_ed25519(pk, msg, sig)  # odd types: whatever PyNaCl makes of them
            continue
        if len(pk) != KEY_LEN or len(sig) != SIG_LEN:
            continue  # PyNaCl raises on these lengths: a False verdict
        if not isinstance(msg, bytes):
            msg = bytes(msg)
        positions.append(pos)
        index.append(keys.setdefault(pk, len(keys)))
        sigs.append(sig)
        h = hashlib.sha512(sig[:32])
        h.update(pk)
        h.update(msg)
        hashes.append(h.digest())
    n = len(positions)
    if n < native_from:  # libsodium itself is faster for one or two signatures (same verdicts)
        for pos in positions:
            verdicts[pos] = verify_ed25519(*items[pos])
        return verdicts
    out = ffi.new("unsigned char[]", n)
    key_index = ffi.new("size_t[]", index)
    key_bytes = b"".join(keys)
    rc = lib.ed25519_verify_batch(
        ffi.from_buffer(key_bytes), len(keys), key_index, ffi.from_buffer(b"".join(sigs)),
        ffi.from_buffer(b"".join(hashes)), ffi.from_buffer(os.urandom(_COEFF_LEN * n)), n, out,
    )
    if rc == -2:
        raise MemoryError("Ed25519 batch verifier: out of memory")
    if rc != 0:
        raise RuntimeError(f"Ed25519 batch verifier failed ({rc})")
    results = ffi.unpack(out, n)
    for pos, ok in zip(positions, results, strict=True):
        verdicts[pos] = bool(ok)
    return verdicts
