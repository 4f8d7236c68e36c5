"""Shared JSON codec helpers: typed decoders that raise :class:`ProtocolError`, one encoder.

Bodies are compact UTF-8 JSON (central-api.md §1). Struct fields are encoded in declaration order,
which mirrors the Go daemon's struct order, so the agent's bodies match the samples byte for byte.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
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


_SURROGATE = re.compile("[\ud800-\udfff]")
#: A JSON escape of a surrogate code point (also matches text after an escaped backslash: that
#: only sends the value through the full check).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def unsafe_value(value: Any, path: str = "$") -> str | None:
    """What makes a decoded JSON value unusable, or ``None``: a non-finite number (``1e400``,
    ``NaN``, ``Infinity``) or a string or key with an unpaired surrogate (it cannot be encoded)."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, v = stack.pop()
        if isinstance(v, float) and not math.isfinite(v):
            return f"non-finite number (at {where})"
        if isinstance(v, str) and _SURROGATE.search(v):
            return f"unpaired surrogate (at {where})"
        if isinstance(v, dict):
            for k, item in v.items():
                if isinstance(k, str) and _SURROGATE.search(k):
                    return f"unpaired surrogate in a key (at {where})"
                stack.append((f"{where}.{k}", item))
        elif isinstance(v, list):
            stack.extend((f"{where}[{i}]", item) for i, item in enumerate(v))
    return None


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


# --- strict JSON (orders.md §4 step 6; reconcile plans §6) ---------------------------------

def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        dup = next(k for k, n in Counter(k for k, _ in pairs).items() if n > 1)
        raise ValueError(f"duplicate key {dup!r}")
    return obj


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


#: One decoder (``json.loads`` with hooks builds a new one per call); it holds no parse state.
_STRICT_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates,
                                   parse_constant=_no_constant, parse_float=_finite)


def strict_json(text: str) -> Any:
    """RFC 8259 JSON: duplicate keys, NaN/Infinity, numbers out of range (``1e400``) and
    unpaired surrogates rejected (ValueError)."""
    value = _STRICT_DECODER.decode(text)
    if _SURROGATE.search(text) is None and _SURROGATE_ESCAPE.search(text) is None:
        return value  # a decoded string holds a surrogate only from one of these two forms
    problem = unsafe_value(value)
    if problem is not None:
        raise ValueError(problem)
    return value
