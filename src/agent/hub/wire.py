"""gRPC message reading with a size cap, and the peer facts of a call (grpclib internals kept
in this one module: grpclib itself reads any length a client announces)."""

from __future__ import annotations

import asyncio
import struct
from typing import Any, TypeVar

from google.protobuf.message import DecodeError, Message
from grpclib.const import Status
from grpclib.exceptions import GRPCError

M = TypeVar("M", bound=Message)


async def _header(inner: Any, stop: asyncio.Event | None) -> bytes:
    """The 5-byte message header, or b"" when ``stop`` is set before one starts arriving."""
    if stop is None:
        return bytes(await inner.recv_data(5))
    header = asyncio.ensure_future(inner.recv_data(5))
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({header, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if not header.done():
        header.cancel()
        return b""
    return bytes(header.result())


async def read_message(stream: Any, message_type: type[M], cap: int,
                       stop: asyncio.Event | None = None) -> M | None:
    """The next message of a server ``stream``, or None at the end of the client's side (or
    when ``stop`` is set while waiting for the next message; a message under way is read).

    Refuses, before reading the body, a message announced larger than ``cap``
    (RESOURCE_EXHAUSTED) and a compressed one; a body cut short is INVALID_ARGUMENT."""
    inner = stream._stream  # grpclib.protocol.Stream
    try:
        meta = await _header(inner, stop)
        if not meta:
            return None
        if len(meta) != 5:
            raise AssertionError("short header")
        compressed, size = struct.unpack(">?I", meta)
        if compressed:
            raise GRPCError(Status.UNIMPLEMENTED, "compressed messages are not accepted")
        if size > cap:
            raise GRPCError(Status.RESOURCE_EXHAUSTED, f"message larger than {cap} bytes")
        body = await inner.recv_data(size)
        if len(body) != size:
            raise AssertionError("short body")
    except AssertionError:
        raise GRPCError(Status.INVALID_ARGUMENT, "message cut short") from None
    try:
        return message_type.FromString(body)
    except DecodeError:
        raise GRPCError(Status.INVALID_ARGUMENT, "message does not decode") from None


def peer_ip(stream: Any) -> str:
    addr = stream.peer.addr()
    return str(addr[0]) if addr else ""


def peer_cert_der(stream: Any) -> bytes | None:
    """The client certificate the TLS handshake verified, as DER (None when none was sent)."""
    ssl_object = stream.peer._transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return bytes(der) if der else None


def reset(stream: Any) -> None:
    """Reset a call's HTTP/2 stream (RST_STREAM): the client learns at once that it is over."""
    inner = stream._stream
    if inner.closable:
        inner.reset_nowait()
