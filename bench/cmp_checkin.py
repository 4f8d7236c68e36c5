"""Checkin encode/decode: msp-agent (msgspec) vs the Go daemon's encoding/json (go-baseline.md §3).

Operations, on the same compact sample bytes for both sides:

* ``encode_checkin_request[_large]``: the agent's real path, ``BufferPool.encode`` into a reused
  buffer (Go: ``json.Marshal`` of the request struct).
* ``decode_checkin_response[_large]``: the agent's real path, ``parse_checkin_response`` (strict
  fast path of the tolerant decoder) into typed Structs (Go: ``json.Unmarshal`` into structs with
  ``map[string]interface{}`` order parameters).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from agent.protocol import (
    BufferPool,
    decode_checkin_request,
    parse_checkin_response,
)
from common import SHARED, Row, run_go, time_ns

SAMPLES = SHARED / "samples"


def _compact(name: str) -> bytes:
    data = json.loads((SAMPLES / name).read_text(encoding="utf-8"))
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def _python_ops(min_time: float, repeat: int) -> dict[str, tuple[float, int]]:
    """ns/op and input size for each operation."""
    pool = BufferPool()
    out: dict[str, tuple[float, int]] = {}

    for op, name in (
        ("encode_checkin_request", "checkin_request.json"),
        ("encode_checkin_request_large", "checkin_request_large.json"),
    ):
        body = _compact(name)
        req = decode_checkin_request(body)
        with pool.encode(req) as view:
            assert bytes(view) == body, f"{name}: encoding is not byte-exact"

        def encode(req: object = req) -> None:
            with pool.encode(req):
                pass

        out[op] = (time_ns(encode, min_time=min_time, repeat=repeat), len(body))

    for op, name in (
        ("decode_checkin_response", "checkin_response.json"),
        ("decode_checkin_response_large", "checkin_response_large.json"),
    ):
        body = _compact(name)
        parsed = parse_checkin_response(body)
        assert not parsed.issues and parsed.response.pending_orders

        def decode(body: bytes = body) -> None:
            parse_checkin_response(body)

        out[op] = (time_ns(decode, min_time=min_time, repeat=repeat), len(body))
    return out


def rows(quick: bool) -> list[Row]:
    min_time, repeat = (0.1, 3) if quick else (0.5, 5)
    py = _python_ops(min_time, repeat)
    go_args = [str(SHARED.resolve())] + (["-quick"] if quick else [])
    go = run_go("checkin", *go_args)
    result: list[Row] = []
    for op, (ns, size) in py.items():
        g = go.get(op)
        note = ""
        if g is not None and int(g.get("bytes", size)) != size:
            note = f"input size differs (go {int(g['bytes'])} B)"
        result.append(
            Row(
                op=f"checkin.{op}",
                python_ns=ns,
                go_ns=g["ns_per_op"] if g else None,
                mb=size / 1e6,
                note=note,
            )
        )
    return result


if __name__ == "__main__":
    from common import format_table

    print(format_table(rows(quick="--quick" in sys.argv)))
