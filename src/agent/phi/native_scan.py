"""Binding of the native PHI scanner (``csrc/phi_scan.c``) through :mod:`agent.native`.

Texts are concatenated and scanned in one native call per batch (the call releases the GIL):
ASCII text in place, read through CPython's own one-byte-per-character storage (no encoded copy;
never written), other text encoded to UTF-8 once. The scanner reports byte offsets; they are turned into
character offsets for texts that are not pure ASCII (span edges always fall on ASCII characters
or the end of the text, so they are character boundaries). The scrubbed text is rendered in C
into a buffer of this module and decoded from there (nothing is written into a Python object);
token hashes of values seen before come from a
table kept in C (``csrc/phi_h8cache.c``), the others from the tokenizer.
"""

from __future__ import annotations

import os
import threading
from array import array
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import accumulate
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

from agent import native
from agent.phi.rules import TAGS

if TYPE_CHECKING:
    from agent.phi.reference import Span

_ENC: Final = "utf-8"
_ERRORS: Final = "surrogatepass"  # lone surrogates pass through like any non-ASCII text
_MIN_CAP: Final = 256
_MAX_CAP: Final = 1 << 16
_NONE: Final[tuple[Span, ...]] = ()
_DEDUPE_TABLE: Final = 1 << 15  # entries of the table of distinct span values (256 KiB)
_H8_TABLE: Final = 1 << 12  # entries of the table of token hashes kept between calls (320 KiB)
_PARALLEL_MIN: Final = 1 << 19  # bytes of a batch or text scanned by two threads
# Off by default: the daemon keeps to at most two worker threads (runtime.md §1), both for I/O.
# Standalone tools (``python -m agent scrub``) may turn it on with set_parallel(True).
_PARALLEL: list[bool] = [False]
_POOL: list[ThreadPoolExecutor] = []
_POOL_LOCK = threading.Lock()
if hasattr(os, "register_at_fork"):  # a forked child has no worker thread: make a new pool
    os.register_at_fork(after_in_child=_POOL.clear)


def set_parallel(enabled: bool) -> None:
    """Allow a second thread to scan half of inputs of 512 KiB and more (a tool's choice, not the
    daemon's: the daemon's thread budget is fixed by runtime.md §1)."""
    _PARALLEL[0] = enabled


def _pool() -> ThreadPoolExecutor | None:
    """The one worker thread that scans half of a large input (the native scan releases the
    GIL), or None when parallel scanning is off or on a single CPU."""
    if not _PARALLEL[0]:
        return None
    if _POOL:
        return _POOL[0]
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cpus = os.cpu_count() or 1
    if cpus < 2:
        return None
    with _POOL_LOCK:
        if not _POOL:
            _POOL.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="phi-scan"))
    return _POOL[0]


_Code = Literal["Q", "L", "I"]


def _size_t_code(ffi: Any) -> _Code:
    size = ffi.sizeof("size_t")
    codes: tuple[_Code, ...] = ("Q", "L", "I")
    for code in codes:
        if array(code).itemsize == size:
            return code
    raise RuntimeError(f"no array type for size_t of {size} bytes")  # pragma: no cover


def _load_capi() -> Any:
    """CPython's ``PyUnicode_AsUTF8AndSize`` (through :mod:`ctypes`, to read an ASCII ``str``
    in place), or None (another Python, or no ``ctypes``)."""
    try:
        import ctypes

        as_utf8 = ctypes.pythonapi.PyUnicode_AsUTF8AndSize
    except (ImportError, AttributeError, OSError):  # pragma: no cover - not CPython
        return None
    as_utf8.restype = ctypes.c_void_p
    as_utf8.argtypes = [ctypes.py_object, ctypes.POINTER(ctypes.c_ssize_t)]
    return as_utf8, ctypes.c_ssize_t, ctypes.byref


_CAPI: Final = _load_capi()


def _ascii_chars(ffi: Any, text: str) -> Any:
    """A pointer to the characters of the ASCII ``text`` without a copy, or None.

    CPython keeps an ASCII ``str`` as one byte per character, and ``PyUnicode_AsUTF8AndSize``
    returns a pointer to those very bytes (its UTF-8 form, no allocation). The pointer is valid
    while ``text`` lives; the scanner only reads it. Scanning in place spares encoding a copy
    of every input (and the page faults of a fresh buffer for large ones)."""
    # isascii() first (a flag check): for other text PyUnicode_AsUTF8AndSize would build and
    # attach a UTF-8 copy to the string, kept as long as the string lives.
    if _CAPI is None or type(text) is not str or not text.isascii():
        return None
    as_utf8, ssize_t, byref = _CAPI
    size = ssize_t()
    addr = as_utf8(text, byref(size))
    if not addr or size.value != len(text):  # pragma: no cover - not a compact ASCII str
        return None
    return ffi.cast("const unsigned char *", addr)


def _char_spans(text: str, data: bytes, flat: Sequence[int], start: int, count: int) -> list[Span]:
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

    def __init__(self, ffi: Any = None, lib: Any = None) -> None:
        """The scanner of the native core in use, or of another build of it (``ffi`` and
        ``lib`` of that build: the tests compare the portable build with the SSE2 one)."""
        self._ffi = ffi if ffi is not None else native.ffi()
        self._lib = lib if lib is not None else native.lib()
        if self._lib.phi_tag_count() != len(TAGS):
            raise RuntimeError("native PHI scanner and agent.phi.rules disagree on the tags")
        self._code = _size_t_code(self._ffi)
        self._span_size = self._ffi.sizeof("phi_span")
        self._error = (1 << (8 * self._ffi.sizeof("size_t"))) - 1
        for i, tag in enumerate(TAGS):
            if self._ffi.string(self._lib.phi_tag_name(i)).decode("ascii") != tag:
                raise RuntimeError("native PHI scanner and agent.phi.rules disagree on a tag name")
        self._raw = self._ffi.new_allocator(should_clear_after_alloc=False)
        # token hashes kept between calls, for one key and mode (allocated on first use)
        self._h8_lock = threading.Lock()
        self._h8_owner: tuple[object, object] | None = None
        self._h8_table: Any = None
        self._h8_used = self._ffi.new("size_t *")

    def scrub_many(self, texts: Sequence[str], tokenizer: _H8Source) -> list[str]:
        """Every text with its spans replaced by tokens, in two native calls: one scan of the
        whole batch, one render of the texts that have spans (the others are returned as they
        are). Only the ``h8`` of each span comes from Python (``tokenizer``, cached)."""
        n = len(texts)
        if n == 0:
            return []
        ffi, lib = self._ffi, self._lib
        sep = 0
        # `data` points into `keep` (the texts' own characters when they are ASCII, else their
        # UTF-8 encoding), which stays referenced until the last native call below.
        keep: object
        if n == 1:
            text = texts[0]
            ascii_text = text.isascii()
            data = _ascii_chars(ffi, text) if ascii_text else None
            if data is not None:
                keep, size = text, len(text)
            else:
                encoded_text = text.encode(_ENC, _ERRORS)
                keep, data, size = encoded_text, ffi.from_buffer(encoded_text), len(encoded_text)
            offsets: Any = array(self._code, (0, size))
            off_ptr = ffi.cast("size_t *", ffi.from_buffer(offsets))
        else:
            joined = "\0".join(texts)
            ascii_text = joined.isascii()
            if ascii_text:
                # the common case: texts joined by NUL bytes, scanned in place; the scanner finds
                # the texts (unless one of them holds a NUL), byte offsets are character offsets
                data = _ascii_chars(ffi, joined)
                if data is not None:
                    keep, size = joined, len(joined)
                else:
                    joined_bytes = joined.encode("ascii")
                    keep, data, size = joined_bytes, ffi.from_buffer(joined_bytes), len(joined_bytes)
                sep = 1
                offsets = off_ptr = self._raw("size_t[]", n + 1)
                if lib.phi_split(data, size, off_ptr, n) != n - 1:
                    sep = 0
            if not sep:
                encoded = [t.encode(_ENC, _ERRORS) for t in texts]
                joined_bytes = b"".join(encoded)
                keep, data, size = joined_bytes, ffi.from_buffer(joined_bytes), len(joined_bytes)
                offsets = array(self._code, (0,))
                offsets.extend(accumulate(map(len, encoded)))
                off_ptr = ffi.cast("size_t *", ffi.from_buffer(offsets))
            del joined
        if n == 1:
            spans, count = self._scan_text(data, size)
            lines = ffi.new("size_t[]", count)  # all texts 0
        else:
            spans, lines, count = self._scan_texts(data, off_ptr, offsets, n, sep, size)
        if count == 0:
            return list(texts)
        # the hashes of the distinct values only (a batch repeats many: hosts, paths, ...)
        ids = self._raw("size_t[]", count)
        uniq = self._raw("phi_span[]", count)
        tcap = min(_DEDUPE_TABLE, 1 << (2 * count - 1).bit_length())
        nu = lib.phi_dedupe(data, size, spans, count, ids, uniq, self._raw("size_t[]", tcap), tcap)
        if nu == self._error:
            raise RuntimeError("native PHI scanner rejected the spans")
        h8_ptr = self._hashes(tokenizer, data, size, uniq, nu)
        nchanged = ffi.new("size_t *")
        null = ffi.NULL
        render = lib.phi_render_ids
        args = (data, off_ptr, n, sep, spans, lines, count, ids, nu, h8_ptr)
        out_size = render(*args, null, 0, null, null, nchanged)
        if out_size == self._error:
            raise RuntimeError("native PHI renderer rejected the spans")
        changed = self._raw("size_t[]", count)
        out_offsets = self._raw("size_t[]", count + 1)
        # rendered into a buffer of ours, then decoded: nothing is written into a Python object
        out = self._raw("unsigned char[]", max(1, out_size))
        if render(*args, out, out_size, changed, out_offsets, nchanged) != out_size:
            raise RuntimeError("native PHI renderer failed")
        del keep, args  # the input is no longer read
        k = nchanged[0]
        if n == 1:
            return [str(ffi.buffer(out, out_size), "ascii" if ascii_text else _ENC, _ERRORS)]
        whole = str(ffi.buffer(out, out_size), "ascii") if ascii_text else None
        bounds = ffi.unpack(out_offsets, k + 1)
        result = list(texts)
        if whole is not None:  # ASCII
            for i, a, b in zip(ffi.unpack(changed, k), bounds, bounds[1:], strict=False):
                result[i] = whole[a:b]
        else:
            rendered = ffi.buffer(out, out_size)
            for i, a, b in zip(ffi.unpack(changed, k), bounds, bounds[1:], strict=False):
                result[i] = str(rendered[a:b], _ENC, _ERRORS)
        return result

    def _hashes(self, tokenizer: _H8Source, data: Any, size: int, uniq: Any, nu: int) -> Any:
        """The ``h8`` of the ``nu`` distinct values ``uniq`` (8 bytes each): those seen before
        from the table kept between calls (for the tokenizer's key and mode), the others from
        the tokenizer (then kept in the table)."""
        ffi, lib = self._ffi, self._lib
        buf = ffi.buffer(data, size)  # its slices are bytes
        owner = (getattr(tokenizer, "key", None), getattr(tokenizer, "mode", None))
        if owner[0] is None or not self._h8_lock.acquire(blocking=False):
            # no key to keep hashes for, or another thread is using the table
            flat = memoryview(ffi.buffer(uniq, nu * self._span_size)).cast(self._code).tolist()
            return self._checked_h8(tokenizer.h8_spans(buf, flat), nu)
        try:
            if self._h8_owner != owner:  # another key or mode: other hashes
                self._h8_table = ffi.new("phi_h8_entry[]", _H8_TABLE)
                self._h8_used[0] = 0
                self._h8_owner = owner
            h8 = self._raw("unsigned char[]", max(1, 8 * nu))
            missing = self._raw("size_t[]", max(1, nu))
            m = lib.phi_h8_get(self._h8_table, _H8_TABLE, data, size, uniq, nu, h8, missing)
            if m == self._error:
                raise RuntimeError("native PHI hash table rejected the spans")
            if m:
                every = memoryview(ffi.buffer(uniq, nu * self._span_size)).cast(self._code).tolist()
                flat = [x for k in ffi.unpack(missing, m) for x in every[3 * k : 3 * k + 3]]
                found = self._checked_h8(tokenizer.h8_spans(buf, flat), m)
                if (
                    lib.phi_h8_put(
                        self._h8_table, _H8_TABLE, self._h8_used, data, size, uniq, nu, missing, m, found, h8
                    )
                    == self._error
                ):
                    raise RuntimeError("native PHI hash table rejected the hashes")
            return h8
        finally:
            self._h8_lock.release()

    def _checked_h8(self, h8: bytes, count: int) -> Any:
        # tokens are ASCII: the output may be a str built in place, which must hold only ASCII
        if len(h8) != 8 * count or not h8.isascii():
            raise RuntimeError("tokenizer returned bad hashes")
        return self._ffi.from_buffer(h8)

    def _scan_texts(
        self, data: Any, off_ptr: Any, offsets: Any, n: int, sep: int, size: int
    ) -> tuple[Any, Any, int]:
        """:meth:`_scan_batch` of all texts; a large batch is cut in two halves scanned at the
        same time, the second by the worker thread (the texts are independent)."""
        pool = _pool() if size >= _PARALLEL_MIN else None
        if pool is None:
            return self._scan_batch(data, off_ptr, 0, n, sep, size)
        lo, hi = 1, n  # mid: the first text that starts at or after the middle (or n)
        while lo < hi:
            m = (lo + hi) // 2
            if offsets[m] < size // 2:
                lo = m + 1
            else:
                hi = m
        mid = lo
        half = offsets[mid]
        second = pool.submit(self._scan_batch, data, off_ptr, mid, n, sep, size - half)
        try:
            spans, lines, count = self._scan_batch(data, off_ptr, 0, mid, sep, half)
        finally:
            spans2, lines2, count2 = second.result()  # always wait: the worker reads `data`
        if count2 == 0:
            return spans, lines, count
        ffi = self._ffi
        total = count + count2
        merged = self._raw("phi_span[]", total)
        merged_lines = self._raw("size_t[]", total)
        ffi.memmove(merged, spans, count * self._span_size)
        ffi.memmove(merged + count, spans2, count2 * self._span_size)
        ffi.memmove(merged_lines, lines, count * ffi.sizeof("size_t"))
        ffi.memmove(merged_lines + count, lines2, count2 * ffi.sizeof("size_t"))
        return merged, merged_lines, total

    def _scan_text(self, data: Any, size: int) -> tuple[Any, int]:
        """Spans of one text. A long one is cut in two: the worker thread scans from the middle
        while this thread scans up to it; the scan depends only on the position it stands on
        (``phi_scan_range``), so once both stand on the same position the worker's spans from
        there on are the ones this thread would find."""
        pool = _pool() if size >= _PARALLEL_MIN else None
        if pool is None:
            spans, count, _ = self._scan_range(data, size, 0, size)
            return spans, count
        split = size // 2
        second = pool.submit(self._scan_range, data, size, split, size)
        try:
            parts = [self._scan_range(data, size, 0, split)]
            a = parts[0][2]  # where this thread stands, at or after split
            b, drop = split, 0  # where the worker stood, and its spans before that
            while a != b:  # walk the one behind until both stand on the same position
                if b < a:
                    _, got, b = self._scan_range(data, size, b, a)
                    drop += got
                else:
                    parts.append(self._scan_range(data, size, a, b))
                    a = parts[-1][2]
        finally:
            rest = second.result()  # always wait: the worker reads `data`
        parts.append((rest[0] + drop, rest[1] - drop, size))
        total = sum(p[1] for p in parts)
        if len(parts) == 2 and parts[1][1] == 0:
            return parts[0][0], total
        spans = self._raw("phi_span[]", max(1, total))
        k = 0
        for ptr, got, _ in parts:
            self._ffi.memmove(spans + k, ptr, got * self._span_size)
            k += got
        return spans, total

    def _scan_range(self, data: Any, size: int, start: int, stop: int) -> tuple[Any, int, int]:
        """Spans from `start` until the scan stands at or after `stop`, their number, and where
        it stopped; one native call unless the span buffer fills up."""
        ffi, lib = self._ffi, self._lib
        cap = max(_MIN_CAP, (stop - start) // 256)
        spans = self._raw("phi_span[]", cap)
        nxt = ffi.new("size_t *")
        total = 0
        pos = start
        while True:
            total += lib.phi_scan_range(data, size, pos, stop, spans + total, cap - total, nxt)
            pos = nxt[0]
            if pos >= stop or pos >= size:
                return spans, total, pos
            cap *= 2  # full: grow, keep what was found, go on from where it stopped
            grown = self._raw("phi_span[]", cap)
            ffi.memmove(grown, spans, total * self._span_size)
            spans = grown

    def _scan_batch(
        self, data: Any, off_ptr: Any, first: int, n: int, sep: int, size: int
    ) -> tuple[Any, Any, int]:
        """Spans (offsets into the batch) of texts first..n-1 and their text indexes, in one
        native call unless the span buffer fills up (then again from the first text not
        scanned, with more room)."""
        ffi, lib = self._ffi, self._lib
        cap = max(_MIN_CAP, size // 256)
        spans = self._raw("phi_span[]", cap)
        lines = self._raw("size_t[]", cap)
        count = ffi.new("size_t *")
        total = 0
        while True:
            done = lib.phi_scan_batch(
                data, off_ptr, n, sep, first, spans + total, lines + total, cap - total, count
            )
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
        buf: str | bytes
        if joined.isascii():  # the common case: scanned in place, byte offsets are char offsets
            data = _ascii_chars(ffi, joined)
            buf = joined if data is not None else joined.encode("ascii")
            encoded = None
            lengths: Iterable[int] = map(len, texts)
        else:
            encoded = [t.encode(_ENC, _ERRORS) for t in texts]
            buf = b"".join(encoded)
            data = None
            lengths = map(len, encoded)
        if data is None:
            data = ffi.from_buffer(buf)
        offsets = array(self._code, (0,))
        offsets.extend(accumulate(lengths))
        off_ptr = ffi.cast("size_t *", ffi.from_buffer(offsets))
        counts = ffi.new("size_t[]", n)
        cap = max(_MIN_CAP, min(_MAX_CAP, len(buf) // 64))
        out = ffi.new("phi_span[]", cap)
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
                        result[i + j] = list(zip(spans[::3], spans[1::3], spans[2::3], strict=True))
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
