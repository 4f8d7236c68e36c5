"""Log ingest: ``POST /api/logs/ingest`` (central-api.md §7.6).

The body is the gzip of the compact JSON object (``Content-Encoding: gzip``); see
:func:`encode_log_ingest_gzip`.
"""

from __future__ import annotations

import gzip

from msgspec import Struct

from agent.protocol.codec import TypedDecoder, encode

MAX_BATCH = 500


class LogEntry(Struct, kw_only=True, omit_defaults=True):
    """One ``batch[]`` entry: journal line, PHI-scrubbed."""

    ts: str
    unit: str
    pri: int
    msg: str
    boot: str | None = None


class LogIngest(Struct, kw_only=True):
    """The log-ingest request object (before gzip)."""

    site_id: str
    hostname: str
    batch: list[LogEntry]


class LogIngestResponse(Struct, kw_only=True):
    """200 body ``{"accepted": n, "dropped": n}``."""

    accepted: int = 0
    dropped: int = 0


_DECODE_INGEST = TypedDecoder(LogIngest, "log ingest")
_DECODE_RESPONSE = TypedDecoder(LogIngestResponse, "log ingest response")


def encode_log_ingest_gzip(body: LogIngest, *, level: int = 6) -> bytes:
    """The gzip-compressed JSON body to send with ``Content-Encoding: gzip``."""
    return gzip.compress(encode(body), compresslevel=level, mtime=0)


def decode_log_ingest(buf: bytes | bytearray | memoryview | str) -> LogIngest:
    """Decode an (already gunzipped) ingest body (server side, tests); raises ProtocolError."""
    return _DECODE_INGEST(buf)


def decode_log_ingest_response(buf: bytes | bytearray | memoryview | str) -> LogIngestResponse:
    """Decode the ingest endpoint's 200 body; raises ProtocolError."""
    return _DECODE_RESPONSE(buf)
