"""Binding of the native PHI scanner (``csrc/phi_scan.c``) through :mod:`agent.native`.

Texts are encoded to UTF-8 once, concatenated, and scanned in one native call per batch (the
call releases the GIL). The scanner reports byte offsets; they are turned into character
offsets for texts that are not pure ASCII (span edges always fall on ASCII characters or the
end of the text, so they are character boundaries).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from itertools import accumulate
from typing import Any, Final, Literal, Protocol

from agent import native
from agent.phi.reference import Span
from agent.phi.rules import TAGS

_ENC: Final = "utf-8"
_ERRORS: Final = "surrogatepass"  # lone surrogates pass through like any non-ASCII text
_MIN_CAP: Final = 256
_MAX_CAP: Final = 1 << 16
_NONE: Final[tuple[Span, ...]] = ()


_Code = Literal["Q", "L", "I"]


def _size_t_code(ffi: Any) -> _Code:
    size = ffi.sizeof("size_t")
    codes: tuple[_Code, ...] = ("Q", "L", "I")
    for code in codes:
        if array(code).itemsize == size:
            return code
    raise RuntimeError(f"no array type for size_t of {size} bytes")  # pragma: no cover


def _char_spans(text: str, data: bytes, flat: Sequence[int], start: int,
                count: int) -> list[Span]:
    spans: list[Span] = []
    ascii_text = len(data) == len(text)
    for k in range(start, start + 3 * count, 3):
        tag, a, b = flat[k], flat[k + 1], flat[k + 2]
        if not ascii_text:
            a = len(data[:a].decode(_ENC, _ERRORS))
            b = len(data[:b].decode(_ENC, _ERRORS))
        spans.append((tag, a, b))
    return spans


class _H8Source(Protocol):
    def h8_spans(self, buf: bytes, flat: Sequence[int]) -> bytes: ...


class NativeScanner:
    """The C scanner; same results as :func:`agent.phi.reference.find_spans`."""

    name = "native"

    def __init__(self) -> None:
        self._ffi = native.ffi()
        self._lib = native.lib()
        if self._lib.phi_tag_count() != len(TAGS):
            raise RuntimeError("native PHI scanner and agent.phi.rules disagree on the tags")
        self._code = _size_t_code(self._ffi)
        self._span_size = self._ffi.sizeof("phi_span")
        self._error = (1 << (8 * self._ffi.sizeof("size_t"))) - 1
        for i, tag in enumerate(TAGS):
            if self._ffi.string(self._lib.phi_tag_name(i)).decode("ascii") != tag:
                raise RuntimeError("native PHI scanner and agent.phi.rules disagree on a tag name")
        self._raw = self._ffi.new_allocator(should_clear_after_alloc=False)

    def scrub_many(self, texts: Sequence[str], tokenizer: _H8Source) -> list[str]:
        """Every text with its spans replaced by tokens, in two native calls: one scan of the
        whole batch, one render of the texts that have spans (the others are returned as they
        are). Only the ``h8`` of each span comes from Python (``tokenizer``, cached)."""
        n = len(texts)
        if n == 0:
            return []
        ffi, lib = self._ffi, self._lib
        sep = 0
        if n == 1:
            text = texts[0]
            ascii_text = text.isascii()
            buf = text.encode("ascii") if ascii_text else text.encode(_ENC, _ERRORS)
            offsets: Any = array(self._code, (0, len(buf)))
            off_ptr = ffi.cast("size_t *", ffi.from_buffer(offsets))
        else:
            joined = "\0".join(texts)
            ascii_text = joined.isascii()
            if ascii_text:
                # the common case: texts joined by NUL bytes, one encode; the scanner finds the
                # texts (unless one of them holds a NUL), byte offsets are character offsets
                buf = joined.encode("ascii")
                sep = 1
                offsets = off_ptr = self._raw("size_t[]", n + 1)
                if lib.phi_split(buf, len(buf), off_ptr, n) != n - 1:
                    sep = 0
            if not sep:
                encoded = [t.encode(_ENC, _ERRORS) for t in texts]
                buf = b"".join(encoded)
                offsets = array(self._code, (0,))
                offsets.extend(accumulate(map(len, encoded)))
                off_ptr = ffi.cast("size_t *", ffi.from_buffer(offsets))
            del joined
        data = ffi.from_buffer(buf)
        spans, lines, count = self._scan_batch(data, off_ptr, n, sep, len(buf))
        if count == 0:
            return list(texts)
        flat = memoryview(ffi.buffer(spans, count * self._span_size)).cast(self._code).tolist()
        h8 = tokenizer.h8_spans(buf, flat)
        if len(h8) != 8 * count:
            raise RuntimeError("tokenizer returned a wrong number of hashes")
        h8_ptr = ffi.from_buffer(h8)
        nchanged = ffi.new("size_t *")
        null = ffi.NULL
        size = lib.phi_render(data, off_ptr, n, sep, spans, lines, count, h8_ptr, null, 0, null,
                              null, nchanged)
        if size == self._error:
            raise RuntimeError("native PHI renderer rejected the spans")
        out = self._raw("unsigned char[]", max(1, size))
        changed = self._raw("size_t[]", count)
        out_offsets = self._raw("size_t[]", count + 1)
        if lib.phi_render(data, off_ptr, n, sep, spans, lines, count, h8_ptr, out, size, changed,
                          out_offsets, nchanged) != size:
            raise RuntimeError("native PHI renderer failed")
        k = nchanged[0]
        rendered = ffi.buffer(out, size)
        if n == 1:
            return [str(rendered, "ascii" if ascii_text else _ENC, _ERRORS)]
        bounds = ffi.unpack(out_offsets, k + 1)
        result = list(texts)
        if ascii_text:
            whole = str(rendered, "ascii")
            for i, a, b in zip(ffi.unpack(changed, k), bounds, bounds[1:], strict=False):
                result[i] = whole[a:b]
        else:
            for i, a, b in zip(ffi.unpack(changed, k), bounds, bounds[1:], strict=False):
                result[i] = str(rendered[a:b], _ENC, _ERRORS)
        return result

    def _scan_batch(self, data: Any, off_ptr: Any, n: int, sep: int,
                    size: int) -> tuple[Any, Any, int]:
        """Spans (offsets into the batch) and their text indexes, in one native call unless
        the span buffer fills up (then again from the first text not scanned, with more room)."""
        ffi, lib = self._ffi, self._lib
        cap = max(_MIN_CAP, size // 256)
        spans = self._raw("phi_span[]", cap)
        lines = self._raw("size_t[]", cap)
        count = ffi.new("size_t *")
        total = 0
        first = 0
        while True:
            done = lib.phi_scan_batch(data, off_ptr, n, sep, first, spans + total,
                                      lines + total, cap - total, count)
            if done == self._error:
                raise RuntimeError("native PHI scanner rejected the batch offsets")
            total += count[0]
            if done >= n:
                return spans, lines, total
            first = done
            cap *= 2  # grow and keep what was found
            grown = self._raw("phi_span[]", cap)
            grown_lines = self._raw("size_t[]", cap)
            ffi.memmove(grown, spans, total * self._span_size)
            ffi.memmove(grown_lines, lines, total * ffi.sizeof("size_t"))
            spans, lines = grown, grown_lines

    def find_spans(self, text: str) -> Sequence[Span]:
        return self.find_spans_many([text])[0]

    def find_spans_many(self, texts: Sequence[str]) -> list[Sequence[Span]]:
        """Spans of every text, one native call per batch (more only if spans overflow)."""
        n = len(texts)
        if n == 0:
            return []
        ffi, lib = self._ffi, self._lib
        joined = "".join(texts)
        encoded: list[bytes] | None
        if joined.isascii():  # the common case: one encode, byte offsets are char offsets
            buf = joined.encode("ascii")
            encoded = None
            lengths: Iterable[int] = map(len, texts)
        else:
            encoded = [t.encode(_ENC, _ERRORS) for t in texts]
            buf = b"".join(encoded)
            lengths = map(len, encoded)
        offsets = array(self._code, (0,))
        offsets.extend(accumulate(lengths))
        off_ptr = ffi.cast("size_t *", ffi.from_buffer(offsets))
        counts = ffi.new("size_t[]", n)
        cap = max(_MIN_CAP, min(_MAX_CAP, len(buf) // 64))
        out = ffi.new("phi_span[]", cap)
        data = ffi.from_buffer(buf)
        result: list[Sequence[Span]] = [_NONE] * n
        i = 0
        while i < n:
            done = lib.phi_scan_many(data, off_ptr + i, n - i, out, cap, counts + i)
            if done == self._error:
                raise RuntimeError("native PHI scanner rejected the batch offsets")
            got = ffi.unpack(counts + i, done)
            total = sum(got)
            if total:
                flat = memoryview(ffi.buffer(out, total * self._span_size)).cast(self._code)
                k = 0
                for j in [j for j, c in enumerate(got) if c]:
                    c = got[j]
                    if encoded is None:
                        spans = flat[k : k + 3 * c].tolist()
                        result[i + j] = list(zip(spans[::3], spans[1::3], spans[2::3],
                                                 strict=True))
                    else:
                        result[i + j] = _char_spans(texts[i + j], encoded[i + j], flat, k, c)
                    k += 3 * c
            i += done
            if i < n and done == 0:  # one text with more spans than the buffer holds
                data_i = encoded[i] if encoded is not None else texts[i].encode("ascii")
                result[i] = self._scan_long(texts[i], data_i)
                i += 1
        return result

    def _scan_long(self, text: str, data: bytes) -> list[Span]:
        ffi, lib = self._ffi, self._lib
        cap = _MAX_CAP
        out = ffi.new("phi_span[]", cap)
        nxt = ffi.new("size_t *")
        ptr = ffi.from_buffer(data)
        spans: list[Span] = []
        pos = 0
        while True:
            got = lib.phi_scan(ptr, len(data), pos, out, cap, nxt)
            flat = memoryview(ffi.buffer(out, got * self._span_size)).cast(self._code).tolist()
            spans.extend(_char_spans(text, data, flat, 0, got))
            if nxt[0] >= len(data):
                return spans
            pos = nxt[0]
