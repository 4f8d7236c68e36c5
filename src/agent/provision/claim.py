"""The installer image's claim certificate and the claim-v2 CSR (byte-exact with the server).

Canonical forms, as ``iso_ca_helpers.py`` on the server builds them:

* certificate: the five payload fields as JSON with sorted keys and no spaces
  (``{"ca_pubkey_hex":…,"iso_release_sha":…,"issued_at":…,"valid_until":…,"version":1}``);
* CSR: seven lines joined by ``\\n`` (no trailing newline): ``site_id``, MAC upper-case,
  identity public key lower-hex, ``hardware_id`` or empty, nonce lower-hex (16 random bytes),
  timestamp ``YYYY-MM-DDTHH:MM:SSZ``, the canonical certificate JSON;
* signatures: Ed25519, base64url **without padding** (86 characters).

The certificate is checked here before anything is sent (Go ``LoadClaimCertFrom``): its
``ca_pubkey_hex`` must equal the bundled CA key (``claim-ca.pub``), it must not have expired
(``valid_until``), and the CA signature must verify. The server additionally checks that the CA is
registered for the certificate's ``iso_release_sha``, unrevoked and within its validity window.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import msgspec

from agent.crypto.keys import Ed25519Key, KeyFormatError, public_key_from_hex, verify_ed25519
from agent.protocol.provision import ClaimCert, ClaimCertPayload, ClaimV2Request
from agent.provision.errors import ClaimCertError
from agent.timefmt import format_rfc3339, parse_rfc3339

MAX_CERT_BYTES = 64 * 1024


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def b64url_decode(text: str) -> bytes:
    """Strict base64url with the padding left off (as the server decodes it)."""
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


def canonical_cert(payload: ClaimCertPayload) -> bytes:
    doc = {"ca_pubkey_hex": payload.ca_pubkey_hex, "iso_release_sha": payload.iso_release_sha,
           "issued_at": payload.issued_at, "valid_until": payload.valid_until,
           "version": payload.version}
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8")


def canonical_csr(*, site_id: str, mac_address: str, agent_pubkey_hex: str, hardware_id: str | None,
                  nonce: str, timestamp: str, payload: ClaimCertPayload) -> bytes:
    lines = (site_id, mac_address.upper(), agent_pubkey_hex.lower(), hardware_id or "",
             nonce.lower(), timestamp, canonical_cert(payload).decode("utf-8"))
    return "\n".join(lines).encode("utf-8")


@dataclass(frozen=True, slots=True)
class VerifiedClaim:
    cert: ClaimCert
    valid_until: datetime

    @property
    def iso_release_sha(self) -> str:
        return self.cert.payload.iso_release_sha


def load_claim_cert(cert_path: Path, ca_path: Path, now: datetime) -> VerifiedClaim | None:
    """The verified certificate; ``None`` when ``cert_path`` does not exist (no claim flow on this
    image); :class:`ClaimCertError` when it exists but must not be used."""
    try:
        raw = cert_path.read_bytes()[:MAX_CERT_BYTES + 1]
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ClaimCertError("unreadable", f"cannot read {cert_path}: {exc.strerror}") from None
    if len(raw) > MAX_CERT_BYTES:
        raise ClaimCertError("malformed", f"{cert_path} is larger than {MAX_CERT_BYTES} bytes")
    try:
        bundled = ca_path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise ClaimCertError("ca_missing", f"claim certificate present but its CA key {ca_path} is "
                             "missing (corrupt installer image)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ClaimCertError("ca_missing", f"cannot read the CA key {ca_path}: {exc}") from None
    try:
        cert = msgspec.json.decode(raw, type=ClaimCert)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ClaimCertError("malformed", f"claim certificate is not valid: {exc}") from None
    try:
        ca_key = public_key_from_hex(bundled.lower())
    except KeyFormatError:
        raise ClaimCertError("ca_malformed", f"{ca_path} does not hold a 64-hex Ed25519 key") from None
    if cert.payload.ca_pubkey_hex != bundled:
        raise ClaimCertError("foreign_ca", "claim certificate names CA "
                             f"{cert.payload.ca_pubkey_hex[:16]}…, not the bundled CA {bundled[:16]}… "
                             "(certificate from another image)")
    if cert.algorithm != "ed25519":
        raise ClaimCertError("malformed", f"claim certificate algorithm {cert.algorithm!r} is not ed25519")
    try:
        valid_until = parse_rfc3339(cert.payload.valid_until)
    except ValueError:
        raise ClaimCertError("malformed", "claim certificate valid_until is not RFC 3339") from None
    if now > valid_until:
        raise ClaimCertError("expired", f"claim certificate expired at {cert.payload.valid_until} "
                             f"(now {format_rfc3339(now)})")
    try:
        sig = b64url_decode(cert.signature_b64)
    except (binascii.Error, ValueError):
        raise ClaimCertError("bad_signature", "claim certificate signature is not base64url") from None
    if len(sig) != 64 or not verify_ed25519(ca_key, canonical_cert(cert.payload), sig):
        raise ClaimCertError("bad_signature", "claim certificate signature does not verify against "
                             "the bundled CA key")
    return VerifiedClaim(cert, valid_until)


def build_csr(identity: Ed25519Key, claim: VerifiedClaim, *, site_id: str, mac_address: str,
              hardware_id: str | None, now: datetime, nonce: str | None = None) -> ClaimV2Request:
    """The claim-v2 request, signed by the appliance's identity key."""
    nonce = nonce or secrets.token_hex(16)
    timestamp = format_rfc3339(now)
    mac = mac_address.upper()
    pub = identity.public_hex.lower()
    signed = canonical_csr(site_id=site_id, mac_address=mac, agent_pubkey_hex=pub,
                           hardware_id=hardware_id, nonce=nonce, timestamp=timestamp,
                           payload=claim.cert.payload)
    return ClaimV2Request(site_id=site_id, mac_address=mac, agent_pubkey_hex=pub,
                          hardware_id=hardware_id or None, nonce=nonce, timestamp=timestamp,
                          claim_cert=claim.cert, csr_signature_b64=b64url(identity.sign(signed)))
