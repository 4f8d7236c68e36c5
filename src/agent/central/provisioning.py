"""First-boot enrollment as the real server does it: claim-v2, the provision-code claim, MAC lookup.

Written from the server's code, independently of the agent's :mod:`agent.provision` (so each side
checks the other):

* ``POST /api/provision/claim-v2`` (``iso_ca.py``): the claim certificate's ``iso_release_sha``
  must name a registered, unrevoked ISO release CA whose validity window contains *now*; the
  certificate's ``ca_pubkey_hex`` must equal the registered key and its signature (base64url,
  padding restored, 64 bytes) must verify over ``json.dumps(payload, sort_keys=True,
  separators=(",", ":"))``; the CSR signature must verify under ``agent_pubkey_hex`` over the
  seven lines ``site_id``, MAC upper-case, pubkey lower-case, ``hardware_id`` or "", nonce
  lower-case, timestamp, canonical certificate JSON joined by ``\\n``. Every failure is a 401
  ``{"error": ..., "code": ...}``. Like the server, the certificate's own ``valid_until``, the
  request timestamp and the nonce are **not** checked here (the agent checks ``valid_until``).
  Success registers the key, mints a per-appliance API key (earlier ones deactivated) and answers
  ``{appliance_id, fingerprint, claim_event_id, api_key}``, unsigned.
* ``POST /api/provision/claim`` (``provisioning.py``): 404 ``Invalid provision code``; 400
  ``Provision code already claimed`` / ``Provision code is <status>`` / ``Provision code
  expired``; success answers ``status: claimed``, ``site_id``, ``appliance_id``,
  ``api_endpoint``, ``api_key``, ``partner``, ``config: {}``, unsigned.
* ``GET /api/provision/{mac}``: a MAC registered to a site gets a freshly minted key in
  ``{"config": {site_id, appliance_id, api_key, api_endpoint, ssh_authorized_keys},
  "signature": hex Ed25519 over json.dumps(config, sort_keys=True)}`` (plus flat duplicates);
  otherwise ``{"status": "unclaimed", "retry_seconds": 60, ...}`` (an unknown MAC is
  registered as unclaimed).

Also the ISO build pipeline's side (:func:`mint_claim_cert`), for the demo and tests.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.signing
from aiohttp import web

from agent.central.auth import generate_api_key, hash_key
from agent.central.context import Services, parse_json, require_object
from agent.central.db import Database
from agent.central.errors import ApiError, json_response, value_issue
from agent.log import get_logger
from agent.timefmt import format_rfc3339

log = get_logger("central")

SCHEMA = """
CREATE TABLE IF NOT EXISTS iso_release_cas (
    iso_release_sha TEXT PRIMARY KEY,
    ca_pubkey_hex TEXT NOT NULL,
    valid_from REAL NOT NULL,
    valid_until REAL NOT NULL,
    revoked_at REAL
);
CREATE TABLE IF NOT EXISTS provision_codes (
    code TEXT PRIMARY KEY,
    target_site_id TEXT,
    client_name TEXT,
    status TEXT NOT NULL DEFAULT 'pending',
    expires_at REAL,
    claimed_by_mac TEXT,
    claimed_appliance_id TEXT
);
CREATE TABLE IF NOT EXISTS mac_provisioning (
    mac_address TEXT PRIMARY KEY,
    site_id TEXT,
    ssh_authorized_keys TEXT NOT NULL DEFAULT '[]',
    registered_at REAL NOT NULL,
    provisioned_at REAL
);
CREATE TABLE IF NOT EXISTS claim_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id TEXT NOT NULL,
    mac_address TEXT NOT NULL,
    agent_pubkey_hex TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    iso_release_sha TEXT NOT NULL,
    hardware_id TEXT,
    claimed_at REAL NOT NULL
);
"""

UNCLAIMED_RETRY_S = 60


def install_schema(db: Database) -> None:
    for statement in SCHEMA.split(";"):
        if statement.strip():
            db.execute(statement)


# --- the server's canonical forms ------------------------------------------------------------


def cert_bytes(payload: dict[str, Any]) -> bytes:
    """What the ISO CA signs: sorted keys, no spaces (the server's ``canonical_cert``)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")


def csr_bytes(req: dict[str, Any], cert_payload: dict[str, Any]) -> bytes:
    """What the appliance's identity key signs (the server's ``canonical_csr``)."""
    lines = [
        req["site_id"],
        req["mac_address"].upper(),
        req["agent_pubkey_hex"].lower(),
        req.get("hardware_id") or "",
        req["nonce"].lower(),
        req["timestamp"],
        json.dumps(cert_payload, sort_keys=True, separators=(",", ":")),
    ]
    return "\n".join(lines).encode("utf-8")


def signed_config_text(config: dict[str, Any]) -> str:
    """What the MAC lookup signs: ``json.dumps(config, sort_keys=True)`` (default separators)."""
    return json.dumps(config, sort_keys=True)


def _unpadded_b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * ((4 - len(text) % 4) % 4))


def _verifies(pub_hex: str, message: bytes, sig_b64: str) -> bool | None:
    """True/False; None if the signature is not 64 bytes of base64url."""
    try:
        sig = _unpadded_b64url(sig_b64)
    except (binascii.Error, ValueError):
        return None
    if len(sig) != 64:
        return None
    try:
        nacl.signing.VerifyKey(bytes.fromhex(pub_hex)).verify(message, sig)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError, TypeError):
        return False
    return True


def fingerprint_of(pub_hex: str) -> str:
    return hashlib.sha256(bytes.fromhex(pub_hex)).hexdigest()[:16]


def normalize_mac(mac: str) -> str:
    clean = mac.upper().replace(":", "").replace("-", "").replace(".", "")
    return ":".join(clean[i:i + 2] for i in range(0, len(clean), 2))


# --- the ISO build pipeline ------------------------------------------------------------------


def mint_claim_cert(ca_seed: bytes, iso_release_sha: str, *, issued_at: float,
                    valid_until: float) -> dict[str, Any]:
    """A claim certificate as the ISO build pipeline mints it (``claim.cert`` content)."""
    ca = nacl.signing.SigningKey(ca_seed)
    payload = {
        "iso_release_sha": iso_release_sha,
        "ca_pubkey_hex": bytes(ca.verify_key).hex(),
        "issued_at": format_rfc3339(issued_at),
        "valid_until": format_rfc3339(valid_until),
        "version": 1,
    }
    sig = ca.sign(cert_bytes(payload)).signature
    return {"payload": payload, "signature_b64": base64.urlsafe_b64encode(sig).decode().rstrip("="),
            "algorithm": "ed25519"}


# --- request validation (the server's pydantic models) ---------------------------------------


def _string(data: dict[str, Any], key: str, lo: int = 0, hi: int | None = None, *,
            optional: bool = False, prefix: tuple[str, ...] = ()) -> str | None:
    value = data.get(key)
    loc: list[str | int] = ["body", *prefix, key]
    if value is None:
        if optional:
            return None
        raise ApiError(422, [{"type": "missing", "loc": loc, "msg": "Field required"}])
    if not isinstance(value, str):
        raise ApiError(422, [{"type": "string_type", "loc": loc, "msg": "Input should be a valid string"}])
    if len(value) < lo or (hi is not None and len(value) > hi):
        raise value_issue(loc, f"String should have between {lo} and {hi} characters", "string_length")
    return value


def _claim_v2_body(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], str]:
    req: dict[str, Any] = {
        "site_id": _string(data, "site_id", 1, 50),
        "mac_address": _string(data, "mac_address", 11, 17),
        "agent_pubkey_hex": _string(data, "agent_pubkey_hex", 64, 64),
        "hardware_id": _string(data, "hardware_id", 0, 255, optional=True),
        "nonce": _string(data, "nonce", 32, 32),
        "timestamp": _string(data, "timestamp"),
        "csr_signature_b64": _string(data, "csr_signature_b64"),
    }
    cert = require_object(data.get("claim_cert"))
    raw = require_object(cert.get("payload"))
    where = ("claim_cert", "payload")
    payload: dict[str, Any] = {  # model_dump(): exactly these five fields, in this order
        "iso_release_sha": _string(raw, "iso_release_sha", 40, 64, prefix=where),
        "ca_pubkey_hex": _string(raw, "ca_pubkey_hex", 64, 64, prefix=where),
        "issued_at": _string(raw, "issued_at", prefix=where),
        "valid_until": _string(raw, "valid_until", prefix=where),
        "version": raw.get("version"),
    }
    if not isinstance(payload["version"], int) or isinstance(payload["version"], bool):
        raise value_issue(["body", *where, "version"], "Input should be a valid integer", "int_type")
    sig = _string(cert, "signature_b64", prefix=("claim_cert",))
    assert sig is not None
    return req, payload, sig


def _refuse(code: str, error: str = "claim cert invalid") -> ApiError:
    return ApiError(401, {"error": error, "code": code})


# --- handlers --------------------------------------------------------------------------------


async def handle_claim_v2(svc: Services, request: web.Request) -> web.Response:
    req, payload, cert_sig = _claim_v2_body(require_object(parse_json(await request.read())))
    now = svc.clock()
    mac = req["mac_address"].upper()
    row = svc.db.one("SELECT * FROM iso_release_cas WHERE iso_release_sha = ?",
                     (payload["iso_release_sha"],))
    code = None
    if row is None:
        code = "unknown_iso_release"
    elif row["revoked_at"] is not None:
        code = "ca_revoked"
    elif not row["valid_from"] <= now <= row["valid_until"]:
        code = "ca_outside_validity_window"
    elif payload["ca_pubkey_hex"] != row["ca_pubkey_hex"]:
        code = "ca_pubkey_mismatch"
    else:
        ok = _verifies(row["ca_pubkey_hex"], cert_bytes(payload), cert_sig)
        code = None if ok else ("bad_cert_signature_format" if ok is None else "cert_signature_invalid")
    if code is not None:
        log.warning("central.claim_v2_refused", "claim certificate refused", code=code,
                    site_id=req["site_id"], mac=mac)
        raise _refuse(code)
    if not _verifies(req["agent_pubkey_hex"], csr_bytes(req, payload), req["csr_signature_b64"]):
        log.warning("central.claim_v2_refused", "CSR signature refused", site_id=req["site_id"], mac=mac)
        raise _refuse("bad_csr_signature", "csr signature invalid")
    site_id = req["site_id"]
    pub = req["agent_pubkey_hex"].lower()
    fp = fingerprint_of(pub)
    appliance_id = f"{site_id}-{mac}"
    key = generate_api_key()
    with svc.db.transaction() as conn:
        event_id = conn.execute(
            "INSERT INTO claim_events (site_id, mac_address, agent_pubkey_hex, fingerprint,"
            " iso_release_sha, hardware_id, claimed_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (site_id, mac, pub, fp, payload["iso_release_sha"], req["hardware_id"], now),
        ).lastrowid
        conn.execute("INSERT OR IGNORE INTO sites (site_id, created_at) VALUES (?, ?)", (site_id, now))
        conn.execute(
            "INSERT INTO appliances (appliance_id, site_id, mac_address, hostname, identity_pubkey)"
            " VALUES (?, ?, ?, 'pending', ?) ON CONFLICT (appliance_id) DO UPDATE SET"
            " identity_pubkey = excluded.identity_pubkey, mac_address = excluded.mac_address",
            (appliance_id, site_id, mac, pub),
        )
        _mint_appliance_key(conn, key, site_id, appliance_id, now)
    log.info("central.claim_v2", "appliance enrolled by claim certificate",
             appliance_id=appliance_id, fingerprint=fp)
    return json_response({"appliance_id": appliance_id, "fingerprint": fp,
                          "claim_event_id": int(event_id or 0), "api_key": key})


def _mint_appliance_key(conn: Any, key: str, site_id: str, appliance_id: str, now: float) -> None:
    """A new active per-appliance key; earlier active ones are deactivated (Migration 209)."""
    conn.execute(
        "UPDATE api_keys SET status = 'deactivated' WHERE appliance_id = ? AND status = 'active'",
        (appliance_id,),
    )
    conn.execute(
        "INSERT INTO api_keys (key_hash, site_id, appliance_id, kind, status, created_at)"
        " VALUES (?, ?, ?, 'appliance', 'active', ?)",
        (hash_key(key), site_id, appliance_id, now),
    )


async def handle_claim(svc: Services, request: web.Request) -> web.Response:
    data = require_object(parse_json(await request.read()))
    code = (_string(data, "provision_code") or "").upper().strip()
    mac_in = _string(data, "mac_address") or ""
    hostname = _string(data, "hostname", optional=True)
    now = svc.clock()
    row = svc.db.one("SELECT * FROM provision_codes WHERE code = ?", (code,))
    if row is None:
        raise ApiError(404, "Invalid provision code")
    if row["status"] != "pending":
        if row["status"] == "claimed":
            raise ApiError(400, "Provision code already claimed")
        raise ApiError(400, f"Provision code is {row['status']}")
    if row["expires_at"] is not None and row["expires_at"] < now:
        svc.db.execute("UPDATE provision_codes SET status = 'expired' WHERE code = ?", (code,))
        raise ApiError(400, "Provision code expired")
    site_id = row["target_site_id"]
    if not site_id:
        base = (row["client_name"] or hostname or mac_in).lower()
        base = base.replace(" ", "-").replace(":", "-").replace(".", "-")
        base = "".join(c for c in base if c.isalnum() or c == "-")[:40]
        site_id = f"{base}-{secrets.token_hex(6)}"
    mac = normalize_mac(mac_in)
    appliance_id = f"{site_id}-{mac}"
    key = generate_api_key()
    with svc.db.transaction() as conn:
        conn.execute("INSERT OR IGNORE INTO sites (site_id, created_at) VALUES (?, ?)", (site_id, now))
        conn.execute(
            "INSERT INTO appliances (appliance_id, site_id, mac_address, hostname) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (appliance_id) DO UPDATE SET hostname = excluded.hostname",
            (appliance_id, site_id, mac_in.upper(), hostname),
        )
        conn.execute(
            "INSERT INTO api_keys (key_hash, site_id, appliance_id, kind, status, created_at)"
            " VALUES (?, ?, NULL, 'site', 'active', ?)",
            (hash_key(key), site_id, now),
        )
        conn.execute(
            "UPDATE provision_codes SET status = 'claimed', claimed_by_mac = ?,"
            " claimed_appliance_id = ? WHERE code = ?",
            (mac_in.upper(), appliance_id, code),
        )
    log.info("central.provision_claim", "provision code claimed", appliance_id=appliance_id)
    return json_response({
        "status": "claimed", "site_id": site_id, "appliance_id": appliance_id,
        "api_endpoint": svc.url(), "api_key": key,
        "partner": {"slug": "local", "brand_name": "Local Central Command", "primary_color": None,
                    "logo_url": None},
        "config": {}, "message": "Appliance provisioned successfully. Run initial discovery.",
    })


async def handle_mac(svc: Services, request: web.Request) -> web.Response:
    mac = request.match_info["mac"].upper().replace("-", ":")
    now = svc.clock()
    row = svc.db.one("SELECT * FROM mac_provisioning WHERE upper(mac_address) = ?", (mac,))
    if row is not None and row["site_id"]:
        site_id = row["site_id"]
        appliance_id = f"{site_id}-{mac}"
        key = generate_api_key()
        with svc.db.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO sites (site_id, created_at) VALUES (?, ?)",
                         (site_id, now))
            _mint_appliance_key(conn, key, site_id, appliance_id, now)
            conn.execute("UPDATE mac_provisioning SET provisioned_at = COALESCE(provisioned_at, ?)"
                         " WHERE upper(mac_address) = ?", (now, mac))
        ssh_keys = json.loads(row["ssh_authorized_keys"])
        config = {"site_id": site_id, "appliance_id": appliance_id, "api_key": key,
                  "api_endpoint": svc.url(), "ssh_authorized_keys": ssh_keys}
        signature = svc.keys.sign_text(signed_config_text(config))
        log.info("central.provision_mac", "signed config served for a registered MAC",
                 appliance_id=appliance_id)
        return json_response({"config": config, "signature": signature, "site_id": site_id,
                              "api_key": key, "api_endpoint": config["api_endpoint"],
                              "ssh_authorized_keys": ssh_keys})
    if row is None:
        svc.db.execute("INSERT INTO mac_provisioning (mac_address, registered_at) VALUES (?, ?)",
                       (mac, now))
    return json_response({"status": "unclaimed", "mac_address": mac,
                          "retry_seconds": UNCLAIMED_RETRY_S,
                          "message": "Appliance registered. Waiting for site assignment in the dashboard."})


def routes(bind: Callable[[Callable[[Services, web.Request], Any]], Any]) -> list[web.RouteDef]:
    return [
        web.post("/api/provision/claim-v2", bind(handle_claim_v2)),
        web.post("/api/provision/claim", bind(handle_claim)),
        web.get("/api/provision/{mac}", bind(handle_mac)),
    ]


# --- admin -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class IsoRelease:
    sha: str
    ca_seed: bytes

    @property
    def ca_public_hex(self) -> str:
        return bytes(nacl.signing.SigningKey(self.ca_seed).verify_key).hex()

    def __repr__(self) -> str:
        return f"IsoRelease(sha={self.sha!r})"


@dataclass
class ProvisioningAdmin:
    """What an operator (or the ISO build pipeline) sets up on the server side."""

    db: Database
    clock: Callable[[], float] = time.time

    def register_iso_ca(self, iso_release_sha: str, ca_pubkey_hex: str, *, valid_from: float,
                        valid_until: float) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO iso_release_cas (iso_release_sha, ca_pubkey_hex, valid_from,"
            " valid_until) VALUES (?, ?, ?, ?)", (iso_release_sha, ca_pubkey_hex, valid_from, valid_until))

    def revoke_iso_ca(self, iso_release_sha: str) -> None:
        self.db.execute("UPDATE iso_release_cas SET revoked_at = ? WHERE iso_release_sha = ?",
                        (self.clock(), iso_release_sha))

    def create_provision_code(self, site_id: str | None = None, *, client_name: str | None = None,
                              expires_at: float | None = None) -> str:
        code = secrets.token_hex(8).upper()
        self.db.execute(
            "INSERT INTO provision_codes (code, target_site_id, client_name, expires_at)"
            " VALUES (?, ?, ?, ?)", (code, site_id, client_name, expires_at))
        return code

    def register_mac(self, mac: str, site_id: str | None,
                     ssh_authorized_keys: list[str] | None = None) -> None:
        self.db.execute(
            "INSERT INTO mac_provisioning (mac_address, site_id, ssh_authorized_keys, registered_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (mac_address) DO UPDATE SET site_id = excluded.site_id,"
            " ssh_authorized_keys = excluded.ssh_authorized_keys",
            (mac.upper(), site_id, json.dumps(ssh_authorized_keys or []), self.clock()))

    def build_installer_image(self, root: Path, *, site_id: str, api_endpoint: str,
                              server_public_key: str, valid_for_s: float = 90 * 86400) -> IsoRelease:
        """The ISO build pipeline: a new release CA registered here, and the image's files in
        ``root`` (``claim.cert``, ``claim-ca.pub``, ``central-command.pub``, ``provision.yaml``)."""
        release = IsoRelease(secrets.token_hex(20), secrets.token_bytes(32))
        now = self.clock()
        self.register_iso_ca(release.sha, release.ca_public_hex, valid_from=now - 3600,
                             valid_until=now + 365 * 86400)
        root.mkdir(parents=True, exist_ok=True)
        cert = mint_claim_cert(release.ca_seed, release.sha, issued_at=now - 60,
                               valid_until=now + valid_for_s)
        (root / "claim.cert").write_text(json.dumps(cert, indent=2))
        (root / "claim-ca.pub").write_text(release.ca_public_hex + "\n")
        (root / "central-command.pub").write_text(server_public_key + "\n")
        (root / "provision.yaml").write_text(f"site_id: {site_id}\napi_endpoint: {api_endpoint}\n")
        return release

    def claim_events(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.all("SELECT * FROM claim_events ORDER BY id")]

    def unclaimed_macs(self) -> list[str]:
        return [r["mac_address"] for r in
                self.db.all("SELECT mac_address FROM mac_provisioning WHERE site_id IS NULL")]

