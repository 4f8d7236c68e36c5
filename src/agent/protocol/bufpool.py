"""A small pool of reusable ``bytearray`` buffers for encoding request bodies.

``msgspec.json.Encoder.encode_into`` writes into an existing buffer, so a steady checkin loop reuses
the same few buffers instead of allocating a fresh body every cycle::

    with POOL.encode(request) as body:      # body: memoryview of the encoded bytes
        headers = sign_request(key, "POST", path, body)
        await session.post(url, data=body, headers=headers)   # hash and send the same bytes

``encode_into`` keeps the buffer's capacity when the output shrinks, so after the first cycle the
same allocation is reused. Rules: a buffer is lent to one holder at a time; when it comes back it
is kept only if the pool has room, it is not larger than ``max_retained`` bytes and nobody still
holds a view of it. Views handed out by :meth:`BufferPool.encode` are released on exit, so a caller
must copy (``bytes(body)``) what it wants to keep.
"""

from __future__ import annotations

from typing import Any

import msgspec

from agent.protocol.codec import ENCODER


class BufferPool:
    """Lends ``bytearray`` buffers; never lends one buffer twice at once.

    Thread-safe without a lock: the free list's ``pop``/``append`` and the loan set's
    ``add``/``remove`` are atomic in CPython. Under threads ``max_free`` may be exceeded by a buffer
    or two and the counters are approximate; exclusivity of a loan always holds.
    """

    def __init__(
        self,
        *,
        max_free: int = 4,
        initial_size: int = 8 * 1024,
        max_retained: int = 1024 * 1024,
        encoder: msgspec.json.Encoder | None = None,
    ) -> None:
        if max_free < 0 or initial_size < 0 or max_retained < 0:
            raise ValueError("pool sizes must be >= 0")
        self.max_free = max_free
        self.initial_size = min(initial_size, max_retained)
        self.max_retained = max_retained
        self.encoder = encoder or ENCODER
        self._free: list[bytearray] = []
        self._lent: set[int] = set()
        self.created = 0  # buffers allocated by the pool
        self.reused = 0  # loans served from a returned buffer
        self.dropped = 0  # returned buffers not kept (pool full, oversized or still viewed)

    @property
    def free_count(self) -> int:
        return len(self._free)

    @property
    def lent_count(self) -> int:
        return len(self._lent)

    def acquire(self) -> bytearray:
        """Take a buffer (a returned one if available); give it back with :meth:`release`."""
        try:
            buf = self._free.pop()  # atomic: two holders can never pop the same buffer
            self.reused += 1
        except IndexError:
            buf = bytearray(self.initial_size)
            self.created += 1
        self._lent.add(id(buf))
        return buf

    def release(self, buf: bytearray) -> None:
        """Return a lent buffer. Releasing a buffer that is not on loan raises ``RuntimeError``."""
        try:
            self._lent.remove(id(buf))  # atomic: a double release fails here
        except KeyError:
            raise RuntimeError("buffer is not on loan from this pool") from None
        free = self._free
        if len(free) < self.max_free and buf.__alloc__() - 1 <= self.max_retained:
            # __alloc__ counts a trailing NUL. A live view would make the next encode_into fail.
            try:
                buf.append(0)
                del buf[-1]
            except BufferError:
                self.dropped += 1
                return
            free.append(buf)
        else:
            self.dropped += 1

    def lend(self) -> Loan:
        """Lend a buffer for the duration of a ``with`` block (``with pool.lend() as buf``)."""
        return Loan(self)

    def encode(self, obj: Any) -> EncodedBody:
        """Encode ``obj`` as compact JSON into a lent buffer: ``with pool.encode(obj) as body``
        yields a read-only ``memoryview`` of the bytes, valid until the block ends."""
        return EncodedBody(self, obj)


class Loan:
    """Context manager of :meth:`BufferPool.lend` (a class, not a generator: this is a hot path)."""

    __slots__ = ("_buf", "_pool")

    def __init__(self, pool: BufferPool) -> None:
        self._pool = pool
        self._buf: bytearray | None = None

    def __enter__(self) -> bytearray:
        self._buf = self._pool.acquire()
        return self._buf

    def __exit__(self, *exc: object) -> None:
        buf, self._buf = self._buf, None
        if buf is not None:
            self._pool.release(buf)


class EncodedBody:
    """Context manager of :meth:`BufferPool.encode`."""

    __slots__ = ("_buf", "_obj", "_pool", "_view")

    def __init__(self, pool: BufferPool, obj: Any) -> None:
        self._pool = pool
        self._obj = obj
        self._buf: bytearray | None = None
        self._view: memoryview | None = None

    def __enter__(self) -> memoryview:
        pool = self._pool
        buf = self._buf = pool.acquire()
        try:
            pool.encoder.encode_into(self._obj, buf)
        except BaseException:
            self._buf = None
            pool.release(buf)
            raise
        view = self._view = memoryview(buf).toreadonly()
        return view

    def __exit__(self, *exc: object) -> None:
        if self._view is not None:
            self._view.release()
            self._view = None
        buf, self._buf = self._buf, None
        if buf is not None:
            self._pool.release(buf)


#: The process-wide pool used for request bodies.
POOL = BufferPool()
