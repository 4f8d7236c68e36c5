"""One HTTP/1.1 client connection: asyncio streams, the ``ssl`` module, framing by h11 (sans-I/O).

:func:`connect` resolves, connects, does the TLS handshake and hands the validated session to a
``verify`` hook (pin checks) before a request byte is written. :meth:`Connection.exchange` sends one
request and reads its response: the body is streamed and refused once it passes ``cap`` (the wire
size and, for a gzip body, the decoded size), so neither a large body nor a decompression bomb is
ever held. Failures raise :class:`HttpError` with a ``kind``: ``dns``, ``connect``, ``tls``,
``timeout`` (connect or handshake), ``read_timeout`` (a silent peer, when the caller set one),
``too_large``, ``server`` (closed early, malformed HTTP, a bad gzip body). ``stale`` is set when
the peer closed or reset the connection before a single response byte arrived: on a kept-alive
connection that is the server's idle close, and the one case a request may be sent again (by
:class:`~agent.http1.pool.Pool`, on a fresh connection).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

import h11

from agent.http1.headers import Headers

READ_SIZE = 64 * 1024
MAX_HEAD = 64 * 1024  # status line and headers

#: ``verify(ssl_object, "host:port")``: raise to refuse the connection before anything is sent.
Verifier = Callable[[Any, str], Awaitable[None]]


class HttpError(Exception):
    """The exchange did not produce a usable response."""

    def __init__(self, kind: str, message: str, *, stale: bool = False) -> None:
        self.kind = kind
        self.message = message
        self.stale = stale
        super().__init__(f"{kind}: {message}")


@dataclass(frozen=True, slots=True)
class Origin:
    """Scheme, host and port of a base URL, and the path prefix requests go under."""

    scheme: str
    host: str
    port: int
    prefix: str = ""

    @classmethod
    def parse(cls, url: str) -> Origin:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(parts.scheme, parts.hostname, port, parts.path.rstrip("/"))

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    @property
    def authority(self) -> str:
        """The ``Host`` header."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.tls else 80
        return host if self.port == default else f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: Headers
    body: bytes


async def connect(origin: Origin, *, ssl_context: ssl.SSLContext | None, family: int = 0,
                  connect_timeout: float, tls_timeout: float,
                  verify: Verifier | None = None) -> Connection:
    """A new connection to ``origin`` (TLS and ``verify`` passed for https)."""
    loop = asyncio.get_running_loop()
    sock = await _tcp(loop, origin, family, connect_timeout)
    tls = ssl_context if origin.tls else None
    try:
        async with asyncio.timeout(tls_timeout if tls else connect_timeout):
            reader, writer = await asyncio.open_connection(
                sock=sock, ssl=tls, server_hostname=origin.host if tls else None, limit=READ_SIZE)
    except TimeoutError:
        sock.close()
        raise HttpError("timeout", f"TLS handshake with {origin.host}:{origin.port} took longer "
                        f"than {tls_timeout:g}s") from None
    except ssl.SSLCertVerificationError as exc:
        sock.close()
        raise HttpError("tls", f"certificate of {origin.host}: {exc.verify_message}") from None
    except ssl.SSLError as exc:
        sock.close()
        raise HttpError("tls", f"TLS with {origin.host}:{origin.port}: {exc.reason or exc}") from None
    except OSError as exc:
        sock.close()
        raise HttpError("connect", _os_text(exc)) from None
    except BaseException:  # cancelled (the caller's deadline)
        sock.close()
        raise
    conn = Connection(reader, writer)
    if tls is not None and verify is not None:
        try:
            await verify(writer.get_extra_info("ssl_object"), f"{origin.host}:{origin.port}")
        except BaseException:
            conn.abort()
            raise
    return conn


async def _tcp(loop: asyncio.AbstractEventLoop, origin: Origin, family: int,
               limit_s: float) -> socket.socket:
    """A connected non-blocking socket: each resolved address in turn, within ``limit_s``."""
    try:
        async with asyncio.timeout(limit_s):
            # An ASCII name goes as bytes: a str is IDNA-encoded by the event loop, and the
            # codec's first import (~7 ms) sat on the path to the first checkin.
            host: str | bytes = origin.host.encode("ascii") if origin.host.isascii() else origin.host
            try:
                infos = await loop.getaddrinfo(host, origin.port, family=family,
                                               type=socket.SOCK_STREAM)
            except socket.gaierror as exc:
                raise HttpError("dns", f"cannot resolve {origin.host}: {exc.strerror}") from None
            last: OSError | None = None
            for fam, kind, proto, _, addr in infos:
                sock = socket.socket(fam, kind, proto)
                try:
                    sock.setblocking(False)
                    # The numeric address as bytes too: the loop resolves it again.
                    await loop.sock_connect(sock, (str(addr[0]).encode("ascii"), *addr[1:]))
                    return sock
                except OSError as exc:
                    sock.close()
                    last = exc
                except BaseException:
                    sock.close()
                    raise
    except TimeoutError:
        raise HttpError("timeout", f"connecting to {origin.host}:{origin.port} took longer than "
                        f"{limit_s:g}s") from None
    text = _os_text(last) if last is not None else "no address"
    raise HttpError("connect", f"{origin.host}:{origin.port}: {text}")


def _os_text(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


class Connection:
    """One kept-alive HTTP/1.1 connection; one exchange at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
        self.idle_since = time.monotonic()
        self.exchanges = 0

    @property
    def reusable(self) -> bool:
        """Ready for another request: the last exchange ended cleanly and the peer is still there."""
        return (self._h11.our_state is h11.IDLE and self._h11.their_state is h11.IDLE
                and not self._writer.is_closing() and not self._reader.at_eof())

    @property
    def ssl_object(self) -> Any:
        return self._writer.get_extra_info("ssl_object")

    def close(self) -> None:
        self._writer.close()

    def abort(self) -> None:
        self._writer.transport.abort()

    async def exchange(self, method: str, target: str, headers: Sequence[tuple[str, str]],
                       body: bytes | memoryview | None, cap: int,
                       read_timeout: float | None = None) -> Reply:
        """Send one request and read its whole response (at most ``cap`` bytes of body).
        ``read_timeout``: the longest wait for the next bytes (kind ``read_timeout``); the
        caller's deadline bounds the whole exchange."""
        self.exchanges += 1
        self._write(method, target, headers, body)
        try:
            await self._writer.drain()
        except OSError as exc:
            raise HttpError("server", f"connection lost while sending: {_os_text(exc)}",
                            stale=True) from None
        return await self._read(cap, read_timeout)

    def _write(self, method: str, target: str, headers: Sequence[tuple[str, str]],
               body: bytes | memoryview | None) -> None:
        h = self._h11
        hdrs = list(headers)
        view = None if body is None else memoryview(body).cast("B")  # len() counts bytes
        if view is not None:
            hdrs.append(("Content-Length", str(len(view))))
        try:
            out: list[Any] = [h.send(h11.Request(method=method, target=target, headers=hdrs))]
            if view:  # passed through, not copied (h11 takes any bytes-like object)
                out += h.send_with_data_passthrough(h11.Data(data=cast(bytes, view))) or []
            out.append(h.send(h11.EndOfMessage()))
        except h11.LocalProtocolError as exc:
            raise ValueError(f"invalid HTTP request: {exc}") from None
        self._writer.writelines(out)

    async def _recv(self, read_timeout: float | None) -> bytes:
        if read_timeout is None:
            return await self._reader.read(READ_SIZE)
        try:
            async with asyncio.timeout(read_timeout):
                return await self._reader.read(READ_SIZE)
        except TimeoutError:
            raise HttpError("read_timeout", f"no response bytes for {read_timeout:g}s") from None

    async def _read(self, cap: int, read_timeout: float | None) -> Reply:
        h = self._h11
        got = 0  # response bytes received
        head: h11.Response | None = None
        decoder: Any = None
        chunks: list[bytes] = []
        size = wire = 0
        while True:
            try:
                event = h.next_event()
            except h11.RemoteProtocolError as exc:
                raise HttpError("server", f"malformed HTTP response: {exc}") from None
            if event is h11.NEED_DATA:
                try:
                    data = await self._recv(read_timeout)
                except ssl.SSLError as exc:
                    raise HttpError("tls", f"TLS error while reading: {exc.reason or exc}") from None
                except OSError as exc:
                    raise HttpError("server", f"connection lost: {_os_text(exc)}",
                                    stale=got == 0) from None
                if not data and got == 0:
                    raise HttpError("server", "the server closed the connection without answering",
                                    stale=True)
                got += len(data)
                h.receive_data(data)
            elif isinstance(event, h11.Response):
                head = event
                decoder = _start_body(event, cap)
            elif isinstance(event, h11.Data):
                wire += len(event.data)
                piece = event.data if decoder is None else _inflate(decoder, event.data,
                                                                    cap - size + 1)
                size += len(piece)
                if size > cap or wire > cap:
                    raise HttpError("too_large", f"response exceeded {cap} bytes")
                chunks.append(bytes(piece))
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise HttpError("server", "the server closed the connection mid-response")
            # InformationalResponse (1xx): wait for the final response
        if decoder is not None and not decoder.eof:
            raise HttpError("server", "the gzip response body is truncated")
        assert head is not None
        if h.our_state is h11.DONE and h.their_state is h11.DONE:
            h.start_next_cycle()
            self.idle_since = time.monotonic()
        return Reply(head.status_code, Headers((k.decode("latin-1"), v.decode("latin-1"))
                                               for k, v in head.headers), b"".join(chunks))


def _start_body(head: h11.Response, cap: int) -> Any:
    """Refuse a declared oversize body; the gzip decoder if the body is gzip (else None)."""
    declared = None
    encoding = b""
    for name, value in head.headers:
        if name == b"content-length":
            declared = int(value)
        elif name == b"content-encoding":
            encoding = value.strip().lower()
    if declared is not None and declared > cap:
        raise HttpError("too_large", f"response declared {declared} bytes (cap {cap})")
    if encoding in (b"", b"identity"):
        return None
    if encoding in (b"gzip", b"x-gzip"):
        return zlib.decompressobj(wbits=31)
    raise HttpError("server", f"unsupported Content-Encoding {encoding.decode('latin-1')!r}")


def _inflate(decoder: Any, data: bytes, limit: int) -> bytes:
    """At most ``limit`` decoded bytes of ``data`` (the caller refuses more than it may keep)."""
    try:
        out: bytes = decoder.decompress(data, limit)
    except zlib.error as exc:
        raise HttpError("server", f"bad gzip response body: {exc}") from None
    return out  # ``limit`` bytes with input left over means over the cap: the caller refuses it
