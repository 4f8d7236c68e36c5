"""Checkin codec: the agent's encode (``BufferPool.encode`` into a reused buffer) and decode
(``parse_checkin_response``, the strict fast path of the tolerant decoder, into typed Structs),
against the Go daemon's ``json.Marshal`` / ``json.Unmarshal`` (bench/go/baseline/checkin.go)."""

from __future__ import annotations

from typing import Any

import pytest

from agent.protocol import BufferPool, decode_checkin_request, parse_checkin_response
from bench.conftest import GoBaseline
from bench.inputs import compact

pytestmark = pytest.mark.benchmark(group="checkin codec")


@pytest.mark.parametrize(("sample", "op"), [
    ("checkin_request.json", "checkin.encode_request"),
    ("checkin_request_large.json", "checkin.encode_request_large"),
], ids=["typical", "large"])
def test_encode_request(benchmark: Any, go: GoBaseline, sample: str, op: str) -> None:
    body = compact(sample)
    req = decode_checkin_request(body)
    pool = BufferPool()
    with pool.encode(req) as view:
        assert bytes(view) == body  # byte-exact: the same bytes the sample holds

    def encode() -> None:
        with pool.encode(req):
            pass

    benchmark(encode)
    go.attach(benchmark, op, fn=encode)
    benchmark.extra_info["bytes"] = len(body)


@pytest.mark.parametrize(("sample", "op"), [
    ("checkin_response.json", "checkin.decode_response"),
    ("checkin_response_large.json", "checkin.decode_response_large"),
], ids=["typical", "large"])
def test_decode_response(benchmark: Any, go: GoBaseline, sample: str, op: str) -> None:
    body = compact(sample)
    parsed = parse_checkin_response(body)
    assert not parsed.issues and parsed.response.pending_orders
    benchmark(parse_checkin_response, body)
    go.attach(benchmark, op, fn=lambda: parse_checkin_response(body))
    benchmark.extra_info["bytes"] = len(body)
