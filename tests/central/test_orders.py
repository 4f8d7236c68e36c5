"""Orders: signed per orders.md §2, delivered in checkins, completed per central-api.md §7.1."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent.central import CentralCommand
from agent.crypto import verify_ed25519
from agent.protocol.orders import order_complete_path

from .conftest import APPLIANCE, PREVIOUS_SEED, SITE, Api, FakeClock, sample_request


def verifies(pub_hex: str, order: dict[str, Any]) -> bool:
    return verify_ed25519(
        bytes.fromhex(pub_hex), order["signed_payload"].encode("utf-8"), bytes.fromhex(order["signature"])
    )


def py_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


async def orders_of(api: Api, key: str) -> list[dict[str, Any]]:
    reply = await api.checkin(key=key)
    assert reply.status == 200
    orders: list[dict[str, Any]] = reply.json()["pending_orders"]
    return orders


async def test_admin_order_signed_and_delivered_once(api: Api, known: str, cc: CentralCommand) -> None:
    order_id = cc.issue_order(
        SITE, "run_drift", {"mode": "app_discovery", "profile_id": "p-1"}, appliance_id=APPLIANCE
    )
    [order] = await orders_of(api, known)
    assert order["order_id"] == order_id and order_id.startswith("ORD-2026052015")
    assert order["order_type"] == "run_drift" and order["priority"] == 0
    assert verifies(cc.server_public_key, order)
    signed = json.loads(order["signed_payload"])
    assert order["signed_payload"] == py_json(signed)  # exactly json.dumps(sort_keys=True)
    assert signed == {
        "order_id": order_id,
        "order_type": "run_drift",
        "parameters": order["parameters"],
        "nonce": order["nonce"],
        "created_at": order["created_at"],
        "expires_at": order["expires_at"],
        "target_appliance_id": APPLIANCE,
    }
    assert signed["created_at"] == "2026-05-20T15:00:00+00:00"
    assert signed["expires_at"] == "2026-05-20T16:00:00+00:00"
    assert len(order["nonce"]) == 32
    tampered = dict(order, signed_payload=order["signed_payload"].replace("p-1", "p-2"))
    assert not verifies(cc.server_public_key, tampered)
    assert await orders_of(api, known) == []


async def test_order_bound_at_first_delivery(api: Api, key: str, cc: CentralCommand) -> None:
    cc.issue_order(SITE, "force_checkin", {"reason": "demo"})  # before the appliance exists
    [order] = await orders_of(api, key)
    assert json.loads(order["signed_payload"])["target_appliance_id"] == APPLIANCE
    assert verifies(cc.server_public_key, order)


async def test_non_ascii_parameters_signed_like_python(api: Api, known: str, cc: CentralCommand) -> None:
    cc.issue_order(
        SITE, "view_logs", {"lines": 50, "note": "Zürich ✓ 𝄞", "ratio": 1.0}, appliance_id=APPLIANCE
    )
    [order] = await orders_of(api, known)
    assert "\\u00fc" in order["signed_payload"] and "\\ud834\\udd1e" in order["signed_payload"]
    assert '"ratio": 1.0' in order["signed_payload"]
    assert order["parameters"]["note"] == "Zürich ✓ 𝄞"
    assert verifies(cc.server_public_key, order)


async def test_fleet_order_wire_form(api: Api, known: str, cc: CentralCommand) -> None:
    fleet_id = cc.issue_order(SITE, "nix_gc", {"older_than_days": 14, "optimise": True}, fleet=True)
    [order] = await orders_of(api, known)
    assert order["order_id"] == f"fleet::{fleet_id}::{APPLIANCE}"
    signed = json.loads(order["signed_payload"])
    assert signed["order_id"] == "0" and "target_appliance_id" not in signed
    assert signed["parameters"] == {"older_than_days": 14, "optimise": True, "site_id": SITE}
    assert order["parameters"] == {**signed["parameters"], "fleet_order_id": fleet_id}
    assert order["priority"] == 5
    assert order["created_at"] != signed["created_at"]  # row time, a few ms later
    assert verifies(cc.server_public_key, order)
    # re-delivered until completed
    assert [o["order_id"] for o in await orders_of(api, known)] == [order["order_id"]]


async def test_healing_order_wire_form(api: Api, known: str, cc: CentralCommand) -> None:
    order_id = cc.issue_order(
        SITE,
        "healing",
        {
            "runbook_id": "RB-WIN-FIREWALL-001",
            "hostname": "192.168.88.250",
            "check_type": "firewall_status",
            "incident_id": "inc-1",
        },
        appliance_id=APPLIANCE,
        ttl_s=900,
    )
    [order] = await orders_of(api, known)
    assert len(order_id) == 16 and order["order_type"] == "healing"
    assert order["runbook_id"] == "RB-WIN-FIREWALL-001" and order["priority"] == 10
    signed = json.loads(order["signed_payload"])
    assert signed == {
        "order_id": order_id,
        "runbook_id": "RB-WIN-FIREWALL-001",
        "parameters": {},
        "nonce": order["nonce"],
        "issued_at": order["created_at"],
        "expires_at": order["expires_at"],
        "target_appliance_id": APPLIANCE,
    }
    # sites.py: the stored hostname/check_type never reach the appliance; only incident_id
    assert order["parameters"] == {"incident_id": "inc-1"}
    assert verifies(cc.server_public_key, order)


async def test_healing_goes_to_every_appliance_of_site(api: Api, known: str, cc: CentralCommand) -> None:
    cc.issue_order(SITE, "healing", {"runbook_id": "RB-WIN-SEC-001"}, appliance_id=APPLIANCE)
    sibling = sample_request()
    sibling["mac_address"] = "52:54:00:00:00:02"
    sibling["all_mac_addresses"] = ["52:54:00:00:00:02"]
    got = (await api.checkin(sibling, key=known)).json()["pending_orders"]
    assert len(got) == 1 and json.loads(got[0]["signed_payload"])["target_appliance_id"] == APPLIANCE
    assert len(await orders_of(api, known)) == 1
    assert await orders_of(api, known) == []


async def test_expired_orders_not_delivered(
    api: Api, known: str, cc: CentralCommand, clock: FakeClock
) -> None:
    cc.issue_order(SITE, "force_checkin", {}, appliance_id=APPLIANCE, ttl_s=60)
    clock.advance(61)
    assert await orders_of(api, known) == []


async def test_order_listing_order(api: Api, known: str, cc: CentralCommand, clock: FakeClock) -> None:
    fleet = cc.issue_order(SITE, "sync_rules", {}, fleet=True)
    clock.advance(1)
    healing = cc.issue_order(SITE, "healing", {"runbook_id": "RB-WIN-SEC-001"}, appliance_id=APPLIANCE)
    low = cc.issue_order(SITE, "force_checkin", {}, appliance_id=APPLIANCE, priority=1)
    high = cc.issue_order(SITE, "sync_rules", {}, appliance_id=APPLIANCE, priority=9)
    ids = [o["order_id"] for o in await orders_of(api, known)]
    assert ids == [high, low, healing, f"fleet::{fleet}::{APPLIANCE}"]


async def test_rotation_keeps_previous(api: Api, known: str, cc: CentralCommand) -> None:
    old = cc.server_public_key
    cc.issue_order(SITE, "force_checkin", {}, appliance_id=APPLIANCE)
    cc.rotate_signing_key()
    data = (await api.checkin(key=known)).json()
    assert data["server_public_key"] != old
    assert data["server_public_keys"] == [data["server_public_key"], old]
    [order] = data["pending_orders"]  # signed before the rotation: verifies with the previous key
    assert verifies(old, order) and not verifies(data["server_public_key"], order)


async def test_configured_previous_key(tmp_path: Any, clock: FakeClock) -> None:
    from .conftest import SERVER_SEED

    cc = CentralCommand(
        tmp_path / "c.db", signing_seed=SERVER_SEED, previous_signing_seed=PREVIOUS_SEED, clock=clock
    )
    try:
        assert cc.server_public_keys == [
            "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8",
            "174553b456dddfc6908ecab1c101fe6ab21e2baa0617795b7d43a63482993fd5",
        ]
    finally:
        cc.close()
    reopened = CentralCommand(tmp_path / "c.db", clock=clock)  # keys persist in the database
    try:
        assert (
            reopened.server_public_keys[0]
            == "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
        )
    finally:
        reopened.close()


# ---------------------------------------------------------------------------- completion


async def complete(api: Api, key: str, order_id: str, body: dict[str, Any]) -> Any:
    return await api.post(order_complete_path(order_id), body, key=key)


async def test_completion_flow(api: Api, known: str, cc: CentralCommand, clock: FakeClock) -> None:
    order_id = cc.issue_order(SITE, "force_checkin", {}, appliance_id=APPLIANCE)
    await orders_of(api, known)
    clock.advance(2)
    reply = await complete(api, known, order_id, {"success": True, "result": {"status": "checkin_triggered"}})
    assert reply.status == 200
    data = reply.json()
    assert data["status"] == "completed" and data["order_id"] == order_id
    assert data["order_type"] == "force_checkin" and data["appliance_id"] == APPLIANCE
    assert data["execution_time_ms"] == pytest.approx(2000)
    assert data["completed_at"] == "2026-05-20T15:00:02+00:00"
    again = (await complete(api, known, order_id, {"success": True})).json()
    assert again["status"] == "already_completed"
    [rec] = cc.completions(SITE)
    assert rec["success"] is True and rec["result"] == {"status": "checkin_triggered"}


async def test_completion_failed_and_truncated(api: Api, known: str, cc: CentralCommand) -> None:
    order_id = cc.issue_order(SITE, "diagnostic", {"command": "uptime"}, appliance_id=APPLIANCE)
    reply = await complete(api, known, order_id, {"success": False, "error_message": "x" * 5000})
    assert reply.json()["status"] == "failed"
    assert len(cc.completions(SITE)[0]["error_message"]) == 4096


async def test_completion_errors(api: Api, known: str, cc: CentralCommand, clock: FakeClock) -> None:
    reply = await complete(api, known, "ORD-unknown", {"success": True})
    assert reply.status == 404 and reply.json() == {"detail": "Order ORD-unknown not found"}
    cc.create_site("other-site")
    other = cc.issue_order("other-site", "force_checkin", {})
    reply = await complete(api, known, other, {"success": True})
    assert reply.status == 403 and reply.json() == {"detail": "Order does not belong to this site"}
    stale = cc.issue_order(SITE, "force_checkin", {}, appliance_id=APPLIANCE, ttl_s=10)
    clock.advance(11)
    reply = await complete(api, known, stale, {"success": True})
    assert reply.status == 400 and "is in status 'expired', cannot complete" in reply.json()["detail"]
    reply = await complete(api, known, "ORD-x", {"success": "yes"})
    assert reply.status == 422
    reply = await api.post(order_complete_path("ORD-x"), {"success": True})
    assert reply.status == 401


async def test_completion_percent_decoded(api: Api, known: str, cc: CentralCommand) -> None:
    order_id = "weird id/with?chars%#"
    reply = await complete(api, known, order_id, {"success": True})
    assert reply.json() == {"detail": f"Order {order_id} not found"}


async def test_fleet_completion_and_redelivery(
    api: Api, known: str, cc: CentralCommand, clock: FakeClock
) -> None:
    fleet_id = cc.issue_order(SITE, "nix_gc", {"older_than_days": 7}, fleet=True, ttl_s=24 * 3600)
    [order] = await orders_of(api, known)
    reply = await complete(api, known, order["order_id"], {"success": False, "error_message": "boom"})
    assert reply.json()["status"] == "failed"
    assert await orders_of(api, known) == []
    assert (await complete(api, known, order["order_id"], {"success": True})).json()["status"] == (
        "already_completed"
    )
    clock.advance(3601)
    [again] = await orders_of(api, known)
    assert again["order_id"] == order["order_id"] and again["nonce"] == order["nonce"]
    assert (await complete(api, known, again["order_id"], {"success": True})).json()["status"] == "completed"
    assert await orders_of(api, known) == []
    assert [c["success"] for c in cc.completions(SITE)] == [False, True]
    assert cc.completions(SITE)[0]["base_order_id"] == fleet_id


async def test_full_response_parses_cleanly_for_the_agent(api: Api, known: str, cc: CentralCommand) -> None:
    from agent.protocol import parse_checkin_response

    from .test_envelope_rekey import LINUX, WINDOWS

    cc.set_credentials(SITE, WINDOWS, LINUX)
    cc.issue_order(SITE, "validate_credential", {"credential_id": "c-1"}, appliance_id=APPLIANCE)
    cc.issue_order(SITE, "nix_gc", {"older_than_days": 14}, fleet=True)
    cc.issue_order(
        SITE,
        "healing",
        {"runbook_id": "RB-WIN-SEC-001", "hostname": "h", "check_type": "c"},
        appliance_id=APPLIANCE,
    )
    reply = await api.checkin(key=known)
    parsed = parse_checkin_response(reply.body)
    assert parsed.issues == [] and parsed.malformed_orders == []
    assert len(parsed.response.pending_orders) == 3
    assert parsed.response.envelope is not None and parsed.response.assignment is not None
