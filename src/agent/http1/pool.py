"""Kept-alive HTTP/1.1 connections to one origin.

At most ``max_active`` exchanges at once (the rest wait, inside their caller's deadline); at most
``max_idle`` connections kept between exchanges, each for at most ``keepalive_s``. A connection goes
back to the pool only when h11 says the exchange ended cleanly and the peer has not closed it; any
failure or cancellation aborts it. A request that failed on a *reused* connection before a single
response byte arrived (the server's idle close) is sent once more on a fresh connection; nothing
else is ever sent twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from agent.http1.conn import Connection, HttpError, Reply


class Pool:
    """``await pool.exchange(...)`` over a reused or a fresh connection from ``opener``."""

    def __init__(self, opener: Callable[[], Awaitable[Connection]], *, max_idle: int,
                 keepalive_s: float, max_active: int | None = None) -> None:
        self._opener = opener
        self.max_idle = max_idle
        self.keepalive_s = keepalive_s
        self._idle: list[Connection] = []
        self._slots = asyncio.Semaphore(max_active or max_idle)
        self.opened = 0  # connections opened (for status and tests)

    async def exchange(self, method: str, target: str, headers: Sequence[tuple[str, str]],
                       body: bytes | memoryview | None, cap: int) -> Reply:
        async with self._slots:
            conn = self._take()
            if conn is not None:
                try:
                    return await self._run(conn, method, target, headers, body, cap)
                except HttpError as exc:
                    if not exc.stale:
                        raise
            self.opened += 1
            conn = await self._opener()
            return await self._run(conn, method, target, headers, body, cap)

    async def _run(self, conn: Connection, method: str, target: str,
                   headers: Sequence[tuple[str, str]], body: bytes | memoryview | None,
                   cap: int) -> Reply:
        try:
            reply = await conn.exchange(method, target, headers, body, cap)
        except BaseException:
            conn.abort()
            raise
        if conn.reusable and len(self._idle) < self.max_idle:
            self._idle.append(conn)
        else:
            conn.close()
        return reply

    def _take(self) -> Connection | None:
        """The most recently used idle connection that is still good; expired ones are closed."""
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if conn.reusable and now - conn.idle_since < self.keepalive_s:
                return conn
            conn.close()
        return None

    @property
    def idle(self) -> int:
        return len(self._idle)

    def close(self) -> None:
        """Close the idle connections (the pool stays usable: later requests open new ones)."""
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
