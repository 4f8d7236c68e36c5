"""Evidence submission and the delivery probe (evidence.md §4, §6; central-api.md §7.3).

As the live server: the URL site must be the key's site (403); ``checked_at`` more than 2 minutes
ahead or more than 1 hour away is a 400; the Ed25519 signature over ``signed_data`` is verified
with the submitted ``agent_public_key`` (401 otherwise); ``bundle_hash`` is taken as sent (whether
it matches is recorded for tests); network bundles are acknowledged, not stored; a duplicate
(same ``bundle_hash`` at the site within 15 minutes, or a known ``bundle_id``) answers **409**
``{"detail": "Evidence already recorded", ...}`` with the stored chain entry, or — with
``evidence_duplicate_status = 500`` — the live server's **500** (central-api.md §9); stored
bundles join the per-site chain ``current_hash = SHA-256("<bundle_hash>:<prev_hash>:<position>")``.
"""

from __future__ import annotations

import hashlib
from typing import Any

from aiohttp import web

from agent.central.auth import authenticate
from agent.central.context import Services, read_model
from agent.central.db import dumps
from agent.central.errors import ApiError, InternalError, json_response
from agent.central.util import ZERO_HASH, is_hex64, iso
from agent.crypto import verify_ed25519
from agent.log import get_logger
from agent.protocol.errors import ProtocolError
from agent.protocol.evidence import EvidenceReceipt, EvidenceSubmit
from agent.protocol.timefmt import parse_timestamp

log = get_logger("central")

FUTURE_LIMIT_S = 120
AGE_LIMIT_S = 3600
DUPLICATE_WINDOW_S = 15 * 60
MAX_BUNDLE_ID = 50
NETWORK_CHECKS = frozenset(
    {"net_unexpected_ports", "net_expected_service", "net_host_reachability", "net_dns_resolution"}
)


def chain_hash(bundle_hash: str, prev_hash: str, position: int) -> str:
    return hashlib.sha256(f"{bundle_hash}:{prev_hash}:{position}".encode("ascii")).hexdigest()


async def handle_submit(svc: Services, request: web.Request) -> web.Response:
    url_site = request.match_info["site_id"]
    ctx = authenticate(svc.db, request)
    if url_site != ctx.site_id:
        raise ApiError(403, "Site ID mismatch")
    if svc.db.one("SELECT 1 FROM sites WHERE site_id = ?", (url_site,)) is None:
        raise ApiError(404, "Site not found")
    body, raw = await read_model(request, EvidenceSubmit)
    now = svc.clock()
    try:
        checked = parse_timestamp(body.checked_at).timestamp()
    except ProtocolError:
        raise ApiError(
            422, [{"type": "value_error", "loc": ["body", "checked_at"], "msg": "invalid timestamp"}]
        ) from None
    if checked - now > FUTURE_LIMIT_S:
        raise ApiError(400, "Evidence timestamp is in the future")
    skew = abs(now - checked)
    if skew > AGE_LIMIT_S:
        raise ApiError(400, f"Evidence timestamp too far from server time ({int(skew)}s skew)")
    if not body.agent_signature:
        raise ApiError(401, "Evidence submission requires agent_signature and agent_public_key")
    if not is_hex64(body.agent_public_key):
        raise ApiError(401, "No per-appliance signing key registered for this site")
    try:
        signature = bytes.fromhex(body.agent_signature)
    except ValueError:
        signature = b""
    if len(signature) != 64 or not verify_ed25519(
        bytes.fromhex(body.agent_public_key), body.signed_data.encode("utf-8"), signature
    ):
        raise ApiError(401, "Evidence signature verification failed: invalid signature")
    check_type = body.checks[0].check if body.checks else None
    if check_type in NETWORK_CHECKS:
        svc.db.add_record("evidence_network", ctx.site_id, None, now, {"bundle_id": body.bundle_id})
        return json_response(
            EvidenceReceipt(
                bundle_id=body.bundle_id,
                bundle_hash="",
                chain_position=0,
                prev_hash="",
                current_hash="",
                ots_status="skipped",
            )
        )
    if len(body.bundle_id) > MAX_BUNDLE_ID:
        raise InternalError("bundle_id too long for its column")
    hash_matches = hashlib.sha256(body.signed_data.encode("utf-8")).hexdigest() == body.bundle_hash
    with svc.db.transaction() as conn:
        dup = conn.execute(
            "SELECT 1 FROM evidence WHERE bundle_id = ? OR (site_id = ? AND bundle_hash = ?"
            " AND received_at > ?)",
            (body.bundle_id, ctx.site_id, body.bundle_hash, now - DUPLICATE_WINDOW_S),
        ).fetchone()
        if dup is not None:
            if svc.evidence_duplicate_status == 500:
                log.info(
                    "central.evidence_duplicate",
                    "duplicate evidence (answered 500 like the server)",
                    bundle_id=body.bundle_id,
                )
                raise InternalError("deduplicated path returns a non-schema reply")
            row = conn.execute(
                "SELECT bundle_id, bundle_hash, chain_position, prev_hash, current_hash FROM evidence"
                " WHERE bundle_id = ? OR (site_id = ? AND bundle_hash = ?) ORDER BY id LIMIT 1",
                (body.bundle_id, ctx.site_id, body.bundle_hash),
            ).fetchone()
            log.info("central.evidence_duplicate", "duplicate evidence (409)", bundle_id=body.bundle_id)
            return web.json_response(
                {"detail": "Evidence already recorded", "bundle_id": row["bundle_id"],
                 "bundle_hash": row["bundle_hash"], "chain_position": row["chain_position"],
                 "prev_hash": row["prev_hash"], "current_hash": row["current_hash"]},
                status=409,
            )
        last = conn.execute(
            "SELECT bundle_hash, chain_position FROM evidence WHERE site_id = ?"
            " ORDER BY chain_position DESC LIMIT 1",
            (ctx.site_id,),
        ).fetchone()
        prev_hash = last["bundle_hash"] if last is not None else ZERO_HASH
        position = (last["chain_position"] if last is not None else 0) + 1
        current = chain_hash(body.bundle_hash, prev_hash, position)
        conn.execute(
            "INSERT INTO evidence (site_id, bundle_id, bundle_hash, prev_hash, chain_position,"
            " current_hash, check_type, checked_at, received_at, agent_public_key, agent_signature,"
            " signed_data, hash_matches, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                ctx.site_id,
                body.bundle_id,
                body.bundle_hash,
                prev_hash,
                position,
                current,
                check_type,
                body.checked_at,
                now,
                body.agent_public_key.lower(),
                body.agent_signature,
                body.signed_data,
                int(hash_matches),
                dumps(raw),
            ),
        )
    log.info("central.evidence", "evidence stored", bundle_id=body.bundle_id, chain_position=position)
    return json_response(
        EvidenceReceipt(
            bundle_id=body.bundle_id,
            bundle_hash=body.bundle_hash,
            chain_position=position,
            prev_hash=prev_hash,
            current_hash=current,
            ots_status="pending",
            ots_submitted=False,
        )
    )


async def handle_verify(svc: Services, request: web.Request) -> web.Response:
    """Delivery probe (no auth): 200 with the stored chain entry, 404 when not stored."""
    site_id, bundle_id = request.match_info["site_id"], request.match_info["bundle_id"]
    row = svc.db.one("SELECT * FROM evidence WHERE site_id = ? AND bundle_id = ?", (site_id, bundle_id))
    if row is None:
        raise ApiError(404, "Bundle not found")
    ok = verify_ed25519(
        bytes.fromhex(row["agent_public_key"]),
        row["signed_data"].encode("utf-8"),
        bytes.fromhex(row["agent_signature"]),
    )
    return json_response(
        {
            "bundle_id": row["bundle_id"],
            "bundle_hash": row["bundle_hash"],
            "chain_position": row["chain_position"],
            "prev_hash": row["prev_hash"],
            "current_hash": row["current_hash"],
            "signature_valid": ok,
            "verified": ok,
            "checked_at": row["checked_at"],
            "received_at": iso(row["received_at"]),
        }
    )


def evidence_rows(svc: Services, site_id: str | None) -> list[dict[str, Any]]:
    sql, params = "SELECT * FROM evidence", ()
    if site_id is not None:
        sql, params = sql + " WHERE site_id = ?", (site_id,)  # type: ignore[assignment]
    return [
        {
            "site_id": r["site_id"],
            "bundle_id": r["bundle_id"],
            "bundle_hash": r["bundle_hash"],
            "prev_hash": r["prev_hash"],
            "chain_position": r["chain_position"],
            "current_hash": r["current_hash"],
            "check_type": r["check_type"],
            "checked_at": r["checked_at"],
            "received_at": iso(r["received_at"]),
            "agent_public_key": r["agent_public_key"],
            "signed_data": r["signed_data"],
            "agent_signature": r["agent_signature"],
            "hash_matches": bool(r["hash_matches"]),
        }
        for r in svc.db.all(sql + " ORDER BY id", params)
    ]
