"""Test helper: build orders exactly as Central Command signs them (orders.md §2)."""

from __future__ import annotations

import json
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from agent.crypto.keys import Ed25519Key

APPLIANCE = "clinic-a-52:54:00:AB:CD:EF"
SITE = "clinic-a"
KEY = Ed25519Key(bytes(range(32)))
OTHER_KEY = Ed25519Key(bytes(range(128, 160)))
NOW = datetime(2026, 5, 20, 15, 0, 0, tzinfo=UTC)


def py_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def sign(payload: dict[str, Any], key: Ed25519Key = KEY) -> tuple[str, str]:
    text = py_json(payload)
    return text, key.sign(text.encode()).hex()


def admin(order_type: str, parameters: dict[str, Any] | None = None, *, now: datetime = NOW,
          ttl: timedelta = timedelta(hours=1), key: Ed25519Key = KEY,
          appliance_id: str = APPLIANCE, nonce: str | None = None) -> dict[str, Any]:
    params = parameters or {}
    order_id = f"ORD-{now:%Y%m%d%H%M%S}-{secrets.token_hex(4)}"
    signed = {"order_id": order_id, "order_type": order_type, "parameters": params,
              "nonce": nonce or secrets.token_hex(16), "created_at": now.isoformat(),
              "expires_at": (now + ttl).isoformat(), "target_appliance_id": appliance_id}
    text, sig = sign(signed, key)
    return {"order_id": order_id, "order_type": order_type, "parameters": json.loads(json.dumps(params)),
            "priority": 0, "created_at": signed["created_at"], "expires_at": signed["expires_at"],
            "nonce": signed["nonce"], "signature": sig, "signed_payload": text}


def fleet(order_type: str, parameters: dict[str, Any] | None = None, *, now: datetime = NOW,
          ttl: timedelta = timedelta(hours=24), key: Ed25519Key = KEY,
          appliance_id: str = APPLIANCE) -> dict[str, Any]:
    params = parameters or {}
    fid = str(uuid.uuid4())
    signed = {"order_id": "0", "order_type": order_type, "parameters": params,
              "nonce": secrets.token_hex(16), "created_at": now.isoformat(),
              "expires_at": (now + ttl).isoformat()}
    text, sig = sign(signed, key)
    return {"order_id": f"fleet::{fid}::{appliance_id}", "order_type": order_type,
            "parameters": {**params, "fleet_order_id": fid}, "priority": 5,
            "created_at": (now + timedelta(milliseconds=4)).isoformat(),
            "expires_at": signed["expires_at"], "nonce": signed["nonce"], "signature": sig,
            "signed_payload": text}


def healing(runbook_id: str, selectors: dict[str, Any], *, now: datetime = NOW,
            key: Ed25519Key = KEY, appliance_id: str = APPLIANCE) -> dict[str, Any]:
    order_id = secrets.token_hex(8)
    signed = {"order_id": order_id, "runbook_id": runbook_id, "parameters": {},
              "nonce": secrets.token_hex(16), "issued_at": now.isoformat(),
              "expires_at": (now + timedelta(minutes=15)).isoformat(),
              "target_appliance_id": appliance_id}
    text, sig = sign(signed, key)
    return {"order_id": order_id, "order_type": "healing", "runbook_id": runbook_id,
            "parameters": {"runbook_id": runbook_id, **selectors}, "priority": 10,
            "created_at": signed["issued_at"], "expires_at": signed["expires_at"],
            "nonce": signed["nonce"], "signature": sig, "signed_payload": text}
