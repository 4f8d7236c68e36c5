"""The table of token hashes the native scrubber keeps between calls (csrc/phi_h8cache.c).

The hashes of values seen before come from a table in C instead of the tokenizer; the output
must stay the reference output byte for byte, for every key and hash mode, whatever the table
holds, and secret values must never be kept in it.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from tests.phi.conftest import KEY

from agent import native
from agent.phi import make_scrubber, native_scan
from agent.phi.native_scan import NativeScanner
from agent.phi.scrubber import ReferenceScanner, Scrubber
from agent.phi.tokens import Tokenizer

SAMPLES = [
    "SSN 123-45-6789 call 555-123-4567",
    "password=hunter2 token: abc.def user a@b.co",
    "Patient Name: John Smith MRN: 00123456",
    "PID|1||7654321^^^H||DOE^JANE||19800105|F|||12 Main St^^Scranton^PA^18503",
    "no phi at all here",
    "email " + "x" * 60 + "@example.com",  # a value too long for the table
]


@pytest.fixture
def scanner() -> NativeScanner:
    if not native.NATIVE:
        pytest.skip(f"native core not in use: {native.STATUS.reason}")
    return NativeScanner()  # a table of its own


def _reference(tok: Tokenizer, texts: list[str]) -> list[str]:
    return Scrubber(ReferenceScanner(), tok).scrub_many(texts)


def _table_values(scanner: NativeScanner) -> list[bytes]:
    ffi, table = scanner._ffi, scanner._h8_table
    return [
        bytes(ffi.buffer(table[i].value, table[i].len))
        for i in range(native_scan._H8_TABLE)
        if table[i].hash != 0
    ]


def test_repeated_batches_identical(scanner: NativeScanner, corpus: list[dict[str, Any]]) -> None:
    tok = Tokenizer(KEY)
    texts = [r["text"] for r in corpus][:4000] + SAMPLES
    want = _reference(tok, texts)
    first = scanner.scrub_many(texts, tok)
    assert first == want
    assert scanner._h8_used[0] > 100  # the hashes were kept
    assert scanner.scrub_many(texts, tok) == want  # now from the table
    assert [scanner.scrub_many([t], tok)[0] for t in texts[:300]] == want[:300]


def test_other_key_or_mode_gets_other_hashes(scanner: NativeScanner) -> None:
    texts = SAMPLES * 3
    toks = [Tokenizer(KEY), Tokenizer(bytes(32)), Tokenizer(KEY, "sha256"), Tokenizer(KEY)]
    outs = []
    for tok in toks:
        got = scanner.scrub_many(texts, tok)
        assert got == _reference(tok, texts)
        outs.append(got)
    assert outs[0] != outs[1] and outs[0] != outs[2] and outs[0] == outs[3]


def test_secrets_and_long_values_are_not_kept(scanner: NativeScanner) -> None:
    tok = Tokenizer(KEY)
    assert scanner.scrub_many(SAMPLES, tok) == _reference(tok, SAMPLES)
    kept = _table_values(scanner)
    assert b"123-45-6789" in kept  # values are kept ...
    assert not any(b"hunter2" in v or b"abc.def" in v for v in kept)  # ... secrets never
    assert not any(b"@example.com" in v for v in kept)  # over 48 bytes: not kept


def test_full_table_starts_again(scanner: NativeScanner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(native_scan, "_H8_TABLE", 8)
    scanner._h8_owner = None  # a new (small) table on the next call
    rng = random.Random(5)
    tok = Tokenizer(KEY)
    for _ in range(20):
        texts = [f"SSN {rng.randrange(100, 899)}-45-{rng.randrange(1000, 9999)} x" for _ in range(30)]
        assert scanner.scrub_many(texts, tok) == _reference(tok, texts)
        assert 0 < scanner._h8_used[0] <= 6


def test_table_in_use_by_another_thread(scanner: NativeScanner) -> None:
    """While another thread holds the table, the hashes come from the tokenizer alone."""
    tok = Tokenizer(KEY)
    with scanner._h8_lock:
        assert scanner.scrub_many(SAMPLES, tok) == _reference(tok, SAMPLES)
    assert scanner._h8_table is None  # it was not touched
    assert scanner.scrub_many(SAMPLES, tok) == _reference(tok, SAMPLES)
    assert scanner._h8_table is not None


def test_default_scrubber_uses_the_table() -> None:
    if not native.NATIVE:
        pytest.skip(f"native core not in use: {native.STATUS.reason}")
    scrub = make_scrubber(key=KEY)
    assert isinstance(scrub.scanner, NativeScanner)
    texts = SAMPLES * 2
    assert scrub.scrub_many(texts) == _reference(scrub.tokenizer, texts)
    assert scrub.scanner._h8_owner == (KEY, "hmac")
