"""Shared JSON codec helpers: typed decoders that raise :class:`ProtocolError`, one encoder.

Bodies are compact UTF-8 JSON (central-api.md §1). Struct fields are encoded in declaration order,
which mirrors the Go daemon's struct order, so the agent's bodies match the samples byte for byte.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec

from agent.protocol.errors import ProtocolError

T = TypeVar("T")

#: The one encoder of the protocol layer (compact output, fields in declaration order).
ENCODER = msgspec.json.Encoder()


class TypedDecoder(Generic[T]):
    """A reusable ``msgspec`` decoder for one type that raises :class:`ProtocolError`."""

    __slots__ = ("_decoder", "what")

    def __init__(self, type_: type[T], what: str) -> None:
        self._decoder: msgspec.json.Decoder[T] = msgspec.json.Decoder(type_)
        self.what = what

    def __call__(self, buf: bytes | bytearray | memoryview | str) -> T:
        try:
            return self._decoder.decode(buf)
        except msgspec.MsgspecError as exc:
            raise ProtocolError.from_msgspec(self.what, exc) from exc


def encode(obj: Any) -> bytes:
    """Compact JSON bytes of ``obj`` (a Struct or plain JSON value)."""
    return ENCODER.encode(obj)


def decode_any(buf: bytes | bytearray | memoryview | str, what: str = "body") -> Any:
    """Decode arbitrary JSON into Python values, raising :class:`ProtocolError` if invalid."""
    try:
        return msgspec.json.decode(buf)
    except msgspec.MsgspecError as exc:
        raise ProtocolError.from_msgspec(what, exc) from exc


def convert(value: Any, type_: type[T], what: str) -> T:
    """Validate already-decoded JSON values against ``type_`` (ProtocolError on mismatch)."""
    try:
        return msgspec.convert(value, type_)
    except msgspec.MsgspecError as exc:
        raise ProtocolError.from_msgspec(what, exc) from exc


_DECODERS: dict[Any, TypedDecoder[Any]] = {}


def decode(buf: bytes | bytearray | memoryview | str, type_: type[T]) -> T:
    """Decode ``buf`` as ``type_`` with a cached decoder; raises :class:`ProtocolError`.

    The generic entry point for every body of :mod:`agent.protocol`.
    """
    dec = _DECODERS.get(type_)
    if dec is None:
        dec = _DECODERS[type_] = TypedDecoder(type_, getattr(type_, "__name__", str(type_)))
    result: T = dec(buf)
    return result
