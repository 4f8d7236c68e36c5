"""Small shapes shared by several endpoints (central-api.md §1, §7).

* :class:`StatusResponse`: ``{"status": ...}`` replies (reconcile ack, security events, ...).
* :class:`ErrorBody`: FastAPI error bodies ``{"detail": <string or object>}``.
"""

from __future__ import annotations

from typing import Any

from msgspec import Struct

from agent.protocol.codec import TypedDecoder


class StatusResponse(Struct, kw_only=True):
    """A reply whose only meaningful field is ``status`` (e.g. ``{"status": "recorded"}``)."""

    status: str = ""


class ErrorBody(Struct, kw_only=True):
    """FastAPI error body: ``detail`` is a string, an object, or (422) a list of errors."""

    detail: str | dict[str, Any] | list[Any] | None = None


_DECODE_STATUS = TypedDecoder(StatusResponse, "status response")
_DECODE_ERROR = TypedDecoder(ErrorBody, "error body")


def decode_status_response(buf: bytes | bytearray | memoryview | str) -> StatusResponse:
    """Decode a ``{"status": ...}`` reply; raises ProtocolError."""
    return _DECODE_STATUS(buf)


def decode_error_body(buf: bytes | bytearray | memoryview | str) -> ErrorBody:
    """Decode a FastAPI error body; raises ProtocolError (e.g. for ``Internal Server Error``)."""
    return _DECODE_ERROR(buf)
