"""Timestamps on the wire (central-api.md §1, orders.md §4): :mod:`agent.timefmt` with the protocol
layer's error type.

The agent sends RFC 3339 UTC with ``Z`` and whole seconds; the server sends Python ``isoformat()``
values (``2026-05-20T15:00:00.412345+00:00``). Parsing requires an offset (``Z`` or ``±HH:MM``) and
accepts 0-6 fraction digits; anything else is a :class:`ProtocolError`.
"""

from __future__ import annotations

from datetime import datetime

from agent.protocol.errors import ProtocolError
from agent.timefmt import TimeFormatError, format_rfc3339, parse_rfc3339


def format_utc(when: datetime | int | float) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` (UTC, whole seconds) for an aware datetime or unix seconds."""
    return format_rfc3339(when)


def parse_timestamp(text: str, *, path: str = "$") -> datetime:
    """Parse an RFC 3339 timestamp with a mandatory offset into an aware ``datetime``."""
    try:
        return parse_rfc3339(text)
    except TimeFormatError as exc:
        raise ProtocolError(str(exc), path=path) from None
