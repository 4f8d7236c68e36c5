"""A poisoned order in a real checkin response fails alone: the checkin and the other orders go
on (an unpaired surrogate or ``1e400`` in one order used to fail every checkin while the server
kept sending it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.central import CentralCommand
from agent.protocol import CHECKIN_PATH

from . import agentparts
from .conftest import SITE


def _wire(row: dict[str, object]) -> dict[str, object]:
    """An admin order as the server sends it, from its signed payload."""
    signed = json.loads(str(row["signed_payload"]))
    return {"order_id": row["order_id"], "order_type": row["order_type"],
            "parameters": signed["parameters"], "priority": 0,
            "created_at": signed["created_at"], "expires_at": signed["expires_at"],
            "nonce": signed["nonce"], "signature": row["signature"],
            "signed_payload": row["signed_payload"]}


@pytest.mark.parametrize("poison", [b'"\\ud800"', b"1e400"])
async def test_poisoned_order_fails_alone(tmp_path: Path, cc: CentralCommand,
                                          poison: bytes) -> None:
    comp, orders = agentparts.build(
        agentparts.write_config(tmp_path, cc.url, SITE, cc.create_api_key(SITE)))
    try:
        assert await comp.run_once()
        aid = comp.shared.appliance_id
        bad_id = cc.issue_order(SITE, "sensor_status", {}, appliance_id=aid)
        good_id = cc.issue_order(SITE, "sensor_status", {}, appliance_id=aid)
        rows = {r["order_id"]: r for r in cc.orders(SITE)}
        bad = {**_wire(rows[bad_id]), "parameters": {"x": "@POISON@"}}
        body = json.dumps({"status": "ok", "appliance_id": aid, "server_time": None,
                           "server_public_key": cc.server_public_key,
                           "pending_orders": [bad, _wire(rows[good_id])]}).encode()
        # The server keeps sending it (three checkins); each one succeeds.
        cc.inject_fault(CHECKIN_PATH, status=200, count=3,
                        body=body.replace(b'"@POISON@"', poison))
        for _ in range(3):
            assert await comp.run_once()
            await orders.run_once()
        done = {c["order_id"]: c for c in cc.completions(SITE)}
        assert done[good_id]["success"] is True
        assert done[bad_id]["success"] is False
        assert done[bad_id]["error_message"].startswith("malformed: ")
        assert orders.worker.stats.executed == 1
    finally:
        await orders.close()
        await comp.close()
