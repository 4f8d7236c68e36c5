"""SQLite storage of the local Central Command: one WAL connection owned by the server.

All access goes through :class:`Database`, whose methods take a lock, so the connection may be used
from the event-loop thread and from test threads alike. Statements are short (no network I/O while
the lock is held). JSON columns hold compact JSON text.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS server_keys (
    slot TEXT PRIMARY KEY,               -- 'current' | 'previous'
    seed_hex TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sites (
    site_id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    directives TEXT NOT NULL DEFAULT '{}',
    credentials TEXT,                    -- {"windows_targets": [...], "linux_targets": [...]} or NULL
    rules TEXT                           -- rule bundle list or NULL (default bundle)
);
CREATE TABLE IF NOT EXISTS api_keys (
    key_hash TEXT PRIMARY KEY,           -- SHA-256 hex of the key; the key itself is never stored
    site_id TEXT NOT NULL,
    appliance_id TEXT,
    kind TEXT NOT NULL DEFAULT 'site',   -- site | appliance | watchdog
    status TEXT NOT NULL DEFAULT 'active', -- active | deactivated | revoked
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS appliances (
    appliance_id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL,
    mac_address TEXT NOT NULL,
    hostname TEXT,
    identity_pubkey TEXT,
    agent_pubkey TEXT,
    encryption_pubkey TEXT,
    hardware_id TEXT,
    sigauth_enforce INTEGER NOT NULL DEFAULT 0,
    boot_counter INTEGER NOT NULL DEFAULT 0,
    ip_addresses TEXT NOT NULL DEFAULT '[]',
    agent_version TEXT,
    first_seen REAL,
    last_seen REAL
);
CREATE INDEX IF NOT EXISTS appliances_site ON appliances(site_id);
CREATE TABLE IF NOT EXISTS sigauth_nonces (
    pubkey TEXT NOT NULL,
    nonce TEXT NOT NULL,
    seen_at REAL NOT NULL,
    PRIMARY KEY (pubkey, nonce)
);
CREATE TABLE IF NOT EXISTS orders (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id TEXT NOT NULL UNIQUE,       -- admin/healing: wire id; fleet: the fleet uuid
    kind TEXT NOT NULL,                  -- admin | healing | fleet
    site_id TEXT NOT NULL,
    appliance_id TEXT,                   -- target (admin, healing); NULL = bound at first delivery
    order_type TEXT NOT NULL,
    runbook_id TEXT,
    parameters TEXT NOT NULL,            -- the signed parameters
    extras TEXT NOT NULL DEFAULT '{}',   -- unsigned top-level parameter additions (healing selectors)
    nonce TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    priority INTEGER NOT NULL,
    signed_payload TEXT,                 -- NULL until bound (untargeted admin/healing orders)
    signature TEXT,
    status TEXT NOT NULL DEFAULT 'pending'  -- pending | delivered | completed | failed | cancelled
);
CREATE TABLE IF NOT EXISTS deliveries (
    order_id TEXT NOT NULL,
    appliance_id TEXT NOT NULL,
    delivered_at REAL NOT NULL,
    PRIMARY KEY (order_id, appliance_id)
);
CREATE TABLE IF NOT EXISTS completions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    wire_order_id TEXT NOT NULL,
    order_id TEXT NOT NULL,
    appliance_id TEXT,
    site_id TEXT NOT NULL,
    order_type TEXT NOT NULL,
    success INTEGER NOT NULL,
    result TEXT,
    error_message TEXT,
    completed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS evidence (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id TEXT NOT NULL,
    bundle_id TEXT NOT NULL UNIQUE,
    bundle_hash TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    chain_position INTEGER NOT NULL,
    current_hash TEXT NOT NULL,
    check_type TEXT,
    checked_at TEXT NOT NULL,
    received_at REAL NOT NULL,
    agent_public_key TEXT NOT NULL,
    agent_signature TEXT NOT NULL,
    signed_data TEXT NOT NULL,
    hash_matches INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS evidence_site ON evidence(site_id, chain_position);
CREATE TABLE IF NOT EXISTS incidents (
    incident_id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL,
    host_id TEXT NOT NULL,
    incident_type TEXT NOT NULL,
    check_type TEXT,
    severity TEXT NOT NULL,
    status TEXT NOT NULL,                -- open | resolved
    created_at REAL NOT NULL,
    resolved_at REAL,
    report TEXT NOT NULL,
    resolution TEXT
);
CREATE TABLE IF NOT EXISTS reconcile_plans (
    plan_id TEXT PRIMARY KEY,
    appliance_id TEXT NOT NULL,
    wire TEXT NOT NULL,
    issued_at REAL NOT NULL,
    acked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS witness (
    bundle_id TEXT NOT NULL,
    witness_appliance TEXT NOT NULL,
    received_at REAL NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (bundle_id, witness_appliance)
);
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,                  -- checkin, logs, execution, l2, devices, ...
    site_id TEXT,
    appliance_id TEXT,
    received_at REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_kind ON records(kind, site_id);
"""


def dumps(value: Any) -> str:
    """Compact JSON text for a JSON column."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class Database:
    """The server's single SQLite connection (WAL, ``synchronous=NORMAL``), guarded by a lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._conn.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (rollback on error) under the lock."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement (autocommit); returns the number of changed rows."""
        with self._lock:
            return self._conn.execute(sql, params).rowcount

    def insert(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one INSERT; returns the new rowid."""
        with self._lock:
            rowid = self._conn.execute(sql, params).lastrowid
            return int(rowid or 0)

    def one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self._conn.execute(sql, params).fetchone()
            return row

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return list(self._conn.execute(sql, params).fetchall())

    def add_record(
        self, kind: str, site_id: str | None, appliance_id: str | None, when: float, data: Any
    ) -> int:
        """Append a received item to the generic ``records`` table."""
        return self.insert(
            "INSERT INTO records (kind, site_id, appliance_id, received_at, data) VALUES (?, ?, ?, ?, ?)",
            (kind, site_id, appliance_id, when, dumps(data)),
        )

    def records(self, kind: str, site_id: str | None = None) -> list[dict[str, Any]]:
        """Stored records of one kind (oldest first), each ``data`` plus ``received_at``/ids."""
        if site_id is None:
            rows = self.all("SELECT * FROM records WHERE kind = ? ORDER BY id", (kind,))
        else:
            rows = self.all(
                "SELECT * FROM records WHERE kind = ? AND site_id = ? ORDER BY id", (kind, site_id)
            )
        out = []
        for row in rows:
            item = dict(loads(row["data"]))
            item.setdefault("site_id", row["site_id"])
            item.setdefault("appliance_id", row["appliance_id"])
            item["received_at"] = row["received_at"]
            out.append(item)
        return out
