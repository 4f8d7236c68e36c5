"""The one time module: every output format is exactly what the places it replaced wrote, and the
two parsers (strict wire, lenient Go state) accept what they accepted."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.timefmt import (
    TimeFormatError,
    format_compact,
    format_rfc3339,
    format_rfc3339_ns,
    parse_rfc3339,
    parse_rfc3339_ns,
    utc_date,
)

T = 1_779_289_200.123456  # 2026-05-20T15:00:00.123456Z
seconds = st.floats(min_value=0, max_value=4_000_000_000, allow_nan=False)


def test_the_formats() -> None:
    assert format_rfc3339(T) == "2026-05-20T15:00:00Z"
    assert format_rfc3339(T, fraction=3) == "2026-05-20T15:00:00.123Z"
    assert format_rfc3339(T, fraction=6) == "2026-05-20T15:00:00.123456Z"
    assert format_rfc3339_ns(1_779_289_200_123_456_789) == "2026-05-20T15:00:00.123456789Z"
    assert format_rfc3339_ns(1_779_289_200_000_000_001) == "2026-05-20T15:00:00.000000001Z"
    assert format_rfc3339_ns(1_779_289_200_123_456_789, fraction=6) == "2026-05-20T15:00:00.123456Z"
    assert format_compact(T) == "20260520T150000Z"
    assert utc_date(T) == "2026-05-20"
    plus2 = datetime(2026, 5, 20, 17, 0, 0, 999, tzinfo=timezone(timedelta(hours=2)))
    assert format_rfc3339(plus2) == "2026-05-20T15:00:00Z"
    assert format_rfc3339(plus2, fraction=6) == "2026-05-20T15:00:00.000999Z"
    with pytest.raises(ValueError):
        format_rfc3339(datetime(2026, 5, 20))  # naive: refused
    now = time.time()
    assert abs(parse_rfc3339(format_rfc3339()).timestamp() - now) < 2
    assert abs(time.mktime(time.strptime(format_compact(), "%Y%m%dT%H%M%SZ")) - time.mktime(
        time.gmtime(now))) < 2
    with pytest.raises((ValueError, OverflowError, OSError)):
        format_rfc3339_ns(10**30)  # past year 9999: not RFC 3339


@given(seconds)
def test_whole_seconds_as_before(t: float) -> None:
    assert format_rfc3339(t) == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    assert format_rfc3339(datetime.fromtimestamp(t, UTC)) == \
        datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert format_compact(t) == time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t))


@given(seconds)
def test_fractions_as_before(t: float) -> None:
    dt = datetime.fromtimestamp(t, UTC)
    log_line = dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"  # agent.log
    assert format_rfc3339(t, fraction=3) == log_line
    assert format_rfc3339(t, fraction=6) == dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # status.json


@given(st.integers(min_value=1, max_value=253_402_300_799_999_999_999))
def test_nanoseconds_as_before(ns: int) -> None:
    secs, nanos = divmod(ns, 1_000_000_000)
    go = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{nanos:09d}Z"  # daemon_state
    assert format_rfc3339_ns(ns) == go
    assert parse_rfc3339_ns(go) == ns
    us = ns // 1000  # journald's __REALTIME_TIMESTAMP (agent.logship.batch)
    journald = datetime.fromtimestamp(us // 1_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%S") + \
        f".{us % 1_000_000:06d}Z"
    assert format_rfc3339_ns(us * 1000, fraction=6) == journald


def test_strict_parse() -> None:
    assert parse_rfc3339("2026-05-20T15:00:00.412345+00:00") == datetime(
        2026, 5, 20, 15, 0, 0, 412345, tzinfo=UTC)
    assert parse_rfc3339("2026-05-20T10:00:00.4-05:00") == datetime(
        2026, 5, 20, 15, 0, 0, 400000, tzinfo=UTC)
    assert parse_rfc3339("2026-05-20T15:00:00Z").timestamp() == 1_779_289_200
    for bad in ("2026-05-20T15:00:00", "2026-05-20 15:00:00Z", "2026-05-20t15:00:00Z",
                "2026-05-20T15:00:00z", "2026-05-20T15:00:00.1234567Z", "2026-02-30T15:00:00Z",
                "2026-05-20T15:00:00+24:00", "2026-05-20T15:00:60Z", ""):
        with pytest.raises(TimeFormatError) as exc:
            parse_rfc3339(bad)
        assert isinstance(exc.value, ValueError) and (not bad or bad not in str(exc.value))


def test_lenient_parse_of_go_state() -> None:
    assert parse_rfc3339_ns("2026-11-23t17:19:21.5z") == 1795454361_500000000
    assert parse_rfc3339_ns("2026-11-23 17:19:21.1234567891234Z") == 1795454361_123456789
    assert parse_rfc3339_ns("2026-11-24T02:49:21+09:30") == 1795454361_000000000
    assert parse_rfc3339_ns("2026-11-23T17:19:60Z") == 1795454400_000000000  # leap second: 17:20:00
    for bad in ("", "2026-11-23", "2026-13-01T00:00:00Z", "2026-11-23T17:19:21+24:00", 17, None):
        with pytest.raises(TimeFormatError):
            parse_rfc3339_ns(bad)


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-05-20T14:55:00Z", datetime(2026, 5, 20, 14, 55, tzinfo=UTC)),
    ("2026-05-20T14:55:00.1+00:00", datetime(2026, 5, 20, 14, 55, 0, 100000, tzinfo=UTC)),
    ("2026-05-20T14:55:00.12345-01:30",
     datetime(2026, 5, 20, 16, 25, 0, 123450, tzinfo=UTC)),
    ("2026-05-20T14:55:00+23:59", datetime(2026, 5, 19, 14, 56, tzinfo=UTC)),
    ("2026-05-20T14:55:00+05:75", datetime(2026, 5, 20, 8, 40, tzinfo=UTC)),  # minutes carry
])
def test_parse_rfc3339_instants(text: str, expected: datetime) -> None:
    got = parse_rfc3339(text)
    assert got == expected and got.utcoffset() is not None


@pytest.mark.parametrize("text", [
    "2026-05-20T14:55:00", "2026-05-20t14:55:00Z", "2026-05-20 14:55:00Z", "2026-05-20T14:55:00z",
    "2026-05-20T14:55:00.1234567Z", "2026-05-20T14:55:00+24:00", "2026-02-30T14:55:00Z",
    "2026-05-20T24:00:00Z", "2026-05-20T14:55:60Z", "２０２６-05-20T14:55:00Z", "",
])
def test_parse_rfc3339_refuses(text: str) -> None:
    with pytest.raises(TimeFormatError):
        parse_rfc3339(text)
