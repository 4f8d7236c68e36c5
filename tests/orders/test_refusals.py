"""Refusals are answered once per order, across restarts; a fleet order that ran and failed is
retried as orders.md §4.4 says (docs/server-compat.md)."""

from __future__ import annotations

from pathlib import Path

from tests.fakeclock import FakeClock

from agent.orders.refusals import FILE_NAME

from . import signer
from .test_worker import T0, Server, make, run

HOUR = 3600.0


async def test_a_refused_fleet_order_is_answered_once_across_restarts(tmp_path: Path) -> None:
    server, clock = Server(), FakeClock(T0)
    unknown = signer.fleet("frobnicate_everything", {})  # the server re-sends failed fleet orders
    w = make(tmp_path, server, clock)
    await run(w, unknown)
    [body] = server.bodies(unknown["order_id"])
    assert body["success"] is False and body["error_message"].startswith("unknown_order_type")
    assert (tmp_path / FILE_NAME).is_file()
    for _ in range(3):  # redelivered after an hour, each time by a freshly started agent
        clock.advance(HOUR + 1)
        w.close()
        w = make(tmp_path, server, clock)
        await run(w, unknown)
    assert len(server.bodies(unknown["order_id"])) == 1
    assert w.stats.rejected == {"unknown_order_type": 1}  # still re-checked every time
    w.close()


async def test_a_different_refusal_of_the_same_order_is_answered(tmp_path: Path) -> None:
    server, clock = Server(), FakeClock(T0)
    order = signer.fleet("frobnicate_everything", {})
    w = make(tmp_path, server, clock)
    await run(w, order)
    tampered = {**order, "signature": "0" * 128}
    await run(w, tampered)
    errors = [b["error_message"].split(":")[0] for b in server.bodies(order["order_id"])]
    assert errors == ["unknown_order_type", "bad_signature"]
    w.close()


async def test_a_fleet_order_that_ran_and_failed_is_retried_hourly(tmp_path: Path) -> None:
    server, clock = Server(), FakeClock(T0)
    failing = signer.fleet("deploy_sensor", {})  # runs, fails: "hostname is required"
    w = make(tmp_path, server, clock)
    await run(w, failing)
    clock.advance(60)
    await run(w, failing)  # within the hour: a duplicate, not run
    assert w.stats.executed == 1 and len(server.bodies(failing["order_id"])) == 1
    clock.advance(HOUR)
    w.close()
    w = make(tmp_path, server, clock)  # after a restart too
    await run(w, failing)
    bodies = server.bodies(failing["order_id"])
    assert w.stats.executed == 1 and len(bodies) == 2  # run again once (orders.md §4.4)
    assert all(b["error_message"] == "hostname is required" for b in bodies)
    w.close()
