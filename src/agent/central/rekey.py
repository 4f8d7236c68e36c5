"""``POST /api/provision/rekey`` (central-api.md §4.3): no authentication.

200 with a new per-appliance key (the appliance's previous keys are deactivated, so they answer
``AUTH_KEY_MISMATCH``); 404 ``Appliance not provisioned`` (unknown site) / ``Unknown appliance``;
403 ``Hardware ID mismatch`` (the first ``hardware_id`` seen is recorded); 429
``Rekey rate limited. Retry in <N>s``: one successful rekey per appliance per hour, kept in memory
like the real server.
"""

from __future__ import annotations

import math

from aiohttp import web

from agent.central.auth import generate_api_key, hash_key
from agent.central.context import Services, read_model
from agent.central.errors import ApiError, json_response
from agent.central.util import appliance_id_for
from agent.log import get_logger
from agent.protocol.rekey import RekeyRequest

log = get_logger("central")

REKEY_INTERVAL_S = 3600


async def handle_rekey(svc: Services, request: web.Request) -> web.Response:
    body, _ = await read_model(request, RekeyRequest)
    now = svc.clock()
    if svc.db.one("SELECT 1 FROM sites WHERE site_id = ?", (body.site_id,)) is None:
        raise ApiError(404, "Appliance not provisioned")
    appliance_id = appliance_id_for(body.site_id, body.mac_address)
    row = svc.db.one("SELECT * FROM appliances WHERE appliance_id = ?", (appliance_id,))
    if row is None:
        raise ApiError(404, "Unknown appliance")
    hardware_id = (body.hardware_id or "").strip() or None
    if hardware_id and row["hardware_id"] and row["hardware_id"] != hardware_id:
        log.warning(
            "central.rekey_hw_mismatch", "rekey with a different hardware id", appliance_id=appliance_id
        )
        raise ApiError(403, "Hardware ID mismatch")
    last = svc.rekey_times.get(appliance_id)
    if last is not None and now - last < REKEY_INTERVAL_S:
        wait = max(1, math.ceil(REKEY_INTERVAL_S - (now - last)))
        raise ApiError(429, f"Rekey rate limited. Retry in {wait}s")
    key = generate_api_key()
    with svc.db.transaction() as conn:
        conn.execute(
            "UPDATE api_keys SET status = 'deactivated' WHERE appliance_id = ? AND kind = 'appliance'"
            " AND status = 'active'",
            (appliance_id,),
        )
        conn.execute(
            "INSERT INTO api_keys (key_hash, site_id, appliance_id, kind, status, created_at)"
            " VALUES (?, ?, ?, 'appliance', 'active', ?)",
            (hash_key(key), body.site_id, appliance_id, now),
        )
        if hardware_id and not row["hardware_id"]:
            conn.execute(
                "UPDATE appliances SET hardware_id = ? WHERE appliance_id = ?", (hardware_id, appliance_id)
            )
    svc.rekey_times[appliance_id] = now
    svc.db.add_record("rekey", body.site_id, appliance_id, now, {"hostname": body.hostname})
    log.info("central.rekey", "issued a new API key", appliance_id=appliance_id)
    return json_response({"status": "rekeyed", "api_key": key, "appliance_id": appliance_id})
