"""Texts cross into C as UTF-8 bytes; results come back through a scanner context's buffers.

The native scrubber encodes a batch once, never reads or writes a Python object's memory but
through cffi buffers, and keeps its results in a ``phi_scanner`` (csrc/phi_scanner.c). Inputs
must stay untouched, outputs must be ordinary strings, and every layout (one text, a batch, texts
holding NUL, a ``str`` subclass, non-ASCII text) must give the reference output.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.phi.conftest import KEY

from agent import native
from agent.phi import native_scan
from agent.phi.native_scan import NativeScanner
from agent.phi.scrubber import ReferenceScanner, Scrubber
from agent.phi.tokens import Tokenizer

TEXTS = [
    "SSN 123-45-6789 call 555-123-4567",
    "password=hunter2 user a@b.co",
    "nothing to see",
    "",
    "Patient Name: John Smith DOB: 01/05/1980",
]


class Text(str):
    """A str subclass (encoded like any str)."""


@pytest.fixture
def pair() -> tuple[Scrubber, Scrubber]:
    if not native.NATIVE:
        pytest.skip(f"native core not in use: {native.STATUS.reason}")
    tok = Tokenizer(KEY)
    return Scrubber(NativeScanner(), tok), Scrubber(ReferenceScanner(), tok)


def test_inputs_untouched_outputs_ordinary(pair: tuple[Scrubber, Scrubber]) -> None:
    nat, ref = pair
    texts = [t + "" for t in TEXTS] * 3
    copies = [t.encode() for t in texts]
    big = "\n".join(texts) * 200
    big_copy = big.encode()
    out = nat.scrub_many(texts)
    one = nat.scrub(big)
    assert [t.encode() for t in texts] == copies and big.encode() == big_copy
    assert out == ref.scrub_many(texts) and one == ref.scrub(big)
    for s in [*out, one]:
        assert type(s) is str and s.isascii()
        assert s == s.encode("ascii").decode("ascii") and hash(s) == hash(s.encode().decode())
    assert "[SSN-REDACTED-" in out[0] and "[SECRET-REDACTED]" in out[1]
    assert out[2] is texts[2]  # unchanged texts are returned as they are


def test_texts_holding_nul_same_output(pair: tuple[Scrubber, Scrubber]) -> None:
    """A text with a NUL byte cannot be told apart from the batch separator: the batch is then
    laid out end to end instead, with the same output."""
    nat, ref = pair
    texts = [*TEXTS, "a\0b SSN 123-45-6789", "\0"]
    assert nat.scrub_many(texts) == ref.scrub_many(texts)
    assert [nat.scrub(t) for t in texts] == [ref.scrub(t) for t in texts]


def test_no_access_to_interpreter_memory() -> None:
    """No ctypes view of CPython objects: text goes through str.encode and cffi buffers only."""
    source = native_scan.__loader__.get_source(native_scan.__name__)  # type: ignore[union-attr]
    assert source is not None
    for forbidden in ("ctypes", "pythonapi", "PyUnicode_", "_ascii_chars"):
        assert forbidden not in source


def test_subclass_and_non_ascii(pair: tuple[Scrubber, Scrubber]) -> None:
    nat, ref = pair
    texts: list[Any] = [Text(t) for t in TEXTS] + ["é SSN 123-45-6789", "\ud800 pwd=x"]
    assert nat.scrub_many(texts) == ref.scrub_many(texts)
    assert [nat.scrub(t) for t in texts] == [ref.scrub(t) for t in texts]


class _BadHashes:
    """A hash source that returns non-ASCII or too few bytes."""

    def __init__(self, h8: bytes) -> None:
        self.h8 = h8

    def h8_spans(self, buf: bytes, flat: list[int]) -> bytes:
        return self.h8 * (len(flat) // 3)


@pytest.mark.parametrize("h8", ["abcdefé".encode(), b"abc"])
def test_bad_hashes_are_refused(h8: bytes) -> None:
    if not native.NATIVE:
        pytest.skip(f"native core not in use: {native.STATUS.reason}")
    with pytest.raises(RuntimeError, match="bad hashes"):
        NativeScanner().scrub_many(["SSN 123-45-6789"], _BadHashes(h8))


def _spans(lib: Any, ctx: Any) -> list[tuple[int, int, int, int]]:
    view = lib.phi_scanner_results(ctx)
    spans, lines = view.spans, view.lines
    return [(spans[k].tag, spans[k].start, spans[k].end, lines[k]) for k in range(view.count)]


def test_scanner_context_grows_appends_and_refuses() -> None:
    """A context's buffers grow past their first size, hold the spans of every text (offsets into
    the batch), take another context's spans, and refuse bad arguments with (size_t)-1."""
    if not native.NATIVE:
        pytest.skip(f"native core not in use: {native.STATUS.reason}")
    ffi, lib = native.ffi(), native.lib()
    error = (1 << (8 * ffi.sizeof("size_t"))) - 1
    line = b"SSN 123-45-6789 "
    texts = [line * 300, b"nothing", line]  # 301 SSNs: more than the first 256 spans
    data = b"".join(texts)
    offsets = ffi.new("size_t[]", [0, len(texts[0]), len(texts[0]) + 7, len(data)])
    ctx = ffi.gc(lib.phi_scanner_new(), lib.phi_scanner_free)
    other = ffi.gc(lib.phi_scanner_new(), lib.phi_scanner_free)
    assert lib.phi_scanner_scan(ctx, data, offsets, 3, 0, 0, 3) == 301
    spans = _spans(lib, ctx)
    ssn = [(0, 4 + 16 * i, 15 + 16 * i, 0) for i in range(300)]
    assert spans[:300] == ssn and spans[300] == (0, len(data) - 12, len(data) - 1, 2)
    assert lib.phi_scanner_scan(other, data, offsets, 3, 0, 2, 3) == 1
    assert lib.phi_scanner_append(ctx, other, 0) == 302 and _spans(lib, ctx)[301] == spans[300]
    assert lib.phi_scanner_append(ctx, other, 2) == error  # skip more than it holds
    assert lib.phi_scanner_append(ctx, ctx, 0) == error
    assert lib.phi_scanner_scan(ctx, data, offsets, 3, 0, 2, 1) == error  # first > last
    bad = ffi.new("size_t[]", [0, 20, 10, len(data)])
    assert lib.phi_scanner_scan(other, data, bad, 3, 0, 0, 3) == error  # offsets not ascending
    lib.phi_scanner_clear(ctx)
    assert lib.phi_scanner_results(ctx).count == 0
    nxt = ffi.new("size_t *")
    assert lib.phi_scanner_scan_range(ctx, data, len(data), 0, 40, nxt) == 3 and nxt[0] >= 40
    lib.phi_scanner_free(ffi.NULL)  # freeing nothing is allowed


def test_grown_context_is_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """A context is kept for the next call, unless a large input grew its buffers (freed then)."""
    if not native.NATIVE:
        pytest.skip(f"native core not in use: {native.STATUS.reason}")
    scanner = NativeScanner()
    tok = Tokenizer(KEY)
    monkeypatch.setattr(native_scan, "_KEEP_SPANS", 10)
    scanner.scrub_many(["SSN 123-45-6789"] * 3, tok)
    assert len(scanner._contexts) == 1
    kept = scanner._contexts[0]
    scanner.scrub_many(["SSN 123-45-6789"] * 20, tok)  # 20 spans: the context is dropped
    assert scanner._contexts == []
    scanner.scrub_many(["nothing"], tok)
    assert len(scanner._contexts) == 1 and scanner._contexts[0] is not kept
