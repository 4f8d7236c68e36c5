"""Ed25519: the native batch verifier (``agent.crypto.verify_batch``) and PyNaCl one signature at
a time (``verify_batch_pure``), per signature, against Go's ``crypto/ed25519.Verify`` one at a
time on the same 256 items (distinct keys, 100-byte messages). ``bench/ed25519.py`` sweeps the
batch size (the report's per-signature plot)."""

from __future__ import annotations

from typing import Any

import pytest

from agent.crypto import batch_verifier_status, verify_batch
from agent.crypto.batch import verify_batch_pure
from bench.conftest import GoBaseline

pytestmark = pytest.mark.benchmark(group="Ed25519 batch")
Items = list[tuple[bytes, bytes, bytes]]


@pytest.mark.parametrize("n", [64, 256])
def test_verify_batch(benchmark: Any, go: GoBaseline, ed25519_items: Items, n: int) -> None:
    items = ed25519_items[:n]
    assert verify_batch(items) == [True] * n
    benchmark(verify_batch, items)
    go.attach(benchmark, "ed25519.verify", per_call=n, unit="signature", fn=lambda: verify_batch(items))
    benchmark.extra_info["native_batch"] = batch_verifier_status()[0]


def test_verify_pynacl_one_by_one(benchmark: Any, go: GoBaseline, ed25519_items: Items) -> None:
    items = ed25519_items[:64]
    assert verify_batch_pure(items) == [True] * len(items)
    benchmark(verify_batch_pure, items)
    go.attach(benchmark, "ed25519.verify", per_call=len(items), unit="signature",
              fn=lambda: verify_batch_pure(items))
