"""``CentralCommand``: the local Central Command (server + admin API + read side for tests)."""

from __future__ import annotations

import json
import secrets
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from agent.central import directives as directives_mod
from agent.central.admin_http import admin_routes
from agent.central.artifacts import ArtifactStore
from agent.central.auth import generate_api_key, hash_key
from agent.central.context import Services
from agent.central.db import Database, dumps, loads
from agent.central.evidence import evidence_rows
from agent.central.faults import CapturedRequest, FaultInjector
from agent.central.keys import ServerKeyring
from agent.central.orders import OrderBook
from agent.central.provisioning import ProvisioningAdmin, install_schema
from agent.central.requestsig import SigauthVerifier
from agent.central.routes import build_app
from agent.central.util import iso, split_appliance_id
from agent.log import get_logger
from agent.protocol.codec import convert
from agent.protocol.credentials import LinuxTarget, WindowsTarget

log = get_logger("central")

_SITE_ID_MAX = 32


class CentralCommand:
    """A faithful local implementation of Central Command's agent-facing API.

    Construct, :meth:`start` (binds; :attr:`port` and :attr:`url` are then set), use the admin
    methods, :meth:`stop`. The admin methods and the read side also work without starting the
    server (the CLI uses them directly on the database).
    """

    def __init__(
        self,
        db_path: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        signing_seed: bytes | None = None,
        previous_signing_seed: bytes | None = None,
        clock: Callable[[], float] = time.time,
        admin_token: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.admin_token = admin_token or secrets.token_urlsafe(24)
        self._clock = clock
        self._db = Database(Path(db_path))
        self._keys = ServerKeyring(self._db, clock(), seed=signing_seed, previous_seed=previous_signing_seed)
        self._faults = FaultInjector()
        self._orders = OrderBook(self._db, self._keys, clock)
        self._svc = Services(
            db=self._db,
            keys=self._keys,
            orders=self._orders,
            sigauth=SigauthVerifier(self._db, clock),
            faults=self._faults,
            clock=clock,
            url=lambda: self.url,
        )
        self._runner: web.AppRunner | None = None
        install_schema(self._db)
        #: First-boot enrollment set-up: ISO release CAs, provision codes, MAC registrations.
        self.provisioning = ProvisioningAdmin(self._db, clock)
        #: Files served for download orders (``GET /updates/<name>``).
        self.artifacts = ArtifactStore()

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    async def start(self) -> None:
        if self._runner is not None:
            raise RuntimeError("already started")
        app = build_app(self._svc, [*admin_routes(self), *self.artifacts.routes()])
        runner = web.AppRunner(
            app, access_log=None, auto_decompress=False, handle_signals=False, shutdown_timeout=5.0
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, ssl_context=self.ssl_context)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        log.info(
            "central.started",
            "local Central Command listening",
            url=self.url,
            server_key=self._keys.current.fingerprint,
        )

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            log.info("central.stopped", "local Central Command stopped")

    def close(self) -> None:
        """Close the database (after :meth:`stop`)."""
        self._db.close()

    # ------------------------------------------------------------------ admin

    def create_site(self, site_id: str) -> None:
        if not site_id or len(site_id) > _SITE_ID_MAX:
            raise ValueError("site_id must be 1-32 characters")
        self._db.execute(
            "INSERT OR IGNORE INTO sites (site_id, created_at) VALUES (?, ?)", (site_id, self._clock())
        )

    def _require_site(self, site_id: str) -> dict[str, Any]:
        site = self._svc.site_row(site_id)
        if site is None:
            raise KeyError(f"unknown site {site_id!r}")
        return site

    def create_api_key(self, site_id: str, *, appliance_id: str | None = None) -> str:
        """A new key for the site (or one appliance); only its SHA-256 is stored."""
        self._require_site(site_id)
        key = generate_api_key()
        self._db.execute(
            "INSERT INTO api_keys (key_hash, site_id, appliance_id, kind, status, created_at)"
            " VALUES (?, ?, ?, ?, 'active', ?)",
            (hash_key(key), site_id, appliance_id, "appliance" if appliance_id else "site", self._clock()),
        )
        return key

    def _set_key_status(self, key: str, status: str) -> None:
        if (
            self._db.execute("UPDATE api_keys SET status = ? WHERE key_hash = ?", (status, hash_key(key)))
            == 0
        ):
            raise KeyError("unknown API key")

    def deactivate_api_key(self, key: str) -> None:
        """Later requests answer ``AUTH_KEY_MISMATCH`` (or ``Invalid API key`` if unidentified)."""
        self._set_key_status(key, "deactivated")

    def revoke_api_key(self, key: str) -> None:
        """Later requests answer ``bearer_revoked``."""
        self._set_key_status(key, "revoked")

    def set_sigauth_enforce(self, appliance_id: str, enforce: bool) -> None:
        row = self._db.one("SELECT 1 FROM appliances WHERE appliance_id = ?", (appliance_id,))
        if row is None:
            parts = split_appliance_id(appliance_id)
            if parts is None:
                raise ValueError("appliance_id must be <site>-<MAC>")
            self._require_site(parts[0])
            self._db.execute(
                "INSERT INTO appliances (appliance_id, site_id, mac_address) VALUES (?, ?, ?)",
                (appliance_id, parts[0], parts[1]),
            )
        self._db.execute(
            "UPDATE appliances SET sigauth_enforce = ? WHERE appliance_id = ?", (int(enforce), appliance_id)
        )

    def set_hardware_id(self, appliance_id: str, hardware_id: str | None) -> None:
        self._db.execute(
            "UPDATE appliances SET hardware_id = ? WHERE appliance_id = ?", (hardware_id, appliance_id)
        )

    def issue_order(
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
        """Sign and queue an order for the next checkin; returns the order id (for fleet orders the
        fleet uuid; the wire id is ``fleet::<uuid>::<appliance_id>``)."""
        if not fleet:
            self._require_site(site_id)
        return self._orders.issue(
            site_id,
            order_type,
            parameters,
            appliance_id=appliance_id,
            ttl_s=ttl_s,
            fleet=fleet,
            priority=priority,
        )

    def issue_sample_order(
        self,
        site_id: str,
        order_type: str,
        *,
        appliance_id: str | None = None,
        parameters: dict[str, Any] | None = None,
        ttl_s: int = 3600,
    ) -> str:
        """Issue a "must" order type (orders.md §10) the way the real server does (admin, fleet or
        healing form) with the catalog's valid parameters, updated by ``parameters``."""
        from agent.central.ordertypes import sample_parameters

        params, kind = sample_parameters(order_type)
        params.update(parameters or {})
        return self.issue_order(
            site_id,
            order_type,
            params,
            appliance_id=None if kind == "fleet" else appliance_id,
            ttl_s=ttl_s,
            fleet=kind == "fleet",
        )

    def set_server_l1(self, site_id: str, runbooks: dict[str, str]) -> None:
        """The server's L1 table for a site (incident_type -> server runbook id): an incident
        report matching it gets a healing order as the real server issues them (signed
        parameters ``{}``, only ``incident_id`` unsigned, the server's runbook id)."""
        self._require_site(site_id)
        self._svc.l1_runbooks[site_id] = dict(runbooks)

    def cancel_order(self, order_id: str) -> None:
        self._orders.cancel(order_id)

    def set_credentials(
        self, site_id: str, windows_targets: list[dict[str, Any]], linux_targets: list[dict[str, Any]]
    ) -> None:
        """Targets sent in the encrypted envelope (plaintext lists if the appliance sent no
        ``encryption_public_key``). Entries are validated with the protocol models."""
        self._require_site(site_id)
        convert(windows_targets, list[WindowsTarget], "windows_targets")
        convert(linux_targets, list[LinuxTarget], "linux_targets")
        creds = {"windows_targets": windows_targets, "linux_targets": linux_targets}
        self._db.execute("UPDATE sites SET credentials = ? WHERE site_id = ?", (dumps(creds), site_id))

    def clear_credentials(self, site_id: str) -> None:
        self._db.execute("UPDATE sites SET credentials = NULL WHERE site_id = ?", (site_id,))

    def set_directives(self, site_id: str, **kw: Any) -> None:
        """``disabled_checks``, ``maintenance_until``, ``billing_hold``, ``billing_status``,
        ``l2_confidence_threshold``, ``trigger_enumeration``, ``trigger_immediate_scan`` (one-shot),
        ``enabled_runbooks``, ``client_alert_mode``, ``compliance_framework`` and the overrides
        ``target_assignments``, ``mesh_peers``, ``peer_bundle_hashes``, ``pending_deploys``."""
        site = self._require_site(site_id)
        updates = directives_mod.validate(json.loads(json.dumps(kw)))
        merged = {**site["directives"], **updates}
        self._db.execute("UPDATE sites SET directives = ? WHERE site_id = ?", (dumps(merged), site_id))

    def set_rules(self, site_id: str, rules: list[Any] | None) -> None:
        """The site's L1 rule bundle for ``/agent/sync`` (``None``: the default bundle)."""
        self._require_site(site_id)
        self._db.execute(
            "UPDATE sites SET rules = ? WHERE site_id = ?", (None if rules is None else dumps(rules), site_id)
        )

    def rotate_signing_key(self, new_seed: bytes | None = None) -> None:
        """New current key; the old current becomes previous."""
        self._keys.rotate(self._clock(), new_seed)
        log.info("central.key_rotated", "server signing key rotated", current=self._keys.current.fingerprint)

    @property
    def server_public_key(self) -> str:
        return self._keys.current.public_hex

    @property
    def server_public_keys(self) -> list[str]:
        return self._keys.public_keys

    def inject_fault(
        self,
        path: str,
        *,
        status: int | None = None,
        body: bytes | None = None,
        delay_s: float = 0,
        count: int = 1,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        """The next ``count`` requests to ``path`` (decoded or raw, no query) wait ``delay_s`` and,
        if ``status`` is given, get that status/body/headers instead of the real handler."""
        self._faults.add(
            path,
            status=status,
            body=body,
            delay_s=delay_s,
            count=count,
            headers=headers,
            content_type=content_type,
        )

    @property
    def evidence_duplicate_status(self) -> int:
        """409 (default) or 500: how a duplicate evidence submission is answered (the live
        server answers 500, central-api.md §9)."""
        return self._svc.evidence_duplicate_status

    @evidence_duplicate_status.setter
    def evidence_duplicate_status(self, status: int) -> None:
        if status not in (409, 500):
            raise ValueError("duplicate evidence answers 409 or 500")
        self._svc.evidence_duplicate_status = status

    def capture_requests(self) -> list[CapturedRequest]:
        """Record every request from now on, as it arrived (before parsing); the live list."""
        if self._faults.capture is None:
            self._faults.capture = []
        return self._faults.capture

    def clear_faults(self) -> None:
        self._faults.clear()

    # ------------------------------------------------------------------ read side

    def checkins(self, site_id: str | None = None) -> list[dict[str, Any]]:
        """Per checkin: ``time``, ``appliance_id``, ``http_status``, ``sigauth`` (``ok`` or the
        reason), ``heartbeat`` verdict, ``orders_delivered`` and request fields of interest."""
        return self._db.records("checkin", site_id)

    def completions(self, site_id: str | None = None) -> list[dict[str, Any]]:
        return self._orders.completions(site_id)

    def orders(self, site_id: str | None = None) -> list[dict[str, Any]]:
        return self._orders.orders(site_id)

    def evidence(self, site_id: str | None = None) -> list[dict[str, Any]]:
        return evidence_rows(self._svc, site_id)

    def logs(self, site_id: str | None = None) -> list[dict[str, Any]]:
        return self._db.records("logs", site_id)

    def executions(self, site_id: str | None = None) -> list[dict[str, Any]]:
        return self._db.records("execution", site_id)

    def incidents(self, site_id: str | None = None) -> list[dict[str, Any]]:
        sql, params = "SELECT * FROM incidents", ()
        if site_id is not None:
            sql, params = sql + " WHERE site_id = ?", (site_id,)  # type: ignore[assignment]
        return [
            {
                "incident_id": r["incident_id"],
                "site_id": r["site_id"],
                "host_id": r["host_id"],
                "incident_type": r["incident_type"],
                "check_type": r["check_type"],
                "severity": r["severity"],
                "status": r["status"],
                "created_at": iso(r["created_at"]),
                "resolved_at": iso(r["resolved_at"]) if r["resolved_at"] is not None else None,
                "report": loads(r["report"]),
                "resolution": loads(r["resolution"]),
            }
            for r in self._db.all(sql + " ORDER BY created_at", params)
        ]

    def records(self, kind: str, site_id: str | None = None) -> list[dict[str, Any]]:
        """Other received items by kind: ``l2``, ``devices``, ``security_events``, ``mesh_ack``,
        ``reconcile_ack``, ``install_session``, ``rekey``, ``watchdog_bootstrap``,
        ``evidence_network``."""
        return self._db.records(kind, site_id)

    def connected_agents(self, site_id: str | None = None) -> list[dict[str, Any]]:
        """The workstation agents each appliance listed in its latest accepted checkin
        (central-api.md §6.2: agents not listed are disconnected), with its ``appliance_id``."""
        latest: dict[str, dict[str, Any]] = {}
        for rec in self._db.records("checkin", site_id):
            if rec.get("http_status", 200) == 200 and rec.get("appliance_id"):
                latest[rec["appliance_id"]] = rec
        return [{**agent, "appliance_id": appliance_id}
                for appliance_id, rec in latest.items()
                for agent in rec.get("connected_agent_list", [])]

    def witness_attestations(self, site_id: str | None = None) -> list[dict[str, Any]]:
        rows = self._db.all("SELECT * FROM witness ORDER BY received_at")
        out = [{**loads(r["data"]), "witness_appliance": r["witness_appliance"]} for r in rows]
        return [w for w in out if site_id is None or w.get("site_id") == site_id]

    def appliances(self, site_id: str | None = None) -> list[dict[str, Any]]:
        sql, params = "SELECT * FROM appliances", ()
        if site_id is not None:
            sql, params = sql + " WHERE site_id = ?", (site_id,)  # type: ignore[assignment]
        return [
            {
                "appliance_id": r["appliance_id"],
                "site_id": r["site_id"],
                "mac_address": r["mac_address"],
                "hostname": r["hostname"],
                "identity_pubkey": r["identity_pubkey"],
                "agent_pubkey": r["agent_pubkey"],
                "encryption_pubkey": r["encryption_pubkey"],
                "sigauth_enforce": bool(r["sigauth_enforce"]),
                "boot_counter": r["boot_counter"],
                "hardware_id": r["hardware_id"],
                "agent_version": r["agent_version"],
            }
            for r in self._db.all(sql + " ORDER BY appliance_id", params)
        ]
