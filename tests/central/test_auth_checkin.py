"""Bearer auth (central-api.md §4.2), checkin validation and response shape (§6)."""

from __future__ import annotations

from datetime import datetime

import pytest

from agent.central import CentralCommand
from agent.protocol import decode_checkin_response
from agent.protocol.auth import AuthFailureKind, classify_401

from .conftest import APPLIANCE, MAC, SITE, Api, FakeClock, compact, sample_request


async def test_sample_request_accepted(api: Api, key: str, cc: CentralCommand) -> None:
    reply = await api.checkin(key=key)
    assert reply.status == 200
    resp = decode_checkin_response(reply.body)
    assert resp.status == "ok"
    assert resp.appliance_id == APPLIANCE
    assert resp.server_time == "2026-05-20T15:00:00+00:00"
    assert resp.rotated_api_key is None
    assert resp.server_public_key == cc.server_public_key
    assert resp.server_public_keys == [cc.server_public_key]
    assert resp.install_session is not True
    assert b'"install_session"' not in reply.body
    assert reply.headers["Content-Type"].startswith("application/json")
    [rec] = cc.checkins(SITE)
    assert rec["http_status"] == 200 and rec["appliance_id"] == APPLIANCE
    assert rec["hostname"] == "msp-appliance" and rec["agent_version"] == "1.0.0"


async def test_server_time_is_python_isoformat(api: Api, key: str, clock: FakeClock) -> None:
    clock.now = 1779289200.412345
    resp = (await api.checkin(key=key, sign_now=1779289200)).json()
    assert resp["server_time"] == "2026-05-20T15:00:00.412345+00:00"
    assert datetime.fromisoformat(resp["server_time"]).timestamp() == pytest.approx(clock.now)


async def test_body_site_is_replaced_by_key_site(api: Api, cc: CentralCommand) -> None:
    cc.create_site("other-site")
    other_key = cc.create_api_key("other-site")
    body = sample_request()
    body["site_id"] = SITE  # the body names another site: the key wins
    resp = (await api.checkin(body, key=other_key)).json()
    assert resp["appliance_id"] == f"other-site-{MAC}"
    assert [c["appliance_id"] for c in cc.checkins("other-site")] == [f"other-site-{MAC}"]
    assert cc.checkins(SITE) == []


@pytest.mark.parametrize("form", [MAC.lower(), MAC.replace(":", "-"), MAC.replace(":", "").lower()])
async def test_mac_is_normalized_in_appliance_id(api: Api, key: str, form: str) -> None:
    """sites.py normalize_mac: dash and bare forms become upper case with colons."""
    body = sample_request()
    body["mac_address"] = form
    assert (await api.checkin(body, key=key)).json()["appliance_id"] == APPLIANCE


def test_normalize_mac_examples() -> None:
    from agent.central.util import normalize_mac

    for form in ("84-3A-5B-91-B6-61", "843a5b91b661", "84:3a:5b:91:b6:61", "843a.5b91.b661"):
        assert normalize_mac(form) == "84:3A:5B:91:B6:61"


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "Missing or invalid Authorization header"),
        ({"Authorization": "Basic abc"}, "Missing or invalid Authorization header"),
        ({"Authorization": "Bearer "}, "Empty API key"),
        ({"Authorization": "Bearer nope-not-a-key-000000000000000000000000000"}, "Invalid API key"),
    ],
)
async def test_401_bodies(api: Api, headers: dict[str, str], detail: str) -> None:
    reply = await api.request("POST", "/api/appliances/checkin", compact(sample_request()), headers=headers)
    assert reply.status == 401
    assert reply.json() == {"detail": detail}


async def test_unknown_key_for_identified_appliance_is_key_mismatch(api: Api, known: str) -> None:
    reply = await api.checkin(key="x" * 43)
    assert reply.status == 401
    assert reply.json() == {"detail": {"error": "API key mismatch", "code": "AUTH_KEY_MISMATCH"}}
    assert classify_401(reply.body).counts_towards_rekey


async def test_deactivated_key(api: Api, known: str, cc: CentralCommand) -> None:
    cc.deactivate_api_key(known)
    reply = await api.checkin(key=known)
    assert reply.status == 401
    assert reply.json()["detail"]["code"] == "AUTH_KEY_MISMATCH"


async def test_deactivated_key_unidentified_appliance(api: Api, key: str, cc: CentralCommand) -> None:
    cc.deactivate_api_key(key)
    reply = await api.checkin(key=key)  # this appliance never checked in
    assert reply.json() == {"detail": "Invalid API key"}


async def test_revoked_key(api: Api, known: str, cc: CentralCommand) -> None:
    cc.revoke_api_key(known)
    reply = await api.checkin(key=known)
    assert reply.status == 401
    assert reply.json() == {"detail": "bearer_revoked"}
    failure = classify_401(reply.body)
    assert failure.kind is AuthFailureKind.BEARER_REVOKED and not failure.counts_towards_rekey


def test_api_key_format(cc: CentralCommand) -> None:
    key = cc.create_api_key(SITE)
    assert len(key) == 43
    assert set(key) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert key not in cc._db.path.read_bytes().decode("latin-1")


@pytest.mark.parametrize(
    ("field", "value", "loc"),
    [
        ("hostname", 123, ["body", "hostname"]),
        ("uptime_seconds", "86400", ["body", "uptime_seconds"]),
        ("has_local_credentials", "false", ["body", "has_local_credentials"]),
        ("ip_addresses", "192.168.88.50", ["body", "ip_addresses"]),
        ("heartbeat_timestamp", "1779289200", ["body", "heartbeat_timestamp"]),
        ("daemon_health", [], ["body", "daemon_health"]),
    ],
)
async def test_wrong_type_is_422(api: Api, key: str, field: str, value: object, loc: list[object]) -> None:
    body = sample_request()
    body[field] = value
    reply = await api.checkin(body, key=key)
    assert reply.status == 422
    [issue] = reply.json()["detail"]
    assert issue["loc"] == loc
    assert {"type", "msg"} <= issue.keys()


async def test_nested_wrong_type_path(api: Api, key: str) -> None:
    body = sample_request()
    body["connected_agents"][1]["drift_count"] = "2"
    [issue] = (await api.checkin(body, key=key)).json()["detail"]
    assert issue["loc"] == ["body", "connected_agents", 1, "drift_count"]
    assert issue["type"] == "int_type"


async def test_missing_required_field(api: Api, key: str) -> None:
    body = sample_request()
    del body["mac_address"]
    reply = await api.checkin(body, key=key)
    assert reply.status == 422
    assert reply.json()["detail"][0] == {
        "type": "missing",
        "loc": ["body", "mac_address"],
        "msg": "Field required",
    }


async def test_invalid_json_and_non_object(api: Api, key: str) -> None:
    reply = await api.checkin(b"{nope", key=key)
    assert reply.status == 422 and reply.json()["detail"][0]["type"] == "json_invalid"
    reply = await api.checkin(b"[]", key=key)
    assert reply.status == 422


async def test_unknown_fields_ignored(api: Api, key: str) -> None:
    body = sample_request()
    body["bundle_hashes"] = ["x"]
    body["something_new"] = {"a": 1}
    assert (await api.checkin(body, key=key)).status == 200


async def test_too_many_ips_is_422(api: Api, key: str) -> None:
    body = sample_request()
    body["ip_addresses"] = [f"10.0.0.{i}" for i in range(101)]
    reply = await api.checkin(body, key=key)
    assert reply.status == 422
    assert reply.json()["detail"][0]["loc"] == ["body", "ip_addresses"]


async def test_long_agent_version_breaks_insert(api: Api, key: str) -> None:
    body = sample_request()
    body["agent_version"] = "1.0.0-" + "x" * 20
    reply = await api.checkin(body, key=key)
    assert reply.status == 500
    assert reply.body == b"Internal Server Error"
    assert reply.headers["Content-Type"].startswith("text/plain")


async def test_large_sample_request_accepted(api: Api, key: str, cc: CentralCommand) -> None:
    from .conftest import load_shared

    body = load_shared("samples/checkin_request_large.json")
    reply = await api.checkin(body, key=key)
    assert reply.status == 200
    assert len(cc.witness_attestations(SITE)) == 10


async def test_live_usb_quirks(api: Api, key: str, cc: CentralCommand) -> None:
    cc.issue_order(SITE, "force_checkin", {})
    cc.set_credentials(SITE, [{"hostname": "dc1", "username": "u", "password": "p"}], [])
    body = sample_request()
    body["boot_source"] = "live_usb"
    reply = await api.checkin(body, key=key)
    assert reply.status == 200
    data = reply.json()
    assert data["appliance_id"] is None
    assert data["server_public_key"] is None
    assert data["reconcile_plan"] is None
    for name in (
        "server_public_keys",
        "pending_orders",
        "windows_targets",
        "linux_targets",
        "pending_deploys",
        "peer_bundle_hashes",
        "mesh_peers",
    ):
        assert data[name] == [], name
    assert data["encrypted_credentials"] == []
    assert data["target_assignments"] == []
    assert data["install_session"] is True
    resp = decode_checkin_response(reply.body)
    assert resp.envelope is None and resp.assignment is None
    assert cc.records("install_session", SITE)[0]["mac_address"] == MAC
    # the order was not consumed by the install session
    assert (await api.checkin(key=key)).json()["pending_orders"] != []


async def test_directives_and_one_shot_triggers(api: Api, key: str, cc: CentralCommand) -> None:
    cc.set_directives(
        SITE,
        disabled_checks=["screen_lock_policy"],
        maintenance_until="2026-05-20T16:00:00Z",
        l2_confidence_threshold=0.9,
        trigger_immediate_scan=True,
    )
    first = (await api.checkin(key=key)).json()
    assert first["disabled_checks"] == ["screen_lock_policy"]
    assert first["maintenance_until"] == "2026-05-20T16:00:00Z"
    assert first["l2_confidence_threshold"] == 0.9
    assert first["trigger_immediate_scan"] is True
    second = (await api.checkin(key=key)).json()
    assert second["trigger_immediate_scan"] is False
    assert second["disabled_checks"] == ["screen_lock_policy"]
    with pytest.raises(ValueError, match="unknown directive"):
        cc.set_directives(SITE, not_a_directive=1)


async def test_billing_hold_sends_no_orders(api: Api, key: str, cc: CentralCommand) -> None:
    cc.issue_order(SITE, "force_checkin", {})
    cc.set_directives(SITE, billing_hold=True)
    data = (await api.checkin(key=key)).json()
    assert data["billing_hold"] is True and data["pending_orders"] == []
    cc.set_directives(SITE, billing_hold=False)
    assert len((await api.checkin(key=key)).json()["pending_orders"]) == 1


async def test_target_assignment_and_empty_quirk(api: Api, key: str, cc: CentralCommand) -> None:
    cc.set_credentials(
        SITE,
        [{"hostname": "192.168.88.250", "username": "u", "password": "p"}],
        [{"hostname": "192.168.88.20", "port": 22, "username": "root"}],
    )
    data = (await api.checkin(key=key)).json()
    ta = data["target_assignments"]
    assert sorted(ta["your_targets"]) == ["192.168.88.20", "192.168.88.250"]
    assert ta["ring_members"] == ["525400ABCDEF"]
    cc.set_directives(SITE, target_assignments={})
    assert (await api.checkin(key=key)).json()["target_assignments"] == {}


async def test_reconcile_plan_signed(api: Api, key: str, cc: CentralCommand) -> None:
    import json as _json

    from agent.crypto import verify_ed25519

    body = sample_request()
    body["reconcile_needed"] = True
    body["reconcile_signals"] = ["boot_counter_regression", "generation_mismatch"]
    plan = (await api.checkin(body, key=key)).json()["reconcile_plan"]
    signed = _json.loads(plan["signed_payload"])
    assert signed["event_id"] == plan["plan_id"] and signed["appliance_id"] == APPLIANCE
    assert signed["generation_uuid"] == plan["new_generation_uuid"]
    assert verify_ed25519(
        bytes.fromhex(cc.server_public_key),
        plan["signed_payload"].encode(),
        bytes.fromhex(plan["signature_hex"]),
    )
    again = (await api.checkin(body, key=key)).json()["reconcile_plan"]
    assert again["plan_id"] == plan["plan_id"]
    ack = await api.post(
        "/api/appliances/reconcile/ack",
        {"event_id": plan["plan_id"], "success": True, "post_boot_counter": 15},
        key=key,
    )
    assert ack.status == 200 and ack.json() == {"status": "recorded"}
    assert (await api.checkin(body, key=key)).json()["reconcile_plan"]["plan_id"] != plan["plan_id"]
