"""Order verification: the agent's ``agent.orders.verify`` (orders.md §4 steps 1-12, without the
nonce store) on each of the large sample response's 20 signed orders, against the Go daemon's
per-order checks (bench/go/baseline/orders.go: map -> order, envelope key, ``VerifyOrder``,
host scope, expiry) on the same orders. A second Go row is ``VerifyOrder`` alone."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from agent.orders.verify import Context, verify
from agent.protocol.timefmt import parse_timestamp
from bench.conftest import GoBaseline
from bench.inputs import APPLIANCE_ID, NOW, SITE_ID, response_orders, server_keys

pytestmark = pytest.mark.benchmark(group="order verification")


def test_verify_orders(benchmark: Any, go: GoBaseline) -> None:
    orders = response_orders()
    ctx = Context.build(APPLIANCE_ID, SITE_ID, parse_timestamp(NOW), server_keys())
    assert [verify(o, ctx).verdict for o in orders] == ["accept"] * len(orders)

    cycle = itertools.cycle(orders)

    def verify_next() -> None:  # one order per call: short rounds, as many as the Go side's
        verify(next(cycle), ctx)

    benchmark(verify_next)
    go.attach(benchmark, "orders.verify", unit="order", fn=verify_next)
    benchmark.extra_info["go_signature_only"] = go.results.get("orders.verify_signature")
