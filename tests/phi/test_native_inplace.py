"""ASCII text is scanned in place; the scrubbed text is rendered into a buffer, then decoded.

The native scrubber reads the characters of an ASCII ``str`` where CPython keeps them
(``agent.phi.native_scan._ascii_chars``) and never writes into a Python object. Inputs must stay
untouched, outputs must be ordinary strings, and the copying path (another Python, a ``str``
subclass, non-ASCII text) must give the same output.
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
    """A str subclass: not scanned in place."""


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


def test_copying_path_same_output(pair: tuple[Scrubber, Scrubber], monkeypatch: pytest.MonkeyPatch) -> None:
    nat, ref = pair
    want = ref.scrub_many(TEXTS)
    spans = [list(s) for s in nat.scanner.find_spans_many(TEXTS)]
    monkeypatch.setattr(native_scan, "_CAPI", None)  # as on a Python without the C API
    assert nat.scrub_many(TEXTS) == want
    assert [nat.scrub(t) for t in TEXTS] == want
    assert [list(s) for s in nat.scanner.find_spans_many(TEXTS)] == spans
    assert native_scan._ascii_chars(native.ffi(), "abc") is None



def test_nothing_written_into_python_objects() -> None:
    assert not hasattr(native_scan, "_new_ascii")
    assert "PyUnicode_New" not in native_scan.__loader__.get_source(native_scan.__name__)  # type: ignore[union-attr]


def test_subclass_and_non_ascii(pair: tuple[Scrubber, Scrubber]) -> None:
    nat, ref = pair
    texts: list[Any] = [Text(t) for t in TEXTS] + ["é SSN 123-45-6789", "\ud800 pwd=x"]
    assert nat.scrub_many(texts) == ref.scrub_many(texts)
    assert [nat.scrub(t) for t in texts] == [ref.scrub(t) for t in texts]
    assert native_scan._ascii_chars(native.ffi(), Text("abc")) is None


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
