"""Every "must" order type issued by the local Central Command, delivered in a real checkin,
verified, executed and completed by the agent's order worker."""

from __future__ import annotations

from pathlib import Path

from agent.central import CentralCommand
from agent.central.ordertypes import MUST_ORDER_TYPES
from agent.orders.registry import MUST_TYPES

from . import agentparts
from .conftest import SITE

# Types whose dependency does not exist here: they answer a failure saying so (nix_gc: no
# privileged helper).
UNAVAILABLE = {"nix_gc", "run_drift", "sync_rules", "healing", "validate_credential", "restart_agent",
               "reprovision",
               # no hub, no signed workstation target here: tests/orders/test_deploy.py
               "configure_workstation_agent", "remove_agent",
               # no privileged helper, no release key, no reachable download host here:
               # tests/priv runs them for real
               "nixos_rebuild", "update_daemon", "update_agent"}
# Depend on host tools (journalctl, nix): either outcome, but always a completion.
HOST_DEPENDENT = {"view_logs"}


def test_catalog_covers_exactly_the_must_types() -> None:
    assert set(MUST_ORDER_TYPES) == set(MUST_TYPES)


async def test_every_must_type_end_to_end(tmp_path: Path, cc: CentralCommand) -> None:
    comp, orders = agentparts.build(
        agentparts.write_config(tmp_path, cc.url, SITE, cc.create_api_key(SITE)))
    try:
        assert await comp.run_once()
        for order_type in MUST_TYPES:
            cc.issue_sample_order(SITE, order_type)
        assert await comp.run_once()
        await orders.run_once()
        done = {c["order_type"]: c for c in cc.completions(SITE)}
        assert set(done) == set(MUST_TYPES)
        for order_type, c in done.items():
            if order_type in HOST_DEPENDENT:
                assert c["success"] or c["error_message"]
            elif order_type in UNAVAILABLE:
                assert not c["success"] and c["error_message"], order_type
            else:
                assert c["success"], (order_type, c["error_message"])
        assert done["healing"]["result"]["status"] == "blocked"
        assert orders.worker.stats.verified == len(MUST_TYPES)
        assert orders.status()["completion_outbox_pending"] == 0
        # The next checkin re-delivers the fleet orders until the server saw them complete;
        # nothing is executed twice.
        assert await comp.run_once()
        await orders.run_once()
        assert orders.worker.stats.executed == len(MUST_TYPES)
    finally:
        await orders.close()
        await comp.close()


async def test_orders_are_recorded_at_once_and_run_after_the_response_is_applied(
        tmp_path: Path, cc: CentralCommand) -> None:
    """The inbox holds the orders before the rest of the response is applied (a key rotation in
    the same response must be trusted when they are verified), and the worker waits for it."""
    comp, orders = agentparts.build(
        agentparts.write_config(tmp_path, cc.url, SITE, cc.create_api_key(SITE)))
    seen: list[tuple[int, int]] = []
    directives = comp._directives

    def spy(r: object) -> None:  # a step applied after the orders were handed over
        seen.append((len(orders.worker.inbox.open), orders.worker.stats.executed))
        directives(r)

    comp._directives = spy  # type: ignore[method-assign]
    try:
        assert await comp.run_once()
        cc.issue_order(SITE, "force_checkin", {})
        assert await comp.run_once()
        assert seen[-1] == (1, 0)  # recorded durably, not run yet
        assert orders.worker.queue
        await orders.run_once()
        assert orders.worker.stats.executed == 1 and not orders.worker.inbox.open
        assert [c["order_type"] for c in cc.completions(SITE)] == ["force_checkin"]
    finally:
        await orders.close()
        await comp.close()


async def test_orders_wait_while_their_checkin_is_being_applied(tmp_path: Path,
                                                                cc: CentralCommand) -> None:
    comp, orders = agentparts.build(
        agentparts.write_config(tmp_path, cc.url, SITE, cc.create_api_key(SITE)))
    try:
        assert await comp.run_once()
        cc.issue_order(SITE, "force_checkin", {})
        executed_before_success: list[object] = []
        real_apply = comp.apply

        async def apply_then_run(parsed, facts):  # type: ignore[no-untyped-def]
            await real_apply(parsed, facts)
            # CheckinSucceeded has not been published yet: the order job leaves them queued.
            await orders.run_once()
            executed_before_success.append(orders.worker.stats.executed)

        comp.apply = apply_then_run  # type: ignore[method-assign]
        assert await comp.run_once()
        assert executed_before_success == [0]
        await orders.run_once()
        assert orders.worker.stats.executed == 1
    finally:
        await orders.close()
        await comp.close()
