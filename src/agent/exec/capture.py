"""Bounded output capture (exec.md §1.4): first 75% and last 25% of the bytes, one marker line.

Memory per stream is bounded by about 1.5 × the cap. ``on_line`` receives complete lines of the
head part as they arrive; lines after the head are delivered when the stream ends, and only those
that are kept (so a caller never sees a line that is missing from the returned output).
"""

from __future__ import annotations

from agent.exec.types import LineCallback

LINE_MAX = 64 * 1024
FLOOD_FACTOR = 4


class StreamCapture:
    __slots__ = (
        "_cut_pending",
        "_head",
        "_head_cap",
        "_line",
        "_on_line",
        "_tail",
        "_tail_cap",
        "cap",
        "flooded",
        "total",
    )

    def __init__(self, cap: int, on_line: LineCallback | None = None) -> None:
        self.cap = cap
        self._head_cap = cap * 3 // 4
        self._tail_cap = cap - self._head_cap
        self._head = bytearray()
        self._tail = bytearray()
        self.total = 0
        self.flooded = False
        self._on_line = on_line
        self._line = bytearray()
        self._cut_pending = False

    @property
    def truncated(self) -> bool:
        return self.total > self.cap

    def feed(self, data: bytes) -> bool:
        """Add received bytes; returns True once the total exceeds 4 × the cap (terminate)."""
        if not data:
            return self.flooded
        self.total += len(data)
        room = self._head_cap - len(self._head)
        if room > 0:
            part = data[:room]
            self._head += part
            if self._on_line is not None:
                self._lines(part)
            data = data[room:]
        if data:
            self._tail += data
            if len(self._tail) > 2 * self._tail_cap:
                del self._tail[: len(self._tail) - self._tail_cap]
        if self.total > FLOOD_FACTOR * self.cap:
            self.flooded = True
        return self.flooded

    def _lines(self, chunk: bytes) -> None:
        assert self._on_line is not None
        start = 0
        while True:
            nl = chunk.find(b"\n", start)
            if nl < 0:
                self._line += chunk[start:]
                while len(self._line) > LINE_MAX:
                    if not self._cut_pending:
                        self._on_line(self._line[:LINE_MAX].decode("utf-8", "replace"), True)
                    self._cut_pending = True
                    del self._line[:LINE_MAX]
                return
            self._line += chunk[start:nl]
            if not self._cut_pending:
                cut = len(self._line) > LINE_MAX
                self._on_line(self._line[:LINE_MAX].decode("utf-8", "replace").rstrip("\r"), cut)
            self._line.clear()
            self._cut_pending = False
            start = nl + 1

    def _kept_tail(self) -> bytes:
        keep = min(len(self._tail), self._tail_cap) if self.truncated else len(self._tail)
        return bytes(self._tail[len(self._tail) - keep :]) if keep else b""

    def finish(self) -> None:
        """Deliver the remaining lines to ``on_line`` (end of stream)."""
        if self._on_line is None:
            return
        tail = self._kept_tail()
        if self.truncated:
            # The partial head line and the first partial tail line are not whole: drop them.
            self._line.clear()
            self._cut_pending = False
            nl = tail.find(b"\n")
            tail = tail[nl + 1 :] if nl >= 0 else b""
        if tail:
            self._lines(tail)
        if self._line and not self._cut_pending:
            self._on_line(self._line[:LINE_MAX].decode("utf-8", "replace").rstrip("\r"), False)
        self._line.clear()
        self._on_line = None

    def value(self) -> bytes:
        if not self.truncated:
            return bytes(self._head) + bytes(self._tail)
        tail = self._kept_tail()
        dropped = self.total - len(self._head) - len(tail)
        sep = b"" if self._head.endswith(b"\n") else b"\n"
        return bytes(self._head) + sep + f"[... {dropped} bytes truncated ...]\n".encode() + tail

    def text(self) -> str:
        return self.value().decode("utf-8", "replace")
