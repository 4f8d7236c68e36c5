"""Windows security-event archive: ``POST /api/security-events/archive`` (central-api.md §7.7)."""

from __future__ import annotations

from msgspec import Struct

from agent.protocol.codec import TypedDecoder

MAX_EVENTS = 500


class SecurityEvent(Struct, kw_only=True, omit_defaults=True):
    """One ``events[]`` entry (PHI-scrubbed)."""

    event_id: int
    timestamp: str
    hostname: str
    message: str
    source_host: str | None = None


class SecurityEventsArchive(Struct, kw_only=True):
    """The request body; at most 500 events (more is a 400)."""

    site_id: str
    events: list[SecurityEvent]


class SecurityEventsArchiveResponse(Struct, kw_only=True):
    """200 body ``{"status": "ok", "archived": n}``."""

    status: str = ""
    archived: int = 0


_DECODE_ARCHIVE = TypedDecoder(SecurityEventsArchive, "security events archive")
_DECODE_RESPONSE = TypedDecoder(SecurityEventsArchiveResponse, "security events response")


def decode_security_events_archive(
    buf: bytes | bytearray | memoryview | str,
) -> SecurityEventsArchive:
    """Decode an archive request body (server side, tests); raises ProtocolError."""
    return _DECODE_ARCHIVE(buf)


def decode_security_events_response(
    buf: bytes | bytearray | memoryview | str,
) -> SecurityEventsArchiveResponse:
    """Decode the archive endpoint's 200 body; raises ProtocolError."""
    return _DECODE_RESPONSE(buf)
