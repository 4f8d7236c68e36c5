"""A scriptable raw HTTP/1.1 server over real TLS on loopback, and a Central Command client for it.

The server parses requests itself (request line, headers, Content-Length body) and answers with the
raw bytes a test's handler writes, so it can misbehave exactly as a test needs: stall, close,
send too much, send malformed HTTP.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trustme
from tests.checkin.conftest import client_context, server_context

from agent.crypto.keys import Ed25519Key
from agent.transport import CentralClient, Credentials, PinStore


@dataclass
class Seen:
    conn: int  # which connection (0, 1, …)
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


#: ``handler(request, writer)`` writes the answer; returns False to close the connection after it.
Handler = Callable[[Seen, asyncio.StreamWriter], Awaitable[bool]]


def response(body: bytes = b'{"ok":true}', status: str = "200 OK",
             headers: tuple[str, ...] = ()) -> bytes:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Content-Type: application/json",
            *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def ok(req: Seen, writer: asyncio.StreamWriter) -> bool:
    writer.write(response())
    await writer.drain()
    return True


def answer(data: bytes, then: str = "keep") -> Handler:
    """A handler that writes ``data`` to every request, then keeps the connection, closes it or
    stalls (never finishing, until the server stops)."""

    async def handler(req: Seen, writer: asyncio.StreamWriter) -> bool:
        writer.write(data)
        await writer.drain()
        if then == "stall":
            await asyncio.sleep(3600)  # cancelled when the server stops
        return then == "keep"

    return handler


@dataclass
class RawServer:
    ca: trustme.CA
    handler: Handler = ok
    requests: list[Seen] = field(default_factory=list)
    connections: int = 0
    port: int = 0
    _server: asyncio.Server | None = None
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0,
                                                  ssl=server_context(self.ca))
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = self.connections
        self.connections += 1
        self._writers.append(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.append(task)  # type: ignore[arg-type]
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                line, *lines = head.decode("latin-1").split("\r\n")
                method, target, _ = line.split(" ", 2)
                headers = {k.strip().lower(): v.strip()
                           for k, v in (h.split(":", 1) for h in lines if h)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                req = Seen(conn, method, target, headers, body)
                self.requests.append(req)
                if not await self.handler(req, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.transport.abort()

    def on(self, conn: int) -> list[Seen]:
        return [r for r in self.requests if r.conn == conn]

    async def stop(self) -> None:
        for w in self._writers:
            w.transport.abort()
        for t in self._tasks:
            t.cancel()
        if self._server is not None:
            self._server.close()


@dataclass
class Env:
    tmp: Path
    ca: trustme.CA
    server: RawServer

    def client(self, *, pins: tuple[str, ...] = (), ca: trustme.CA | None = None) -> CentralClient:
        return CentralClient(self.server.url, Credentials("test-api-key"),
                             identity=Ed25519Key.generate(), pins=PinStore(self.tmp, pins),
                             ssl_context=client_context(ca or self.ca))


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    ca = trustme.CA()
    server = RawServer(ca)
    await server.start()
    yield Env(tmp_path, ca, server)
    await server.stop()
