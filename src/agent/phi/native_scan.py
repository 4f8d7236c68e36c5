"""Binding of the native PHI scanner (``csrc/phi_scan.c`` and friends) through :mod:`agent.native`.

A batch of texts crosses into C as one UTF-8 buffer (the texts joined by NUL bytes, encoded
once) and is scanned, de-duplicated and rendered in one native call each (each releases the
GIL), with the results in the buffers of a scanner context (``phi_scanner``, ``csrc/phi_scanner.c``)
of this object; nothing is read from or written into a Python object's memory but through cffi
buffers of ``bytes``. The scanner reports byte offsets; they are turned into character offsets
for texts that are not pure ASCII (span edges always fall on ASCII characters or the end of the
text, so they are character boundaries). Token hashes of values seen before come from a table
kept in C (``csrc/phi_h8cache.c``), the others from the tokenizer.
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
_DEDUPE_TABLE: Final = 1 << 15  # most entries of the table of distinct span values (256 KiB)
_CONTEXTS_KEPT: Final = 2  # scanner contexts kept between calls (a call and the worker thread)
_KEEP_BYTES: Final = 1 << 22  # a context whose buffers grew past these is freed after its call
_KEEP_SPANS: Final = 1 << 16
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


def _encode(text: str) -> bytes:
    """The UTF-8 bytes of ``text`` (lone surrogates pass through); for ASCII text, one copy."""
    return text.encode(_ENC, _ERRORS)


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
        # scanner contexts (phi_scanner) not in use by a call: each call takes one of its own
        self._contexts: list[Any] = []

    def _context(self) -> Any:
        """A scanner context (``phi_scanner``) no other thread is using: one kept from an earlier
        call, or a new one (freed when it is dropped)."""
        try:
            return self._contexts.pop()
        except IndexError:
            ctx = self._lib.phi_scanner_new()
            if ctx == self._ffi.NULL:
                raise MemoryError("native PHI scanner context") from None
            return self._ffi.gc(ctx, self._lib.phi_scanner_free)

    def _release(self, ctx: Any) -> None:
        """Keep ``ctx`` for a later call, unless enough are kept or a large input grew its
        buffers (then they are freed with it, not held while the scanner lives)."""
        view = self._lib.phi_scanner_results(ctx)
        if len(self._contexts) < _CONTEXTS_KEPT and view.out_len <= _KEEP_BYTES and view.count <= _KEEP_SPANS:
            self._lib.phi_scanner_clear(ctx)
            self._contexts.append(ctx)

    def scrub_many(self, texts: Sequence[str], tokenizer: _H8Source) -> list[str]:
        """Every text with its spans replaced by tokens. The batch crosses into C as one UTF-8
        buffer (texts joined by NUL bytes) and is scanned, de-duplicated and rendered in one
        native call each, with the results in the buffers of a scanner context; only the ``h8``
        of each distinct value comes from Python (``tokenizer``, cached). Texts without spans
        are returned as they are."""
        n = len(texts)
        if n == 0:
            return []
        ffi, lib = self._ffi, self._lib
        sep = 1
        data = _encode(texts[0]) if n == 1 else _encode("\0".join(texts))
        size = len(data)
        offsets: Any = self._raw("size_t[]", n + 1)
        if n == 1:
            offsets[0], offsets[1] = 0, size + 1  # text 0 is data[0..size), as if a separator followed
        elif lib.phi_split(data, size, offsets, n) != n - 1:  # a text holds a NUL
            sep = 0
            encoded = [_encode(t) for t in texts]
            data = b"".join(encoded)
            size = len(data)
            bounds = array(self._code, (0,))
            bounds.extend(accumulate(map(len, encoded)))
            ffi.memmove(offsets, bounds, len(bounds) * bounds.itemsize)
        ctx = self._context()
        try:
            if self._scan_texts(ctx, data, offsets, n, sep, size) == 0:
                return list(texts)
            nu = lib.phi_scanner_dedupe(ctx, data, size, _DEDUPE_TABLE)
            if nu == self._error:
                raise RuntimeError("native PHI scanner rejected the spans")
            view = lib.phi_scanner_results(ctx)
            h8_ptr = self._hashes(tokenizer, data, size, view.uniq, nu)
            out_size = lib.phi_scanner_render(ctx, data, offsets, n, sep, h8_ptr, nu)
            if out_size == self._error:
                raise RuntimeError("native PHI renderer rejected the spans")
            view = lib.phi_scanner_results(ctx)
            k = view.nchanged
            out = ffi.buffer(view.out, out_size)
            if n == 1:
                return [str(out, "ascii" if size == len(texts[0]) else _ENC, _ERRORS)]
            bounds_out = ffi.unpack(view.out_offsets, k + 1)
            changed = ffi.unpack(view.changed, k)
            result = list(texts)
            if size == sum(map(len, texts)) + (n - 1) * sep:  # all ASCII: one decode, then slices
                whole = str(out, "ascii")
                for i, a, b in zip(changed, bounds_out, bounds_out[1:], strict=False):
                    result[i] = whole[a:b]
            else:
                for i, a, b in zip(changed, bounds_out, bounds_out[1:], strict=False):
                    result[i] = str(out[a:b], _ENC, _ERRORS)
            return result
        finally:
            self._release(ctx)

    def _hashes(self, tokenizer: _H8Source, data: bytes, size: int, uniq: Any, nu: int) -> Any:
        """The ``h8`` of the ``nu`` distinct values ``uniq`` (8 bytes each): those seen before
        from the table kept between calls (for the tokenizer's key and mode), the others from
        the tokenizer (then kept in the table)."""
        ffi, lib = self._ffi, self._lib
        buf = data
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

    def _scan_texts(self, ctx: Any, data: bytes, offsets: Any, n: int, sep: int, size: int) -> int:
        """Scan the batch into ``ctx`` (one native call); returns the number of spans. With
        parallel scanning on, a large batch is cut in two halves scanned at the same time, the
        second by the worker thread into a context of its own (the texts are independent), and
        a large single text is cut in two (:meth:`_scan_halves`)."""
        lib = self._lib
        pool = _pool() if size >= _PARALLEL_MIN else None
        if pool is None:
            return self._checked(lib.phi_scanner_scan(ctx, data, offsets, n, sep, 0, n))
        if n == 1:
            return self._scan_halves(pool, ctx, data, size)
        lo, hi = 1, n  # mid: the first text that starts at or after the middle (or n)
        while lo < hi:
            m = (lo + hi) // 2
            if offsets[m] < size // 2:
                lo = m + 1
            else:
                hi = m
        mid = lo
        other = self._context()
        try:
            second = pool.submit(lib.phi_scanner_scan, other, data, offsets, n, sep, mid, n)
            try:
                self._checked(lib.phi_scanner_scan(ctx, data, offsets, n, sep, 0, mid))
            finally:
                self._checked(second.result())  # always wait: the worker reads `data`
            return self._checked(lib.phi_scanner_append(ctx, other, 0))
        finally:
            self._release(other)

    def _scan_halves(self, pool: ThreadPoolExecutor, ctx: Any, data: bytes, size: int) -> int:
        """Spans of one long text into ``ctx``: the worker thread scans from the middle while
        this thread scans up to it; the scan depends only on the position it stands on
        (``phi_scan_range``), so once both stand on the same position the worker's spans from
        there on are the ones this thread would find."""
        ffi, lib = self._ffi, self._lib
        split = size // 2
        other = self._context()
        try:
            nxt_w = ffi.new("size_t *")
            second = pool.submit(lib.phi_scanner_scan_range, other, data, size, split, size, nxt_w)
            nxt = ffi.new("size_t *")
            walk = ffi.new("size_t *")
            try:
                self._checked(lib.phi_scanner_scan_range(ctx, data, size, 0, split, nxt))
                a = nxt[0]  # where this thread stands, at or after split
                b, drop = split, 0  # where the worker stood, and its spans before that
                scratch = self._raw("phi_span[]", _MIN_CAP)
                while a != b:  # walk the one behind until both stand on the same position
                    if b < a:
                        got = lib.phi_scan_range(data, size, b, a, scratch, _MIN_CAP, walk)
                        drop += got
                        b = walk[0]
                    else:
                        self._checked(lib.phi_scanner_scan_range(ctx, data, size, a, b, nxt))
                        a = nxt[0]
            finally:
                self._checked(second.result())  # always wait: the worker reads `data`
            return self._checked(lib.phi_scanner_append(ctx, other, drop))
        finally:
            self._release(other)

    def _checked(self, got: int) -> int:
        if got == self._error:
            raise RuntimeError("native PHI scanner rejected the batch (or ran out of memory)")
        return got

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
        buf: bytes
        if joined.isascii():  # the common case: byte offsets are character offsets
            buf = joined.encode("ascii")
            encoded = None
            lengths: Iterable[int] = map(len, texts)
        else:
            encoded = [_encode(t) for t in texts]
            buf = b"".join(encoded)
            lengths = map(len, encoded)
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
