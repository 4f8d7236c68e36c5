"""Orders: issuing (signed per orders.md §2), delivery in checkin responses, completion (§7.1).

Three kinds, as on the real server:

* **admin**: one row per appliance, signed with ``target_appliance_id``; delivered once, then
  marked ``delivered``.
* **healing**: healing form (``runbook_id``, ``parameters: {}``, ``issued_at``), delivered once to
  **every** appliance of the site; like the real server (sites.py), the top-level ``parameters``
  carry only the unsigned ``incident_id`` (null when none): ``hostname``/``check_type`` are
  accepted when issuing but never delivered.
* **fleet**: signed ``order_id`` ``"0"`` and no target; delivered to every appliance of every site
  (no site filter, central-api.md §9) until that appliance completed it; a failed completion stops
  counting after 1 h, so the order comes again. Per-site fleet orders carry a signed
  ``parameters.site_id``.

An admin or healing order issued without ``appliance_id`` is signed when it is first delivered,
bound to the appliance that receives it (a convenience for demos that issue orders before the
agent's first checkin; the real server needs the appliance row first).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from msgspec import UNSET

from agent.central.auth import AuthContext
from agent.central.db import Database, dumps, loads
from agent.central.errors import ApiError
from agent.central.keys import ServerKeyring
from agent.central.util import iso, py_json
from agent.protocol.orders import Order, OrderCompletion

FLEET_PREFIX = "fleet::"
FLEET_RETRY_AFTER_FAILURE_S = 3600
MAX_RESULT_BYTES = 64 * 1024
MAX_ERROR_CHARS = 4096
_FLEET_CREATED_DELAY_S = 0.003  # the fleet row is inserted a few ms after the signed value
_HEALING_SELECTORS = ("hostname", "check_type", "incident_id")


class OrderBook:
    """Issues, delivers and completes orders; state lives in the ``orders``, ``deliveries`` and
    ``completions`` tables."""

    def __init__(self, db: Database, keys: ServerKeyring, clock: Callable[[], float]) -> None:
        self._db = db
        self._keys = keys
        self._clock = clock

    # ------------------------------------------------------------------ issuing

    def issue(
        self,
        site_id: str,
        order_type: str,
        parameters: dict[str, Any],
        *,
        appliance_id: str | None = None,
        ttl_s: int = 3600,
        fleet: bool = False,
        priority: int | None = None,
    ) -> str:
        if not order_type:
            raise ValueError("order_type must be non-empty")
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        params = json.loads(json.dumps(parameters))  # a JSON-clean deep copy
        if not isinstance(params, dict):
            raise ValueError("parameters must be a JSON object")
        now = self._clock()
        expires = now + ttl_s
        nonce = secrets.token_hex(16)
        extras: dict[str, Any] = {}
        runbook_id: str | None = None
        if fleet:
            kind = "fleet"
            order_id = str(uuid.uuid4())
            if site_id and "site_id" not in params:
                params["site_id"] = site_id
            prio = 5 if priority is None else priority
            appliance_id = None
        elif order_type == "healing":
            kind = "healing"
            order_id = secrets.token_hex(8)
            runbook_id = params.pop("runbook_id", None)
            if not isinstance(runbook_id, str) or not runbook_id:
                raise ValueError("a healing order needs parameters.runbook_id")
            extras = {k: params.pop(k) for k in _HEALING_SELECTORS if k in params}
            if params:
                raise ValueError(f"unexpected healing parameters: {sorted(params)}")
            prio = 10 if priority is None else priority
        else:
            kind = "admin"
            stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%d%H%M%S")
            order_id = f"ORD-{stamp}-{secrets.token_hex(4)}"
            prio = 0 if priority is None else priority
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT INTO orders (order_id, kind, site_id, appliance_id, order_type, runbook_id,"
                " parameters, extras, nonce, created_at, expires_at, priority)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    order_id,
                    kind,
                    site_id,
                    appliance_id,
                    order_type,
                    runbook_id,
                    dumps(params),
                    dumps(extras),
                    nonce,
                    now,
                    expires,
                    prio,
                ),
            )
            row = conn.execute("SELECT * FROM orders WHERE order_id = ?", (order_id,)).fetchone()
            if kind == "fleet" or appliance_id is not None:
                self._sign(conn, row, appliance_id)
        return order_id

    def _signed_object(self, row: sqlite3.Row, appliance_id: str | None) -> dict[str, Any]:
        params = loads(row["parameters"])
        if row["kind"] == "healing":
            return {
                "order_id": row["order_id"],
                "runbook_id": row["runbook_id"],
                "parameters": {},
                "nonce": row["nonce"],
                "issued_at": iso(row["created_at"]),
                "expires_at": iso(row["expires_at"]),
                "target_appliance_id": appliance_id,
            }
        obj: dict[str, Any] = {
            "order_id": "0" if row["kind"] == "fleet" else row["order_id"],
            "order_type": row["order_type"],
            "parameters": params,
            "nonce": row["nonce"],
            "created_at": iso(row["created_at"]),
            "expires_at": iso(row["expires_at"]),
        }
        if row["kind"] == "admin":
            obj["target_appliance_id"] = appliance_id
        return obj

    def _sign(self, conn: sqlite3.Connection, row: sqlite3.Row, appliance_id: str | None) -> None:
        payload = py_json(self._signed_object(row, appliance_id))
        conn.execute(
            "UPDATE orders SET appliance_id = ?, signed_payload = ?, signature = ? WHERE order_id = ?",
            (appliance_id, payload, self._keys.sign_text(payload), row["order_id"]),
        )

    def cancel(self, order_id: str) -> None:
        self._db.execute("UPDATE orders SET status = 'cancelled' WHERE order_id = ?", (order_id,))

    # ------------------------------------------------------------------ delivery

    def deliver(self, site_id: str, appliance_id: str, now: float) -> list[Order]:
        """The orders for one checkin, in the server's order (admin by priority then age, healing,
        fleet); admin orders are marked delivered, healing deliveries recorded per appliance."""
        out: list[Order] = []
        with self._db.transaction() as conn:
            admin = conn.execute(
                "SELECT * FROM orders WHERE kind = 'admin' AND site_id = ? AND status = 'pending'"
                " AND expires_at > ? AND (appliance_id = ? OR appliance_id IS NULL)"
                " ORDER BY priority DESC, seq",
                (site_id, now, appliance_id),
            ).fetchall()
            healing = conn.execute(
                "SELECT * FROM orders o WHERE kind = 'healing' AND site_id = ?"
                " AND status IN ('pending', 'delivered') AND expires_at > ?"
                " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.order_id = o.order_id"
                " AND d.appliance_id = ?) ORDER BY seq",
                (site_id, now, appliance_id),
            ).fetchall()
            fleet = conn.execute(
                "SELECT * FROM orders o WHERE kind = 'fleet' AND status != 'cancelled' AND expires_at > ?"
                " AND NOT EXISTS (SELECT 1 FROM completions c WHERE c.order_id = o.order_id"
                " AND c.appliance_id = ? AND (c.success = 1 OR c.completed_at > ?)) ORDER BY seq",
                (now, appliance_id, now - FLEET_RETRY_AFTER_FAILURE_S),
            ).fetchall()
            for row in [*admin, *healing, *fleet]:
                if row["signed_payload"] is None:
                    self._sign(conn, row, appliance_id)
                    row = conn.execute(
                        "SELECT * FROM orders WHERE order_id = ?", (row["order_id"],)
                    ).fetchone()
                out.append(self._wire(row, appliance_id))
                if row["kind"] == "admin":
                    conn.execute(
                        "UPDATE orders SET status = 'delivered' WHERE order_id = ?", (row["order_id"],)
                    )
                conn.execute(
                    "INSERT OR REPLACE INTO deliveries (order_id, appliance_id, delivered_at)"
                    " VALUES (?, ?, ?)",
                    (row["order_id"], appliance_id, now),
                )
        return out

    def _wire(self, row: sqlite3.Row, appliance_id: str) -> Order:
        params = loads(row["parameters"])
        if row["kind"] == "fleet":
            return Order(
                order_id=f"{FLEET_PREFIX}{row['order_id']}::{appliance_id}",
                order_type=row["order_type"],
                parameters={**params, "fleet_order_id": row["order_id"]},
                priority=row["priority"],
                created_at=iso(row["created_at"] + _FLEET_CREATED_DELAY_S),
                expires_at=iso(row["expires_at"]),
                nonce=row["nonce"],
                signature=row["signature"],
                signed_payload=row["signed_payload"],
            )
        if row["kind"] == "healing":
            # As sites.py delivers them: the stored parameters are lost on the way (hostname,
            # check_type and runbook_id never reach the appliance), only the linked incident's id
            # is added, null when the order is linked to none.
            return Order(
                order_id=row["order_id"],
                order_type="healing",
                runbook_id=row["runbook_id"],
                parameters={"incident_id": loads(row["extras"]).get("incident_id")},
                priority=row["priority"],
                created_at=iso(row["created_at"]),
                expires_at=iso(row["expires_at"]),
                nonce=row["nonce"],
                signature=row["signature"],
                signed_payload=row["signed_payload"],
            )
        return Order(
            order_id=row["order_id"],
            order_type=row["order_type"],
            runbook_id=UNSET,
            parameters=params,
            priority=row["priority"],
            created_at=iso(row["created_at"]),
            expires_at=iso(row["expires_at"]),
            nonce=row["nonce"],
            signature=row["signature"],
            signed_payload=row["signed_payload"],
        )

    # ------------------------------------------------------------------ completion

    def complete(self, ctx: AuthContext, wire_id: str, body: OrderCompletion) -> dict[str, Any]:
        """Record a completion; returns the 200 body or raises ApiError (400/403/404)."""
        now = self._clock()
        result = body.result
        if result is not None:
            size = len(dumps(result).encode())
            if size > MAX_RESULT_BYTES:
                result = {"_truncated": True, "_original_bytes": size}
        error = body.error_message[:MAX_ERROR_CHARS] if body.error_message is not None else None
        if wire_id.startswith(FLEET_PREFIX):
            return self._complete_fleet(ctx, wire_id, body.success, result, error, now)
        row = self._db.one(
            "SELECT * FROM orders WHERE order_id = ? AND kind IN ('admin', 'healing')", (wire_id,)
        )
        if row is None:
            raise ApiError(404, f"Order {wire_id} not found")
        if row["site_id"] != ctx.site_id:
            raise ApiError(403, "Order does not belong to this site")
        if ctx.appliance_id and row["appliance_id"] and row["appliance_id"] != ctx.appliance_id:
            raise ApiError(403, "Order does not belong to this appliance")
        status = row["status"]
        if status in ("completed", "failed"):
            return {
                "status": "already_completed",
                "order_id": wire_id,
                "message": f"Order {wire_id} already {status}",
            }
        if status == "cancelled" or (status == "pending" and row["expires_at"] <= now):
            shown = "expired" if status == "pending" else status
            raise ApiError(400, f"Order {wire_id} is in status '{shown}', cannot complete")
        new_status = "completed" if body.success else "failed"
        delivered = self._db.one(
            "SELECT MIN(delivered_at) AS t FROM deliveries WHERE order_id = ?", (wire_id,)
        )
        started = delivered["t"] if delivered is not None and delivered["t"] is not None else None
        with self._db.transaction() as conn:
            conn.execute("UPDATE orders SET status = ? WHERE order_id = ?", (new_status, wire_id))
            conn.execute(
                "INSERT INTO completions (wire_order_id, order_id, appliance_id, site_id, order_type,"
                " success, result, error_message, completed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    wire_id,
                    wire_id,
                    row["appliance_id"],
                    row["site_id"],
                    row["order_type"],
                    int(body.success),
                    dumps(result),
                    error,
                    now,
                ),
            )
        return {
            "status": new_status,
            "order_id": wire_id,
            "order_type": row["order_type"],
            "completed_at": iso(now),
            "appliance_id": row["appliance_id"],
            "site_id": row["site_id"],
            "execution_time_ms": round((now - started) * 1000, 3) if started is not None else None,
            "success": body.success,
            "result": result,
        }

    def _complete_fleet(
        self,
        ctx: AuthContext,
        wire_id: str,
        success: bool,
        result: dict[str, Any] | None,
        error: str | None,
        now: float,
    ) -> dict[str, Any]:
        parts = wire_id.split("::", 2)
        fleet_id = parts[1] if len(parts) == 3 else ""
        appliance_id = parts[2] if len(parts) == 3 else ""
        row = self._db.one("SELECT * FROM orders WHERE order_id = ? AND kind = 'fleet'", (fleet_id,))
        if row is None:
            raise ApiError(404, f"Order {wire_id} not found")
        appliance = self._db.one("SELECT site_id FROM appliances WHERE appliance_id = ?", (appliance_id,))
        if appliance is None or appliance["site_id"] != ctx.site_id:
            raise ApiError(403, "Order does not belong to this site")
        if ctx.appliance_id and ctx.appliance_id != appliance_id:
            raise ApiError(403, "Order does not belong to this appliance")
        done = self._db.one(
            "SELECT success FROM completions WHERE order_id = ? AND appliance_id = ?"
            " AND (success = 1 OR completed_at > ?)",
            (fleet_id, appliance_id, now - FLEET_RETRY_AFTER_FAILURE_S),
        )
        if done is not None:
            return {
                "status": "already_completed",
                "order_id": wire_id,
                "message": f"Fleet order already {'completed' if done['success'] else 'failed'}",
            }
        self._db.insert(
            "INSERT INTO completions (wire_order_id, order_id, appliance_id, site_id, order_type,"
            " success, result, error_message, completed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                wire_id,
                fleet_id,
                appliance_id,
                ctx.site_id,
                row["order_type"],
                int(success),
                dumps(result),
                error,
                now,
            ),
        )
        return {
            "status": "completed" if success else "failed",
            "order_id": wire_id,
            "order_type": row["order_type"],
            "completed_at": iso(now),
        }

    # ------------------------------------------------------------------ read side

    def completions(self, site_id: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM completions"
        params: tuple[Any, ...] = ()
        if site_id is not None:
            sql += " WHERE site_id = ?"
            params = (site_id,)
        rows = self._db.all(sql + " ORDER BY id", params)
        return [
            {
                "order_id": r["wire_order_id"],
                "base_order_id": r["order_id"],
                "appliance_id": r["appliance_id"],
                "site_id": r["site_id"],
                "order_type": r["order_type"],
                "success": bool(r["success"]),
                "result": loads(r["result"]),
                "error_message": r["error_message"],
                "completed_at": iso(r["completed_at"]),
            }
            for r in rows
        ]

    def orders(self, site_id: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM orders"
        params: tuple[Any, ...] = ()
        if site_id is not None:
            sql += " WHERE site_id = ?"
            params = (site_id,)
        return [
            {
                "order_id": r["order_id"],
                "kind": r["kind"],
                "site_id": r["site_id"],
                "appliance_id": r["appliance_id"],
                "order_type": r["order_type"],
                "status": r["status"],
                "signed_payload": r["signed_payload"],
                "signature": r["signature"],
            }
            for r in self._db.all(sql + " ORDER BY seq", params)
        ]
