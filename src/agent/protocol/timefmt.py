"""Timestamps on the wire (central-api.md §1, orders.md §4).

The agent sends RFC 3339 UTC with ``Z`` and whole seconds; the server sends Python ``isoformat()``
values (``2026-05-20T15:00:00.412345+00:00``). Parsing requires an offset (``Z`` or ``±HH:MM``) and
accepts 0-6 fraction digits; anything else is a :class:`ProtocolError`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from agent.protocol.errors import ProtocolError

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(?:(Z)|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)


def format_utc(when: datetime | int | float) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` (UTC, whole seconds) for a datetime or unix seconds."""
    if isinstance(when, datetime):
        if when.tzinfo is None:
            raise ValueError("naive datetime: the wire needs UTC")
        dt = when.astimezone(UTC)
    else:
        dt = datetime.fromtimestamp(int(when), UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str, *, path: str = "$") -> datetime:
    """Parse an RFC 3339 timestamp with a mandatory offset into an aware ``datetime``."""
    m = _RFC3339.fullmatch(text)
    if m is None:
        raise ProtocolError("not an RFC 3339 timestamp with offset", path=path)
    year, month, day, hour, minute, second, frac, zulu, sign, oh, om = m.groups()
    micro = int(frac.ljust(6, "0")) if frac else 0
    if zulu:
        tz: timezone = UTC
    else:
        delta = timedelta(hours=int(oh), minutes=int(om))
        if delta >= timedelta(hours=24):
            raise ProtocolError("timestamp offset out of range", path=path)
        tz = timezone(-delta if sign == "-" else delta)
    try:
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo=tz
        )
    except ValueError as exc:
        raise ProtocolError(f"invalid timestamp: {exc}", path=path) from exc
