"""The heartbeat signature in the checkin body, with the evidence key (central-api.md §4.5).

``payload = site_id|UPPER(mac)|unix_seconds|agent_version``; the evidence key signs SHA-256(payload)
(the 32-byte digest). Send ``heartbeat_signature`` together with ``heartbeat_timestamp`` (§10 a).
"""

from __future__ import annotations

import hashlib
import time

from agent.crypto.keys import Ed25519Key, verify_ed25519


def heartbeat_payload(site_id: str, mac_address: str, timestamp: int, agent_version: str) -> bytes:
    """The UTF-8 payload whose SHA-256 digest is signed."""
    return f"{site_id}|{mac_address.upper()}|{int(timestamp)}|{agent_version}".encode()


def sign_heartbeat(
    key: Ed25519Key, site_id: str, mac_address: str, timestamp: int, agent_version: str
) -> str:
    """``heartbeat_signature``: 128 lower-hex chars."""
    digest = hashlib.sha256(heartbeat_payload(site_id, mac_address, timestamp, agent_version))
    return key.sign(digest.digest()).hex()


def verify_heartbeat(
    public_key: bytes,
    site_id: str,
    mac_address: str,
    timestamp: int,
    agent_version: str,
    signature_hex: str,
) -> bool:
    """Server-side check of a heartbeat signature ("path A": the sent timestamp only)."""
    try:
        signature = bytes.fromhex(signature_hex)
    except ValueError:
        return False
    if len(signature) != 64:
        return False
    digest = hashlib.sha256(heartbeat_payload(site_id, mac_address, timestamp, agent_version))
    return verify_ed25519(public_key, digest.digest(), signature)


def heartbeat_fields(
    key: Ed25519Key,
    site_id: str,
    mac_address: str,
    agent_version: str,
    *,
    now: int | None = None,
) -> tuple[str, int]:
    """``(heartbeat_signature, heartbeat_timestamp)`` to put in the checkin body together (§10 a).

    ``mac_address`` and ``agent_version`` must be the exact strings sent in the same body.
    """
    timestamp = int(time.time()) if now is None else int(now)
    return sign_heartbeat(key, site_id, mac_address, timestamp, agent_version), timestamp
