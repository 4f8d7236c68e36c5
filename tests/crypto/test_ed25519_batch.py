"""``agent.crypto.verify_batch`` gives PyNaCl's (libsodium's) verdict for every item.

Differential throughout: every expected verdict is PyNaCl's own (``verify_batch_pure``), computed
in the same run; the vectors only supply interesting inputs. Covered: RFC 8032 §7.1, the edge
cases of "Taming the many EdDSAs" (speccheck), keys and nonces with small-order components
(accepted and rejected by libsodium), non-canonical encodings of s, R and A, small-order and
undecodable points, wrong lengths, empty and large messages, batches with bad items to bisect,
and hypothesis-generated mixes with shared and distinct keys.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import nacl.signing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.crypto import edmodel as em

from agent.crypto import verify_batch, verify_ed25519
from agent.crypto.batch import native_in_use, verify_batch_pure, verify_batch_with

DATA = Path(__file__).parent / "data"
Item = tuple[bytes, bytes, bytes]

# RFC 8032 §7.1: TEST 1, 2, 3 (seed, public key, message, signature).
RFC8032 = [
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46b"
     "d25bf5f0595bbe24655141438e7a100b"),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c"
     "387b2eaeb4302aeeb00d291612bb0c00"),
    ("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc659"
     "4a7c15e9716ed28dc027beceea1ec40a"),
]


def native_alone(items: list[Item]) -> list[bool]:
    """The C verifier even for one or two items (verify_batch hands those to PyNaCl)."""
    from agent import native

    if not native_in_use()[0]:
        return verify_batch_pure(items)
    return verify_batch_with(native.ffi(), native.lib(), items, native_from=1)


def check(items: list[Item]) -> list[bool]:
    """verify_batch's verdicts, asserted equal to PyNaCl's; also for the items one by one."""
    expected = verify_batch_pure(items)
    assert verify_batch(items) == expected
    assert native_alone(items) == expected
    return expected


def _valid(key: nacl.signing.SigningKey, msg: bytes) -> Item:
    return bytes(key.verify_key), msg, key.sign(msg).signature


KEYS = [nacl.signing.SigningKey(bytes([i + 1]) * 32) for i in range(6)]


def test_native_verifier_in_use_when_native_core_is() -> None:
    from agent import native

    in_use, reason = native_in_use()
    assert in_use == native.NATIVE, reason
    assert reason


def test_rfc8032_vectors() -> None:
    items = []
    for seed, pk, msg, sig in RFC8032:
        key = nacl.signing.SigningKey(bytes.fromhex(seed))
        assert bytes(key.verify_key).hex() == pk
        assert key.sign(bytes.fromhex(msg)).signature.hex() == sig
        items.append((bytes.fromhex(pk), bytes.fromhex(msg), bytes.fromhex(sig)))
    assert check(items) == [True] * 3
    for item in items:
        assert native_alone([item]) == [True]
        bad = (item[0], item[1] + b"!", item[2])
        assert check([item, bad]) == [True, False]


def _speccheck() -> list[Item]:
    cases = json.loads((DATA / "speccheck_cases.json").read_text())
    return [(bytes.fromhex(c["pub_key"]), bytes.fromhex(c["message"]), bytes.fromhex(c["signature"]))
            for c in cases]


def test_taming_the_many_eddsas_cases() -> None:
    cases = _speccheck()
    assert len(cases) >= 12
    verdicts = check(cases)
    for case, verdict in zip(cases, verdicts, strict=True):
        assert native_alone([case]) == [verdict]
    # mixed into a batch of valid signatures (shared and distinct keys), in both orders
    valid = [_valid(KEYS[i % 3], bytes([i])) for i in range(12)]
    check(valid + cases)
    check(cases[::-1] + valid)


# ---- crafted inputs -------------------------------------------------------------------------

def _mixed_key(rng: random.Random, t: int) -> tuple[int, bytes]:
    a = rng.randrange(1, em.L)
    return a, em.encode(em.add(em.mul(a, em.BASE), em.TORSION[t]))


def _torsion_items(rng: random.Random) -> list[Item]:
    """Signatures made with keys and nonces carrying small-order components: libsodium accepts
    some (the cofactorless equation happens to hold) and rejects the others."""
    items: list[Item] = []
    accepted = 0
    for t_key in range(8):
        a, pk = _mixed_key(rng, t_key)
        for t_nonce in (0, 0, 1, 4, 6, rng.randrange(8)):
            for _ in range(3):
                r = rng.randrange(1, em.L)
                nonce = em.add(em.mul(r, em.BASE), em.TORSION[t_nonce])
                msg = os.urandom(rng.randrange(40))
                items.append((pk, msg, em.sign_with(a, pk, nonce, r, msg)))
        # search for an accepted one: R's torsion must equal -k T_key (1 try in 8 or better)
        for _ in range(64):
            r = rng.randrange(1, em.L)
            t_nonce = rng.randrange(8)
            nonce = em.add(em.mul(r, em.BASE), em.TORSION[t_nonce])
            msg = os.urandom(8)
            item = (pk, msg, em.sign_with(a, pk, nonce, r, msg))
            if verify_ed25519(*item):
                items.append(item)
                accepted += 1
                break
    assert accepted >= 7  # libsodium does accept torsion-carrying signatures
    return items


def test_torsion_keys_and_nonces() -> None:
    rng = random.Random(1)
    items = _torsion_items(rng)
    verdicts = check(items)
    assert any(verdicts) and not all(verdicts)
    for item, verdict in zip(items, verdicts, strict=True):
        assert native_alone([item]) == [verdict]
    valid = [_valid(KEYS[0], bytes([i])) for i in range(20)]
    mixed = valid + items
    rng.shuffle(mixed)
    check(mixed)


def _small_y_encoding() -> tuple[bytes, bytes]:
    """A point whose y < 19: its canonical encoding and the non-canonical y + p (same point)."""
    y = next(y for y in range(2, 19) if em.x_from_y(y, 0) is not None)
    return y.to_bytes(32, "little"), (y + em.P).to_bytes(32, "little")


def test_non_canonical_encodings() -> None:
    rng = random.Random(2)
    key = KEYS[1]
    pk = bytes(key.verify_key)
    msg = b"order"
    sig = key.sign(msg).signature
    s = int.from_bytes(sig[32:], "little")
    items: list[Item] = [(pk, msg, sig)]
    # s + L (non-canonical s, same residue), s with the top bits set, s = L, s = L - 1
    items.append((pk, msg, sig[:32] + (s + em.L).to_bytes(32, "little")))
    items.append((pk, msg, sig[:32] + bytes(31) + b"\xf0"))
    items.append((pk, msg, sig[:32] + em.L.to_bytes(32, "little")))
    items.append((pk, msg, sig[:32] + (em.L - 1).to_bytes(32, "little")))
    # R and A given with y + p (y < 19): the same point, non-canonically encoded
    canon, noncanon = _small_y_encoding()
    point = em.decode(canon)
    assert point is not None and em.equal(point, em.decode(noncanon) or em.IDENTITY)
    a = rng.randrange(1, em.L)
    for enc in (canon, noncanon):
        # as a nonce, with s = 1 and with s making [s]B - [k]A hit the point if it can
        items.append((pk, msg, enc + (1).to_bytes(32, "little")))
        # as a key (a point with a small-order component, possibly encoded non-canonically)
        items.append((enc, msg, sig))
        items.append((enc, msg, em.sign_with(a, enc, em.mul(a, em.BASE), a, msg)))
    # the sign bit set on x = 0 (y = 1 and y = p - 1), and undecodable y
    for y in (1, em.P - 1, 0):
        enc = (y | (1 << 255)).to_bytes(32, "little")
        items.append((enc, msg, sig))
        items.append((pk, msg, enc + sig[32:]))
    undecodable = next(y for y in range(2, 100) if em.x_from_y(y, 0) is None)
    for sign in (0, 1):
        enc = (undecodable | (sign << 255)).to_bytes(32, "little")
        items.append((enc, msg, sig))
        items.append((pk, msg, enc + sig[32:]))
    # every small-order point as R (with s = 0 and s = 1) and as A, both signs, +p variants
    for t in em.TORSION:
        enc = em.encode(t)
        flipped = bytes(enc[:31]) + bytes([enc[31] ^ 0x80])
        for e in (enc, flipped):
            items.append((e, msg, bytes(64)))
            items.append((e, msg, e + bytes(32)))
            items.append((pk, msg, e + sig[32:]))
            items.append((pk, msg, e + bytes(32)))
    items.append(((em.P).to_bytes(32, "little"), msg, sig))
    items.append(((em.P + 1).to_bytes(32, "little"), msg, sig))
    items.append((pk, msg, (em.P + 1).to_bytes(32, "little") + sig[32:]))
    verdicts = check(items)
    assert verdicts[:5] == [True, False, False, False, False]
    for item, verdict in zip(items, verdicts, strict=True):
        assert native_alone([item]) == [verdict]


def test_wrong_lengths_and_types() -> None:
    pk, msg, sig = _valid(KEYS[2], b"m")
    items: list[Item] = [
        (pk, msg, sig), (pk[:31], msg, sig), (pk + b"\0", msg, sig), (pk, msg, sig[:63]),
        (pk, msg, sig + b"\0"), (b"", msg, sig), (pk, msg, b""), (b"", b"", b""),
    ]
    assert check(items) == [True] + [False] * 7
    # PyNaCl takes the message as bytes(message) but wants keys and signatures of type bytes
    odd: list[Any] = [
        (pk, bytearray(msg), sig), (pk, memoryview(msg), sig), (pk, memoryview(msg)[::-1], sig),
        (bytearray(pk), msg, sig), (pk, msg, bytearray(sig)), (memoryview(pk), msg, sig),
        (pk, "m", sig), (pk, None, sig), (None, msg, sig), (pk, msg, None), (pk, sig + msg, None),
        (pk, 1, sig),
    ]
    expected = [verify_ed25519(*item) for item in odd]
    assert expected[:2] == [True, True] and expected[3:5] == [False, False]
    assert verify_batch(odd) == expected
    assert verify_batch(odd + items) == expected + [True] + [False] * 7
    assert verify_batch([]) == []


def test_empty_and_large_messages() -> None:
    big = os.urandom(1 << 20)
    items = [_valid(KEYS[3], b""), _valid(KEYS[3], big), _valid(KEYS[4], big)]
    items.append((items[1][0], big[:-1], items[1][2]))
    items.append((items[0][0], b"\0", items[0][2]))
    assert check(items) == [True, True, True, False, False]


@pytest.mark.parametrize("n", [1, 2, 3, 5, 64, 300])
def test_bisection_finds_every_bad_item(n: int) -> None:
    rng = random.Random(n)
    items = [_valid(KEYS[i % 2 if n > 64 else i % 5], os.urandom(rng.randrange(64))) for i in range(n)]
    bad = set(rng.sample(range(n), max(1, n // 20)))
    for i in bad:
        pk, msg, sig = items[i]
        items[i] = (pk, msg + b"x", sig) if i % 2 else (pk, msg, sig[:40] + bytes([sig[40] ^ 1]) + sig[41:])
    verdicts = check(items)
    assert [i for i, v in enumerate(verdicts) if not v] == sorted(bad)


# ---- random mixes ---------------------------------------------------------------------------

_TORSION_POOL = _torsion_items(random.Random(3))
_SPEC_POOL = _speccheck()


@pytest.mark.parametrize(("n", "distinct"), [(130, False), (700, False), (260, True)])
def test_large_mixed_batches_match_pynacl(n: int, distinct: bool) -> None:
    """Batches large enough for Pippenger's buckets (128 R or more, pippenger.c), with torsion
    items, the edge cases of the spec and damaged signatures mixed in: the buckets, the Straus
    tables built lazily for the smaller halves, and the one-by-one path must all agree."""
    rng = random.Random(n)
    keys = [nacl.signing.SigningKey(rng.randbytes(32)) for _ in range(n if distinct else 1)]
    items = [_valid(keys[i % len(keys)], rng.randbytes(rng.randrange(40))) for i in range(n)]
    for i in rng.sample(range(n), n // 25):
        pk, msg, sig = items[i]
        items[i] = rng.choice([
            (pk, msg + b"!", sig),
            (pk, msg, sig[:32] + bytes([sig[32] ^ 4]) + sig[33:]),
            rng.choice(_TORSION_POOL),
            rng.choice(_SPEC_POOL),
        ])
    verdicts = check(items)
    assert sum(verdicts) >= n - n // 25  # mostly valid: the combination path is the one taken


@st.composite
def _item(draw: st.DrawFn) -> Item:
    kind = draw(st.integers(0, 7))
    key = KEYS[draw(st.integers(0, len(KEYS) - 1))]
    msg = draw(st.binary(max_size=80))
    pk, _, sig = _valid(key, msg)
    if kind <= 2:
        return pk, msg, sig
    if kind == 3:  # flip one bit anywhere in the signature or key
        which = draw(st.integers(0, 1))
        bit = draw(st.integers(0, 255 if which == 0 else 511))
        if which == 0:
            pk = (int.from_bytes(pk, "little") ^ (1 << bit)).to_bytes(32, "little")
        else:
            sig = (int.from_bytes(sig, "little") ^ (1 << bit)).to_bytes(64, "little")
        return pk, msg, sig
    if kind == 4:
        return pk, msg + draw(st.binary(min_size=1, max_size=4)), sig
    if kind == 5:
        return draw(st.sampled_from(_TORSION_POOL))
    if kind == 6:
        return draw(st.sampled_from(_SPEC_POOL))
    return draw(st.binary(min_size=32, max_size=32)), msg, draw(st.binary(min_size=64, max_size=64))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_item(), max_size=40))
def test_random_mixes_match_pynacl(items: list[Item]) -> None:
    check(items)


def test_the_call_releases_the_gil(tmp_path: Path) -> None:
    """cffi's out-of-line API mode wraps the C call in Py_BEGIN/END_ALLOW_THREADS."""
    import importlib.util

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("ed_native_build", root / "src/agent/_native_build.py")
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    out = tmp_path / "native.c"
    build.make_builder().emit_c_code(str(out))
    text = out.read_text()
    wrapper = text[text.index("_cffi_f_ed25519_verify_batch(PyObject"):]
    call = wrapper.index("result = ed25519_verify_batch(")
    assert "Py_BEGIN_ALLOW_THREADS" in wrapper[:call]
    assert "Py_END_ALLOW_THREADS" in wrapper[call:call + 200]


def test_concurrent_calls_from_threads() -> None:
    """No state is shared between calls: threads verifying at once get their own verdicts."""
    from concurrent.futures import ThreadPoolExecutor

    batches = []
    for t in range(6):
        items = [_valid(KEYS[(t + i) % 4], bytes([t, i])) for i in range(24)]
        items[t] = (items[t][0], items[t][1] + b"?", items[t][2])
        batches.append(items)
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(verify_batch, batches * 3))
    for t, verdicts in enumerate(results):
        assert verdicts == [i != t % 6 for i in range(24)]
