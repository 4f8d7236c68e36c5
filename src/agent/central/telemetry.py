"""The agent's reporting endpoints (central-api.md §7.2, §7.4-§7.11): reconcile and mesh acks,
device sync, log ingest, security events, incidents, L2 plans, executions, watchdog bootstrap."""

from __future__ import annotations

import json
import uuid
import zlib
from typing import Any

import msgspec
from aiohttp import web

from agent.central import planner
from agent.central.auth import AuthContext, authenticate, generate_api_key, hash_key, require_site
from agent.central.checkin import assignment_for, fresh_ring
from agent.central.context import Services, parse_json, read_model, require_object, to_model
from agent.central.db import dumps
from agent.central.errors import ApiError, json_response, value_issue
from agent.central.util import iso
from agent.log import get_logger
from agent.protocol.devices import DeviceSync
from agent.protocol.errors import ProtocolError
from agent.protocol.incidents import SEVERITIES, IncidentReport, IncidentResolve
from agent.protocol.l2 import L2PlanRequest
from agent.protocol.mesh import MeshAck
from agent.protocol.reconcile import ReconcileAck
from agent.protocol.security_events import MAX_EVENTS, SecurityEventsArchive
from agent.protocol.telemetry import ExecutionReport
from agent.protocol.timefmt import parse_timestamp

log = get_logger("central")

MAX_INFLATED_BYTES = 10 * 1024 * 1024
LOG_KEEP = 1000
LOG_MSG_CHARS = 8192
LOG_UNIT_CHARS = 128
LOG_BOOT_CHARS = 64
MISSING_SITE = "Missing site_id in request body"
WRONG_SITE = "Invalid API key for site"
_EVENT_CLASS = {
    4624: ("authentication", "info"),
    4625: ("authentication", "medium"),
    4740: ("account_lockout", "high"),
    1102: ("audit_log_cleared", "critical"),
    4720: ("account_management", "medium"),
    4732: ("privilege_change", "high"),
}


def _body_site(ctx: AuthContext, data: dict[str, Any]) -> None:
    """§7.6/§7.7 auth: ``site_id`` in the body is required and must be the key's site (401)."""
    site = data.get("site_id")
    if not isinstance(site, str) or not site:
        raise ApiError(401, MISSING_SITE)
    if site != ctx.site_id:
        raise ApiError(401, WRONG_SITE)


def _gunzip(raw: bytes) -> bytes:
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(raw, MAX_INFLATED_BYTES + 1)
    except zlib.error:
        raise ApiError(400, "Invalid gzip payload") from None
    if len(out) > MAX_INFLATED_BYTES:
        raise ApiError(413, "Request Entity Too Large")
    if not inflater.eof:
        raise ApiError(400, "Invalid gzip payload")
    return out


async def handle_logs(svc: Services, request: web.Request) -> web.Response:
    ctx = authenticate(svc.db, request)
    raw = await request.read()
    if "gzip" in request.headers.get("Content-Encoding", "").lower():
        raw = _gunzip(raw)
    try:
        data = json.loads(raw)
    except ValueError:
        raise ApiError(400, "Invalid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "Invalid JSON")
    _body_site(ctx, data)
    batch = data.get("batch")
    hostname = data.get("hostname")
    if not isinstance(batch, list):
        raise value_issue(["batch"], "Input should be a valid list", "list_type")
    if not isinstance(hostname, str):
        raise value_issue(["hostname"], "Input should be a valid string", "string_type")
    accepted: list[dict[str, Any]] = []
    dropped = max(0, len(batch) - LOG_KEEP)
    for entry in batch[:LOG_KEEP]:
        clean = _log_entry(entry)
        if clean is None:
            dropped += 1
        else:
            accepted.append(clean)
    now = svc.clock()
    svc.db.add_record(
        "logs",
        ctx.site_id,
        ctx.appliance_id,
        now,
        {"hostname": hostname, "entries": accepted, "dropped": dropped},
    )
    return json_response({"accepted": len(accepted), "dropped": dropped})


def _log_entry(entry: Any) -> dict[str, Any] | None:
    if not isinstance(entry, dict):
        return None
    ts, msg = entry.get("ts"), entry.get("msg")
    unit, pri, boot = entry.get("unit", ""), entry.get("pri", 6), entry.get("boot")
    if not isinstance(ts, str) or not ts or not isinstance(msg, str) or not msg:
        return None
    if not isinstance(unit, str) or isinstance(pri, bool) or not isinstance(pri, int) or not 0 <= pri <= 7:
        return None
    try:
        parse_timestamp(ts)
    except ProtocolError:
        return None
    clean: dict[str, Any] = {"ts": ts, "unit": unit[:LOG_UNIT_CHARS], "pri": pri, "msg": msg[:LOG_MSG_CHARS]}
    if isinstance(boot, str):
        clean["boot"] = boot[:LOG_BOOT_CHARS]
    return clean


async def handle_security_events(svc: Services, request: web.Request) -> web.Response:
    ctx = authenticate(svc.db, request)
    data = require_object(parse_json(await request.read()))
    _body_site(ctx, data)
    events = data.get("events")
    if isinstance(events, list) and len(events) > MAX_EVENTS:
        raise ApiError(400, f"Too many events: at most {MAX_EVENTS} per request")
    body = to_model(data, SecurityEventsArchive)
    now = svc.clock()
    archived = []
    for ev in body.events:
        category, severity = _EVENT_CLASS.get(ev.event_id, ("other", "low"))
        archived.append({**msgspec.to_builtins(ev), "category": category, "severity": severity})
    svc.db.add_record("security_events", ctx.site_id, ctx.appliance_id, now, {"events": archived})
    return json_response({"status": "ok", "archived": len(archived)})


async def handle_execution(svc: Services, request: web.Request) -> web.Response:
    ctx = authenticate(svc.db, request)
    body, raw = await read_model(request, ExecutionReport)
    require_site(ctx, body.site_id)
    svc.db.add_record(
        "execution", ctx.site_id, body.execution.appliance_id or ctx.appliance_id, svc.clock(), raw
    )
    return json_response({"status": "recorded", "execution_id": body.execution.execution_id})


HEALING_ORDER_TTL_S = 900


async def handle_incident(svc: Services, request: web.Request) -> web.Response:
    ctx = authenticate(svc.db, request)
    body, raw = await read_model(request, IncidentReport)
    if body.severity not in SEVERITIES:
        raise value_issue(["severity"], "Input should be 'low', 'medium', 'high' or 'critical'", "enum")
    require_site(ctx, body.site_id)
    now = svc.clock()
    site = svc.site_row(ctx.site_id) or {"directives": {}}
    maintenance = site["directives"].get("maintenance_until")
    if isinstance(maintenance, str):
        try:
            if parse_timestamp(maintenance).timestamp() > now:
                return json_response(
                    {
                        "status": "suppressed_maintenance",
                        "incident_id": None,
                        "resolution_tier": None,
                        "order_id": None,
                        "runbook_id": None,
                        "timestamp": iso(now),
                        "maintenance_until": maintenance,
                    }
                )
        except ProtocolError:
            pass
    check = body.check_type or body.incident_type
    row = svc.db.one(
        "SELECT * FROM incidents WHERE site_id = ? AND host_id = ?"
        " AND COALESCE(check_type, incident_type) = ? ORDER BY created_at DESC LIMIT 1",
        (ctx.site_id, body.host_id, check),
    )
    if row is not None and row["status"] == "open":
        status, incident_id = "deduplicated", row["incident_id"]
    elif row is not None:
        status, incident_id = "reopened", row["incident_id"]
        svc.db.execute(
            "UPDATE incidents SET status = 'open', resolved_at = NULL, report = ? WHERE incident_id = ?",
            (dumps(raw), incident_id),
        )
    else:
        status, incident_id = "received", str(uuid.uuid4())
        svc.db.execute(
            "INSERT INTO incidents (incident_id, site_id, host_id, incident_type, check_type, severity,"
            " status, created_at, report) VALUES (?, ?, ?, ?, ?, ?, 'open', ?, ?)",
            (
                incident_id,
                ctx.site_id,
                body.host_id,
                body.incident_type,
                body.check_type,
                body.severity,
                now,
                dumps(raw),
            ),
        )
    order_id = runbook_id = None
    runbook = svc.l1_runbooks.get(ctx.site_id, {}).get(body.incident_type)
    if runbook is not None and status != "deduplicated":
        # main.py /incidents: a server L1 match becomes a healing order linked to the incident,
        # signed for the reporting appliance with parameters {} (it carries only incident_id).
        runbook_id = runbook
        order_id = svc.orders.issue(ctx.site_id, "healing",
                                    {"runbook_id": runbook, "incident_id": incident_id},
                                    appliance_id=ctx.appliance_id, ttl_s=HEALING_ORDER_TTL_S)
    return json_response(
        {
            "status": status,
            "incident_id": incident_id,
            "resolution_tier": "L1",
            "order_id": order_id,
            "runbook_id": runbook_id,
            "timestamp": iso(now),
        }
    )


async def handle_resolve(svc: Services, request: web.Request) -> web.Response:
    ctx = authenticate(svc.db, request)
    body, raw = await read_model(request, IncidentResolve)
    require_site(ctx, body.site_id)
    now = svc.clock()
    row = svc.db.one(
        "SELECT incident_id FROM incidents WHERE site_id = ? AND host_id = ? AND status = 'open'"
        " AND COALESCE(check_type, incident_type) = ? ORDER BY created_at DESC LIMIT 1",
        (ctx.site_id, body.host_id, body.check_type),
    )
    if row is None:
        return json_response({"status": "not_found"})
    svc.db.execute(
        "UPDATE incidents SET status = 'resolved', resolved_at = ?, resolution = ? WHERE incident_id = ?",
        (now, dumps(raw), row["incident_id"]),
    )
    return json_response({"status": "resolved", "incident_id": row["incident_id"]})


async def handle_l2(svc: Services, request: web.Request) -> web.Response:
    ctx = authenticate(svc.db, request)
    body, raw = await read_model(request, L2PlanRequest)
    require_site(ctx, body.site_id)
    result = planner.plan(body)
    svc.db.add_record(
        "l2",
        ctx.site_id,
        ctx.appliance_id,
        svc.clock(),
        {"request": raw, "plan": msgspec.to_builtins(result)},
    )
    return json_response(result)


async def handle_reconcile_ack(svc: Services, request: web.Request) -> web.Response:
    ctx = authenticate(svc.db, request)
    body, raw = await read_model(request, ReconcileAck)
    svc.db.execute(
        "UPDATE reconcile_plans SET acked = 1 WHERE plan_id = ? AND appliance_id IN"
        " (SELECT appliance_id FROM appliances WHERE site_id = ?)",
        (body.event_id, ctx.site_id),
    )
    svc.db.add_record("reconcile_ack", ctx.site_id, ctx.appliance_id, svc.clock(), raw)
    return json_response({"status": "recorded"})


async def handle_mesh_ack(svc: Services, request: web.Request) -> web.Response:
    ctx = authenticate(svc.db, request)
    body, raw = await read_model(request, MeshAck)
    require_site(ctx, body.site_id)
    now = svc.clock()
    site = svc.site_row(ctx.site_id)
    assigned = set(
        assignment_for(site, fresh_ring(svc, ctx.site_id, now), body.appliance_id).your_targets
        if site
        else []
    )
    acked = sum(1 for t in body.targets if t.target_key in assigned)
    svc.db.add_record("mesh_ack", ctx.site_id, body.appliance_id, now, raw)
    return json_response(
        {
            "acked": acked,
            "unknown": len(body.targets) - acked,
            "reassigned": 0,
            "total_assigned": len(assigned),
        }
    )


async def handle_devices(svc: Services, request: web.Request) -> web.Response:
    ctx = authenticate(svc.db, request)
    body, raw = await read_model(request, DeviceSync)
    require_site(ctx, body.site_id)
    previous = svc.db.records("devices", ctx.site_id)
    known = {d["device_id"] for rec in previous for d in rec.get("devices", [])}
    created = sum(1 for d in body.devices if d.device_id not in known)
    svc.db.add_record("devices", ctx.site_id, body.appliance_id, svc.clock(), raw)
    return json_response(
        {
            "status": "ok",
            "devices_received": len(body.devices),
            "devices_updated": len(body.devices) - created,
            "devices_created": created,
            "message": f"Synced {len(body.devices)} devices",
        }
    )


async def handle_watchdog_bootstrap(svc: Services, request: web.Request) -> web.Response:
    ctx = authenticate(svc.db, request)
    await request.read()
    if ctx.kind != "appliance" or not ctx.appliance_id:
        raise ApiError(403, "Watchdog bootstrap requires a per-appliance API key")
    watchdog_id = f"{ctx.appliance_id}-watchdog"
    key = generate_api_key()
    now = svc.clock()
    with svc.db.transaction() as conn:
        conn.execute(
            "UPDATE api_keys SET status = 'deactivated' WHERE appliance_id = ? AND kind = 'watchdog'",
            (watchdog_id,),
        )
        conn.execute(
            "INSERT INTO api_keys (key_hash, site_id, appliance_id, kind, status, created_at)"
            " VALUES (?, ?, ?, 'watchdog', 'active', ?)",
            (hash_key(key), ctx.site_id, watchdog_id, now),
        )
    svc.db.add_record("watchdog_bootstrap", ctx.site_id, ctx.appliance_id, now, {"watchdog_id": watchdog_id})
    return json_response(
        {"site_id": ctx.site_id, "appliance_id": watchdog_id, "api_key": key, "api_endpoint": svc.url()}
    )


async def handle_fleet_pending(svc: Services, request: web.Request) -> web.Response:
    """central-api.md §9: the server always answers 401 here (it expects a JSON body on a GET)."""
    raise ApiError(401, "Invalid API key")
