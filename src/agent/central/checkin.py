"""``POST /api/appliances/checkin`` (central-api.md §6) and its live-USB variant (§6.6)."""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from typing import Any

import msgspec
from aiohttp import web

from agent.central.auth import AuthContext, authenticate
from agent.central.context import Services, parse_json, require_object, to_model
from agent.central.db import dumps, loads
from agent.central.directives import ONE_SHOT, effective
from agent.central.errors import ApiError, InternalError, value_issue
from agent.central.requestsig import heartbeat_verdict
from agent.central.util import appliance_id_for, is_hex64, iso, normalize_mac, py_json
from agent.crypto import seal_envelope
from agent.log import get_logger
from agent.protocol import CHECKIN_PATH
from agent.protocol.checkin import CheckinRequest
from agent.protocol.checkin_response import (
    CheckinResponse,
    MeshPeer,
    PeerBundleHash,
    TargetAssignments,
    encode_checkin_response,
)
from agent.protocol.credentials import EncryptedCredentials, LinuxTarget, PendingDeploy, WindowsTarget
from agent.protocol.reconcile import ReconcilePlan

log = get_logger("central")

MAX_IPS = 100
MAX_VERSION_CHARS = 20  # server column width: longer values break the insert (500)
MAX_HOSTNAME_CHARS = 255
RING_FRESH_S = 15 * 60
PEER_WINDOW_S = 30 * 60
MAX_PEER_HASHES = 10
MAX_PENDING_DEPLOYS = 5
SIGAUTH_REJECTED = "Request signature verification failed"


def _identify(svc: Services, raw: bytes) -> str | None:
    """The known appliance a checkin body names (for AUTH_KEY_MISMATCH vs Invalid API key)."""
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    site, mac = data.get("site_id"), data.get("mac_address")
    if not isinstance(site, str) or not isinstance(mac, str):
        return None
    appliance_id = appliance_id_for(site, mac)
    row = svc.db.one("SELECT 1 FROM appliances WHERE appliance_id = ?", (appliance_id,))
    return appliance_id if row is not None else None


def _validate(raw: bytes) -> tuple[CheckinRequest, dict[str, Any]]:
    data = require_object(parse_json(raw))
    health = data.get("daemon_health")
    if health is not None and not isinstance(health, dict):
        raise value_issue(["daemon_health"], "Input should be a valid dictionary", "dict_type")
    stripped = {k: v for k, v in data.items() if k != "daemon_health"}
    req = to_model(stripped, CheckinRequest)
    if len(req.ip_addresses) > MAX_IPS:
        raise value_issue(
            ["ip_addresses"], f"List should have at most {MAX_IPS} items after validation", "too_long"
        )
    if len(req.agent_version) > MAX_VERSION_CHARS or len(req.nixos_version) > MAX_VERSION_CHARS:
        raise InternalError("value too long for type character varying(20)")
    if len(req.hostname) > MAX_HOSTNAME_CHARS:
        raise InternalError("value too long for type character varying(255)")
    return req, health or {}


async def handle_checkin(svc: Services, request: web.Request) -> web.Response:
    raw = await request.read()
    ctx = authenticate(svc.db, request, identify=lambda: _identify(svc, raw))
    req, health = _validate(raw)
    now = svc.clock()
    site = svc.site_row(ctx.site_id)
    if site is None:
        raise ApiError(404, "Site not found")
    if req.boot_source == "live_usb":
        return _live_usb(svc, ctx, req, now)
    appliance_id = appliance_id_for(ctx.site_id, req.mac_address)
    existing = svc.db.one("SELECT * FROM appliances WHERE appliance_id = ?", (appliance_id,))
    stored_identity = existing["identity_pubkey"] if existing is not None else None
    enforce = bool(existing["sigauth_enforce"]) if existing is not None else False
    sig = svc.sigauth.evaluate(
        stored_identity,
        req.agent_identity_public_key or None,
        request.method,
        request.path,
        raw,
        request.headers,
    )
    body_agent_key = req.agent_public_key if isinstance(req.agent_public_key, str) else None
    stored_agent_key = existing["agent_pubkey"] if existing is not None else None
    hb_key = body_agent_key if is_hex64(body_agent_key) else stored_agent_key
    heartbeat = heartbeat_verdict(
        hb_key,
        ctx.site_id,
        req.mac_address,
        req.agent_version,
        req.heartbeat_signature if isinstance(req.heartbeat_signature, str) else None,
        req.heartbeat_timestamp if isinstance(req.heartbeat_timestamp, int) else None,
        now,
    )
    record: dict[str, Any] = {
        "time": iso(now),
        "appliance_id": appliance_id,
        "sigauth": sig.verdict,
        "sigauth_enforced": enforce,
        "heartbeat": heartbeat,
        "hostname": req.hostname,
        "mac_address": req.mac_address,
        "agent_version": req.agent_version,
        "nixos_version": req.nixos_version,
        "boot_source": req.boot_source,
        "ip_addresses": req.ip_addresses,
        "uptime_seconds": req.uptime_seconds,
        "boot_counter": req.boot_counter,
        "generation_uuid": req.generation_uuid if isinstance(req.generation_uuid, str) else None,
        "reconcile_needed": req.reconcile_needed,
        "reconcile_signals": req.reconcile_signals,
        "daemon_health": health,
        "witness_attestations": len(req.witness_attestations or []),
        "deploy_results": msgspec.to_builtins(req.deploy_results or []),
        "connected_agents": len(req.connected_agents or []),
        "connected_agent_list": msgspec.to_builtins(req.connected_agents or []),
        "body_bytes": len(raw),
    }
    if enforce and sig.verdict != "ok":
        record["http_status"] = 401
        svc.db.add_record("checkin", ctx.site_id, appliance_id, now, record)
        log.warning(
            "central.sigauth_rejected",
            "checkin rejected in enforce mode",
            appliance_id=appliance_id,
            reason=sig.verdict,
        )
        raise ApiError(
            401, {"error": SIGAUTH_REJECTED, "code": "SIGAUTH_ENFORCE_REJECTED", "reason": sig.verdict}
        )
    _upsert_appliance(svc, ctx, appliance_id, req, existing, sig.learn_key, now)
    merged = _merge_duplicates(svc, ctx.site_id, appliance_id, req.all_mac_addresses)
    _store_witnesses(svc, ctx.site_id, appliance_id, req, now)
    response = _build_response(svc, ctx, site, appliance_id, req, merged, now)
    record["http_status"] = 200
    record["orders_delivered"] = [o.order_id for o in response.pending_orders]
    record["credentials_encrypted"] = response.envelope is not None
    svc.db.add_record("checkin", ctx.site_id, appliance_id, now, record)
    log.info(
        "central.checkin",
        "checkin",
        appliance_id=appliance_id,
        sigauth=sig.verdict,
        heartbeat=heartbeat,
        orders=len(response.pending_orders),
    )
    return web.Response(body=encode_checkin_response(response), content_type="application/json")


def _upsert_appliance(
    svc: Services,
    ctx: AuthContext,
    appliance_id: str,
    req: CheckinRequest,
    existing: Any,
    learn_identity: str | None,
    now: float,
) -> None:
    sent_key = req.agent_public_key if isinstance(req.agent_public_key, str) else ""
    agent_key = sent_key.lower() if is_hex64(sent_key) else None
    enc_key = req.encryption_public_key.lower() if is_hex64(req.encryption_public_key) else None
    if existing is None:
        svc.db.execute(
            "INSERT INTO appliances (appliance_id, site_id, mac_address, hostname, identity_pubkey,"
            " agent_pubkey, encryption_pubkey, boot_counter, ip_addresses, agent_version, first_seen,"
            " last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                appliance_id,
                ctx.site_id,
                normalize_mac(req.mac_address),
                req.hostname,
                learn_identity,
                agent_key,
                enc_key,
                req.boot_counter,
                dumps(req.ip_addresses),
                req.agent_version,
                now,
                now,
            ),
        )
        return
    svc.db.execute(
        "UPDATE appliances SET hostname = ?, identity_pubkey = COALESCE(?, identity_pubkey),"
        " agent_pubkey = COALESCE(?, agent_pubkey), encryption_pubkey = ?,"
        " boot_counter = MAX(boot_counter, ?), ip_addresses = ?, agent_version = ?,"
        " first_seen = COALESCE(first_seen, ?), last_seen = ? WHERE appliance_id = ?",
        (
            req.hostname,
            learn_identity,
            agent_key,
            enc_key,
            req.boot_counter,
            dumps(req.ip_addresses),
            req.agent_version,
            now,
            now,
            appliance_id,
        ),
    )


def _merge_duplicates(svc: Services, site_id: str, appliance_id: str, macs: list[str]) -> int:
    """Multi-NIC duplicates: other rows of the site whose MAC is one of this appliance's MACs."""
    others = [appliance_id_for(site_id, m) for m in macs]
    others = [a for a in others if a != appliance_id]
    merged = 0
    for other in others:
        merged += svc.db.execute(
            "DELETE FROM appliances WHERE appliance_id = ? AND site_id = ?", (other, site_id)
        )
    return merged


def _store_witnesses(svc: Services, site_id: str, appliance_id: str, req: CheckinRequest, now: float) -> None:
    for att in req.witness_attestations or []:
        svc.db.execute(
            "INSERT OR REPLACE INTO witness (bundle_id, witness_appliance, received_at, data)"
            " VALUES (?, ?, ?, ?)",
            (att.bundle_id, appliance_id, now, dumps({**msgspec.to_builtins(att), "site_id": site_id})),
        )


def _credentials(
    site: dict[str, Any], req: CheckinRequest
) -> tuple[list[WindowsTarget], list[LinuxTarget], EncryptedCredentials | None]:
    creds = site["credentials"]
    if not creds:
        return [], [], None
    if is_hex64(req.encryption_public_key):
        plaintext = json.dumps(
            {"windows_targets": creds["windows_targets"], "linux_targets": creds["linux_targets"]}
        ).encode("utf-8")
        envelope = seal_envelope(plaintext, bytes.fromhex(req.encryption_public_key))
        return [], [], envelope
    windows = msgspec.convert(creds["windows_targets"], list[WindowsTarget])
    linux = msgspec.convert(creds["linux_targets"], list[LinuxTarget])
    return windows, linux, None


def fresh_ring(svc: Services, site_id: str, now: float) -> list[Any]:
    return svc.db.all(
        "SELECT * FROM appliances WHERE site_id = ? AND last_seen > ? ORDER BY mac_address",
        (site_id, now - RING_FRESH_S),
    )


def assignment_for(site: dict[str, Any], ring: list[Any], appliance_id: str) -> TargetAssignments:
    """Scan ownership: each credential target goes to ``ring[sha256(target) % n]``."""
    creds = site["credentials"] or {}
    targets = sorted(
        {t["hostname"] for t in creds.get("windows_targets", []) + creds.get("linux_targets", [])}
    )
    if not targets or not ring:
        return TargetAssignments()
    members = [r["mac_address"].replace(":", "").upper() for r in ring]
    mine = [
        t
        for t in targets
        if ring[int(hashlib.sha256(t.encode()).hexdigest(), 16) % len(ring)]["appliance_id"] == appliance_id
    ]
    epoch = int(max(r["first_seen"] or 0 for r in ring))
    return TargetAssignments(your_targets=mine, ring_members=members, assignment_epoch=epoch)


def _peer_hashes(svc: Services, site_id: str, appliance_id: str, now: float) -> list[PeerBundleHash]:
    rows = svc.db.all(
        "SELECT e.bundle_id, e.bundle_hash, a.appliance_id, e.agent_public_key FROM evidence e"
        " JOIN appliances a ON a.agent_pubkey = e.agent_public_key AND a.site_id = e.site_id"
        " WHERE e.site_id = ? AND a.appliance_id != ? AND e.received_at > ? AND NOT EXISTS"
        " (SELECT 1 FROM witness w WHERE w.bundle_id = e.bundle_id AND w.witness_appliance = ?)"
        " ORDER BY e.id DESC LIMIT ?",
        (site_id, appliance_id, now - PEER_WINDOW_S, appliance_id, MAX_PEER_HASHES),
    )
    return [
        PeerBundleHash(
            bundle_id=r["bundle_id"],
            bundle_hash=r["bundle_hash"],
            source_appliance=r["appliance_id"],
            source_public_key=r["agent_public_key"],
        )
        for r in rows
    ]


def _reconcile_plan(
    svc: Services, appliance_id: str, req: CheckinRequest, now: float
) -> ReconcilePlan | None:
    """A signed plan when the appliance reports >= 2 time-travel signals (orders.md §6); the same
    plan is re-sent until acknowledged."""
    if not (req.reconcile_needed and len(set(req.reconcile_signals)) >= 2):
        return None
    row = svc.db.one(
        "SELECT wire FROM reconcile_plans WHERE appliance_id = ? AND acked = 0 ORDER BY issued_at DESC",
        (appliance_id,),
    )
    if row is not None:
        return msgspec.convert(loads(row["wire"]), ReconcilePlan)
    plan_id, generation = str(uuid.uuid4()), str(uuid.uuid4())
    epoch_hex, issued = secrets.token_hex(32), iso(now)
    payload = py_json(
        {
            "event_id": plan_id,
            "appliance_id": appliance_id,
            "nonce_epoch_hex": epoch_hex,
            "generation_uuid": generation,
            "runbook_ids": [],
            "issued_at": issued,
        }
    )
    plan = ReconcilePlan(
        plan_id=plan_id,
        new_generation_uuid=generation,
        nonce_epoch_hex=epoch_hex,
        runbook_ids=[],
        issued_at=issued,
        appliance_id=appliance_id,
        signature_hex=svc.keys.sign_text(payload),
        signed_payload=payload,
    )
    svc.db.execute(
        "INSERT INTO reconcile_plans (plan_id, appliance_id, wire, issued_at) VALUES (?, ?, ?, ?)",
        (plan_id, appliance_id, dumps(msgspec.to_builtins(plan)), now),
    )
    return plan


def _build_response(
    svc: Services,
    ctx: AuthContext,
    site: dict[str, Any],
    appliance_id: str,
    req: CheckinRequest,
    merged: int,
    now: float,
) -> CheckinResponse:
    stored = site["directives"]
    d = effective(stored)
    if any(stored.get(k) for k in ONE_SHOT):
        remaining = {k: v for k, v in stored.items() if k not in ONE_SHOT}
        svc.db.execute("UPDATE sites SET directives = ? WHERE site_id = ?", (dumps(remaining), ctx.site_id))
    orders = [] if d["billing_hold"] else svc.orders.deliver(ctx.site_id, appliance_id, now)
    windows, linux, envelope = _credentials(site, req)
    ring = fresh_ring(svc, ctx.site_id, now)
    if "target_assignments" in stored:
        ta = stored["target_assignments"]
        assignments: TargetAssignments | tuple[()] | None = (
            () if ta == [] else None if ta is None else msgspec.convert(ta, TargetAssignments)
        )
    else:
        assignments = assignment_for(site, ring, appliance_id)
    if "mesh_peers" in stored:
        mesh = msgspec.convert(stored["mesh_peers"] or [], list[MeshPeer])
    else:
        mesh = [
            MeshPeer(mac=r["mac_address"], ips=loads(r["ip_addresses"]))
            for r in ring
            if r["appliance_id"] != appliance_id
        ]
    if "peer_bundle_hashes" in stored:
        peers = msgspec.convert(stored["peer_bundle_hashes"] or [], list[PeerBundleHash])
    else:
        peers = _peer_hashes(svc, ctx.site_id, appliance_id, now)
    deploys = msgspec.convert(stored.get("pending_deploys") or [], list[PendingDeploy])
    threshold = d["l2_confidence_threshold"]
    return CheckinResponse(
        status="ok",
        appliance_id=appliance_id,
        server_time=iso(now),
        rotated_api_key=None,  # central-api.md §9: always null on the real server
        server_public_key=svc.keys.current.public_hex,
        server_public_keys=svc.keys.public_keys,
        merged_duplicates=merged,
        pending_orders=orders,
        windows_targets=windows,
        linux_targets=linux,
        encrypted_credentials=envelope,
        enabled_runbooks=list(d["enabled_runbooks"]),
        disabled_checks=list(d["disabled_checks"]),
        maintenance_until=d["maintenance_until"],
        trigger_enumeration=bool(d["trigger_enumeration"]),
        trigger_immediate_scan=bool(d["trigger_immediate_scan"]),
        billing_hold=bool(d["billing_hold"]),
        billing_status=d["billing_status"],
        pending_deploys=deploys[:MAX_PENDING_DEPLOYS],
        l2_confidence_threshold=float(threshold) if threshold is not None else None,
        peer_bundle_hashes=peers[:MAX_PEER_HASHES],
        mesh_peers=mesh,
        target_assignments=assignments,
        client_alert_mode=d["client_alert_mode"],
        compliance_framework=d["compliance_framework"],
        reconcile_plan=_reconcile_plan(svc, appliance_id, req, now),
    )


def _live_usb(svc: Services, ctx: AuthContext, req: CheckinRequest, now: float) -> web.Response:
    """§6.6: record an install session; minimal body with ``[]`` where objects are expected."""
    svc.db.add_record(
        "install_session",
        ctx.site_id,
        None,
        now,
        {
            "time": iso(now),
            "hostname": req.hostname,
            "mac_address": normalize_mac(req.mac_address),
            "agent_version": req.agent_version,
            "ip_addresses": req.ip_addresses,
        },
    )
    svc.db.add_record(
        "checkin",
        ctx.site_id,
        None,
        now,
        {
            "time": iso(now),
            "appliance_id": None,
            "http_status": 200,
            "boot_source": "live_usb",
            "sigauth": "not_checked",
            "heartbeat": "not_checked",
            "hostname": req.hostname,
            "mac_address": req.mac_address,
            "install_session": True,
        },
    )
    response = CheckinResponse(
        status="ok",
        appliance_id=None,
        server_time=iso(now),
        server_public_key=None,
        server_public_keys=[],
        encrypted_credentials=(),
        target_assignments=(),
        reconcile_plan=None,
        install_session=True,
    )
    return web.Response(body=encode_checkin_response(response), content_type="application/json")


CHECKIN_ROUTE = CHECKIN_PATH
