"""Every "must" order type issued by the local Central Command, delivered in a real checkin,
verified, executed and completed by the agent's order worker."""

from __future__ import annotations

from pathlib import Path

from agent.central import CentralCommand
from agent.central.ordertypes import MUST_ORDER_TYPES
from agent.orders.registry import MUST_TYPES

from . import agentparts
from .conftest import SITE

# Types whose dependency does not exist in this build: they answer a failure saying so.
UNAVAILABLE = {"run_drift", "sync_rules", "healing", "validate_credential", "restart_agent",
               "reprovision"}
# Depend on host tools (journalctl, nix): either outcome, but always a completion.
HOST_DEPENDENT = {"view_logs", "nix_gc"}


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
