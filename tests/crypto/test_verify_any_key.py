"""verify_any_key: which trusted key verifies each signature, as trying the keys in turn says."""

from __future__ import annotations

import random

from agent.crypto import Ed25519Key, verify_any_key, verify_ed25519

KEYS = [Ed25519Key(bytes([i]) * 32) for i in range(1, 4)]


def _in_turn(message: bytes, sig: bytes, keys: list[bytes]) -> bytes | None:
    return next((k for k in keys if verify_ed25519(k, message, sig)), None)


def test_first_verifying_key_for_every_item_in_a_random_mix() -> None:
    rng = random.Random(7)
    items = []
    for i in range(40):
        message = rng.randbytes(rng.randrange(0, 300))
        signer = rng.choice(KEYS)
        sig = signer.sign(message)
        if i % 7 == 3:  # a damaged signature
            sig = sig[:10] + bytes([sig[10] ^ 1]) + sig[11:]
        items.append((message, sig))
    trusted = [KEYS[0].public_key, KEYS[1].public_key]  # the third key is not trusted
    found = verify_any_key(items, trusted)
    assert found == [_in_turn(m, s, trusted) for m, s in items]
    assert found.count(None) > 5 and KEYS[0].public_key in found and KEYS[1].public_key in found


def test_no_keys_and_no_items() -> None:
    sig = KEYS[0].sign(b"m")
    assert verify_any_key([(b"m", sig)], []) == [None]
    assert verify_any_key([], [KEYS[0].public_key]) == []
