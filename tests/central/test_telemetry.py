"""Log ingest, security events, incidents, L2 planner, executions, devices, mesh ack, watchdog
bootstrap, rule sync (central-api.md §7)."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

from agent.central import CentralCommand
from agent.crypto import verify_ed25519
from agent.protocol.codec import decode
from agent.protocol.l2 import L2Plan
from agent.protocol.logs import LogEntry, LogIngest, encode_log_ingest_gzip
from agent.protocol.rules import RuleBundle, rules_sync_path

from .conftest import APPLIANCE, SITE, Api, FakeClock

GZIP = {"Content-Encoding": "gzip"}


async def test_log_ingest_gzip(api: Api, key: str, cc: CentralCommand) -> None:
    body = LogIngest(
        site_id=SITE,
        hostname="msp-appliance",
        batch=[
            LogEntry(ts="2026-05-20T14:59:00Z", unit="msp-agent", pri=6, msg="hello", boot="b" * 80),
            LogEntry(ts="2026-05-20T14:59:01Z", unit="sshd", pri=4, msg="x" * 9000),
        ],
    )
    reply = await api.post("/api/logs/ingest", encode_log_ingest_gzip(body), key=key, headers=GZIP)
    assert reply.status == 200 and reply.json() == {"accepted": 2, "dropped": 0}
    [rec] = cc.logs(SITE)
    assert rec["hostname"] == "msp-appliance"
    assert len(rec["entries"][0]["boot"]) == 64 and len(rec["entries"][1]["msg"]) == 8192


async def test_log_ingest_drops_bad_entries(api: Api, key: str) -> None:
    batch: list[Any] = [
        {"ts": "2026-05-20T14:59:00Z", "unit": "u", "pri": 6, "msg": "ok"},
        {"unit": "u", "pri": 6, "msg": "no ts"},
        {"ts": "2026-05-20T14:59:00Z", "unit": "u", "pri": 6},
        {"ts": "2026-05-20T14:59:00Z", "unit": "u", "pri": 9, "msg": "bad pri"},
        "not an object",
    ]
    raw = gzip.compress(json.dumps({"site_id": SITE, "hostname": "h", "batch": batch}).encode())
    reply = await api.post("/api/logs/ingest", raw, key=key, headers=GZIP)
    assert reply.json() == {"accepted": 1, "dropped": 4}


async def test_log_ingest_errors(api: Api, key: str, cc: CentralCommand) -> None:
    reply = await api.post("/api/logs/ingest", b"\x1f\x8bnot really gzip", key=key, headers=GZIP)
    assert reply.status == 400 and reply.json() == {"detail": "Invalid gzip payload"}
    reply = await api.post("/api/logs/ingest", gzip.compress(b"{nope"), key=key, headers=GZIP)
    assert reply.status == 400 and reply.json() == {"detail": "Invalid JSON"}
    no_site = gzip.compress(json.dumps({"hostname": "h", "batch": []}).encode())
    reply = await api.post("/api/logs/ingest", no_site, key=key, headers=GZIP)
    assert reply.status == 401 and reply.json() == {"detail": "Missing site_id in request body"}
    cc.create_site("other-site")
    wrong = gzip.compress(json.dumps({"site_id": "other-site", "hostname": "h", "batch": []}).encode())
    reply = await api.post("/api/logs/ingest", wrong, key=key, headers=GZIP)
    assert reply.status == 401 and reply.json() == {"detail": "Invalid API key for site"}
    bomb = gzip.compress(b" " * (11 * 1024 * 1024))
    reply = await api.post("/api/logs/ingest", bomb, key=key, headers=GZIP)
    assert reply.status == 413


async def test_security_events(api: Api, key: str, cc: CentralCommand) -> None:
    ev = {"event_id": 4625, "timestamp": "2026-05-20T14:59:00Z", "hostname": "WS1", "message": "failed"}
    reply = await api.post("/api/security-events/archive", {"site_id": SITE, "events": [ev]}, key=key)
    assert reply.json() == {"status": "ok", "archived": 1}
    assert cc.records("security_events", SITE)[0]["events"][0]["category"] == "authentication"
    reply = await api.post("/api/security-events/archive", {"site_id": SITE, "events": [ev] * 501}, key=key)
    assert reply.status == 400
    reply = await api.post("/api/security-events/archive", {"events": [ev]}, key=key)
    assert reply.status == 401


async def test_incident_lifecycle(api: Api, key: str, cc: CentralCommand) -> None:
    report = {
        "site_id": SITE,
        "host_id": "192.168.88.250",
        "incident_type": "firewall_status",
        "severity": "high",
        "check_type": "firewall_status",
        "details": {"profile": "domain"},
    }
    first = (await api.post("/incidents", report, key=key)).json()
    assert first["status"] == "received" and first["incident_id"]
    assert (await api.post("/incidents", report, key=key)).json() == {**first, "status": "deduplicated"}
    resolve = {
        "site_id": SITE,
        "host_id": "192.168.88.250",
        "check_type": "firewall_status",
        "resolution_tier": "L1",
        "runbook_id": "L1-FW-002",
        "status": "resolved",
    }
    assert (await api.post("/incidents/resolve", resolve, key=key)).json()["status"] == "resolved"
    again = (await api.post("/incidents", report, key=key)).json()
    assert again["status"] == "reopened" and again["incident_id"] == first["incident_id"]
    [inc] = cc.incidents(SITE)
    assert inc["status"] == "open"
    reply = await api.post("/incidents", {**report, "severity": "urgent"}, key=key)
    assert reply.status == 422
    reply = await api.post("/incidents", {**report, "site_id": "other"}, key=key)
    assert reply.status == 403


async def test_incident_suppressed_in_maintenance(api: Api, key: str, cc: CentralCommand) -> None:
    cc.set_directives(SITE, maintenance_until="2026-05-20T16:00:00+00:00")
    report = {"site_id": SITE, "host_id": "h", "incident_type": "t", "severity": "low"}
    data = (await api.post("/incidents", report, key=key)).json()
    assert data["status"] == "suppressed_maintenance" and data["maintenance_until"]


async def test_l2_planner_is_deterministic(api: Api, key: str, cc: CentralCommand) -> None:
    req = {
        "incident_id": "i-1",
        "site_id": SITE,
        "host_id": "192.168.88.20",
        "incident_type": "drift",
        "raw_data": {"check_type": "linux_ntp_sync"},
    }
    first = await api.post("/api/agent/l2/plan", req, key=key)
    second = await api.post("/api/agent/l2/plan", req, key=key)
    assert first.status == 200 and first.body == second.body
    plan = decode(first.body, L2Plan)
    assert plan.runbook_id == "LIN-NTP-001" and plan.recommended_action == "execute_runbook"
    assert plan.confidence == pytest.approx(0.91) and plan.actionable
    unknown = decode(
        (
            await api.post("/api/agent/l2/plan", {**req, "raw_data": {}, "incident_type": "weird"}, key=key)
        ).body,
        L2Plan,
    )
    assert unknown.escalate_to_l3 and not unknown.actionable and unknown.runbook_id is None
    risky = decode(
        (
            await api.post(
                "/api/agent/l2/plan", {**req, "raw_data": None, "incident_type": "rogue_admin_users"}, key=key
            )
        ).body,
        L2Plan,
    )
    assert risky.requires_approval
    assert len(cc.records("l2", SITE)) == 4
    assert (await api.post("/api/agent/l2/plan", {**req, "site_id": "x"}, key=key)).status == 403


async def test_executions(api: Api, key: str, cc: CentralCommand) -> None:
    report = {
        "site_id": SITE,
        "reported_at": "2026-05-20T15:00:00Z",
        "execution": {
            "execution_id": "e-1",
            "incident_id": "i-1",
            "runbook_id": "RB-WIN-SEC-001",
            "hostname": "h",
            "incident_type": "firewall_status",
            "duration_seconds": 1.5,
            "success": True,
            "status": "success",
            "confidence": 1.0,
            "resolution_level": "L1",
            "appliance_id": APPLIANCE,
        },
    }
    reply = await api.post("/api/agent/executions", report, key=key)
    assert reply.status == 200
    assert cc.executions(SITE)[0]["execution"]["execution_id"] == "e-1"
    del report["execution"]["success"]  # type: ignore[attr-defined]
    assert (await api.post("/api/agent/executions", report, key=key)).status == 422


async def test_devices_and_mesh_ack(api: Api, known: str, cc: CentralCommand) -> None:
    dev = {
        "device_id": "AA:BB:CC:DD:EE:FF",
        "ip_address": "192.168.88.61",
        "first_seen_at": "2026-05-20T14:00:00Z",
        "last_seen_at": "2026-05-20T15:00:00Z",
    }
    body = {
        "appliance_id": APPLIANCE,
        "site_id": SITE,
        "devices": [dev],
        "total_devices": 1,
        "monitored_devices": 1,
        "excluded_devices": 0,
        "medical_devices": 0,
        "compliance_rate": 100.0,
    }
    data = (await api.post("/api/devices/sync", body, key=known)).json()
    assert data["devices_received"] == 1 and data["devices_created"] == 1
    data = (await api.post("/api/devices/sync", body, key=known)).json()
    assert data["devices_updated"] == 1 and data["devices_created"] == 0
    ack = {
        "site_id": SITE,
        "appliance_id": APPLIANCE,
        "targets": [{"target_key": "192.168.88.20", "target_type": "device"}],
    }
    data = (await api.post("/api/appliances/mesh/ack", ack, key=known)).json()
    assert set(data) == {"acked", "unknown", "reassigned", "total_assigned"}
    assert (await api.post("/api/appliances/mesh/ack", {**ack, "site_id": "x"}, key=known)).status == 403


async def test_watchdog_bootstrap(api: Api, key: str, cc: CentralCommand) -> None:
    assert (await api.post("/api/watchdog/bootstrap", b"{}", key=key)).status == 403
    appliance_key = cc.create_api_key(SITE, appliance_id=APPLIANCE)
    reply = await api.post("/api/watchdog/bootstrap", b"{}", key=appliance_key)
    data = reply.json()
    assert reply.status == 200 and data["appliance_id"] == f"{APPLIANCE}-watchdog"
    assert data["site_id"] == SITE and data["api_endpoint"] == cc.url and len(data["api_key"]) == 43


async def test_rule_sync_signed(api: Api, key: str, cc: CentralCommand) -> None:
    reply = await api.request("GET", rules_sync_path(SITE), key=key)
    assert reply.status == 200
    bundle = decode(reply.body, RuleBundle)
    signed = json.dumps(bundle.rules, sort_keys=True).encode()
    assert verify_ed25519(bytes.fromhex(cc.server_public_key), signed, bytes.fromhex(bundle.signature))
    assert bundle.server_public_key == cc.server_public_key and bundle.count == len(bundle.rules)
    cc.set_rules(SITE, [{"id": "R-ü", "conditions": [], "actions": ["alert:x"], "priority": 1.5}])
    bundle = decode((await api.request("GET", rules_sync_path(SITE), key=key)).body, RuleBundle)
    signed = json.dumps(bundle.rules, sort_keys=True).encode()
    assert verify_ed25519(bytes.fromhex(cc.server_public_key), signed, bytes.fromhex(bundle.signature))
    assert (await api.request("GET", "/agent/sync?site_id=other", key=key)).status == 403


async def test_fleet_pending_quirk_and_unknown_route(api: Api, key: str) -> None:
    assert (await api.request("GET", "/api/fleet/orders/pending", key=key)).status == 401
    reply = await api.request("GET", "/api/nope", key=key)
    assert reply.status == 404 and reply.json() == {"detail": "Not Found"}
    reply = await api.request("GET", "/api/appliances/checkin", key=key)
    assert reply.status == 405


async def test_body_size_cap(api: Api, key: str, clock: FakeClock) -> None:
    reply = await api.post("/api/agent/executions", b"{" + b" " * (10 * 1024 * 1024 + 10) + b"}", key=key)
    assert reply.status == 413


async def test_unhandled_error_is_plain_500(api: Api, key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.central import planner

    def boom(_: object) -> None:
        raise RuntimeError("planner exploded")

    monkeypatch.setattr(planner, "plan", boom)
    req = {"incident_id": "i", "site_id": SITE, "host_id": "h", "incident_type": "t"}
    reply = await api.post("/api/agent/l2/plan", req, key=key)
    assert reply.status == 500 and reply.body == b"Internal Server Error"
