"""Time on the wire and on disk, written once: RFC 3339 UTC formatting and parsing.

Formats (all UTC with ``Z``):

==========================================  ===================================================
``format_rfc3339(t)``                       ``2026-05-20T15:00:00Z``: the wire (central-api.md
                                            §1), evidence, journals, state files
``format_rfc3339(t, fraction=3)``           ``2026-05-20T15:00:00.123Z``: log lines, the
                                            healing journal
``format_rfc3339(t, fraction=6)``           ``2026-05-20T15:00:00.123456Z``: ``status.json``
``format_rfc3339_ns(ns)``                   ``2026-05-20T15:00:00.123456789Z``: the Go daemon's
                                            state file (Go's ``time.RFC3339Nano`` layout, with
                                            every digit); ``fraction=6`` for journald stamps
``format_compact(t)``                       ``20260520T150000Z``: file-name suffixes
``utc_date(t)``                             ``2026-05-20``: day buckets
==========================================  ===================================================

``t`` is unix seconds (a float: whole seconds are floored, fractions are rounded to the
microsecond as :meth:`datetime.fromtimestamp` does, then cut to ``fraction`` digits), an aware
:class:`~datetime.datetime`, or None for now. A naive datetime is refused: the wire needs UTC.

Parsing: :func:`parse_rfc3339` is strict (what the agent and the server send: ``T``, 0-6 fraction
digits, ``Z`` or ``±HH:MM``); :func:`parse_rfc3339_ns` reads any RFC 3339 date-time the Go
daemon may have written (``T``/``t``/space, any number of fraction digits, ``z``) to unix
nanoseconds. Both raise :class:`TimeFormatError` (a ``ValueError``); the message never echoes the
value.

This module is at the bottom of the import layers: it imports nothing from the agent.
"""

from __future__ import annotations

import calendar
import math
import re
import time
from datetime import UTC, datetime
from typing import Literal

_NS = 1_000_000_000
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})([Tt ])(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)

Fraction = Literal[0, 3, 6, 9]


class TimeFormatError(ValueError):
    """Not an RFC 3339 timestamp of the accepted form (the value is not in the message)."""


# --- formatting -----------------------------------------------------------------------------


def format_rfc3339(when: float | datetime | None = None, *, fraction: Fraction = 0) -> str:
    """RFC 3339 UTC with ``Z`` and ``fraction`` fraction digits."""
    if when is None:
        when = time.time()
    if isinstance(when, datetime):
        if when.tzinfo is None:
            raise ValueError("naive datetime: the wire needs UTC")
        dt = when.astimezone(UTC)
    else:
        dt = datetime.fromtimestamp(when if fraction else math.floor(when), UTC)
    return _format(dt, dt.microsecond * 1000, fraction)


def format_rfc3339_ns(ns: int, *, fraction: Fraction = 9) -> str:
    """Unix nanoseconds → RFC 3339 UTC with ``fraction`` digits (cut, not rounded)."""
    secs, nanos = divmod(ns, _NS)
    return _format(datetime.fromtimestamp(secs, UTC), nanos, fraction)


def _format(dt: datetime, nanos: int, fraction: Fraction) -> str:
    """Raises ValueError, OverflowError or OSError outside the years 1-9999 (RFC 3339's)."""
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if fraction:
        text += "." + f"{nanos:09d}"[:fraction]
    return text + "Z"


def format_compact(when: float | None = None) -> str:
    """``YYYYMMDDTHHMMSSZ`` (ISO 8601 basic format, whole seconds) for file names."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if when is None else when))


def utc_date(when: float) -> str:
    """``YYYY-MM-DD`` of the UTC day of ``when``."""
    return time.strftime("%Y-%m-%d", time.gmtime(when))


# --- parsing --------------------------------------------------------------------------------


def parse_rfc3339(text: str) -> datetime:
    """Strict RFC 3339 (``T``, 0-6 fraction digits, ``Z`` or ``±HH:MM``) → an aware datetime."""
    m = _RFC3339.fullmatch(text)
    if m is None or m[4] != "T" or m[9] == "z" or len(m[8] or "") > 6:
        raise TimeFormatError("not an RFC 3339 timestamp with offset")
    if m[11] is not None and int(m[11]) >= 24:
        raise TimeFormatError("timestamp offset out of range")
    try:  # the pattern admits only what fromisoformat reads the same way (Python >= 3.11)
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise TimeFormatError(f"invalid timestamp: {exc}") from None


def parse_rfc3339_ns(text: object) -> int:
    """Any RFC 3339 date-time (``T``/``t``/space, 0-n fraction digits, ``Z`` or offset) → unix ns.

    A leap second (``:60``) reads as the start of the next second; the day is checked against
    1-31 only (``timegm`` carries an overflow into the next month)."""
    m = _RFC3339.fullmatch(text) if isinstance(text, str) else None  # None, numbers: malformed
    if m is None:
        raise TimeFormatError("not an RFC 3339 timestamp")
    year, month, day, _, hour, minute, second, frac, zulu, sign, oh, om = m.groups()
    mo, d, h, mi, s = int(month), int(day), int(hour), int(minute), int(second)
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h <= 23 and mi <= 59 and s <= 60):
        raise TimeFormatError("timestamp field out of range")
    if s == 60:  # a leap second: the Go daemon never writes one; read it as the next second's start
        s = 59
        frac = None
        extra = _NS
    else:
        extra = 0
    secs = calendar.timegm((int(year), mo, d, h, mi, s, 0, 0, 0))
    if not zulu:
        off = int(oh) * 3600 + int(om) * 60
        if int(oh) > 23 or int(om) > 59:
            raise TimeFormatError("timestamp offset out of range")
        secs -= off if sign == "+" else -off
    nanos = int((frac or "0")[:9].ljust(9, "0"))
    return secs * _NS + nanos + extra
