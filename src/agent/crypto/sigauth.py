"""Request signatures ("sigauth") with the identity key (central-api.md §4.4).

Signed bytes: ``METHOD\\nPATH\\nsha256hex(body)\\nTIMESTAMP\\nNONCE`` (no trailing newline),
Ed25519 directly over them. Hash and send the **same** buffer; fresh nonce and timestamp per attempt.
:func:`verify_request` is the server side (local Central Command and tests).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime

from agent.crypto.keys import Ed25519Key, verify_ed25519
from agent.protocol.errors import ProtocolError
from agent.protocol.timefmt import format_utc, parse_timestamp

H_SIGNATURE = "X-Appliance-Signature"
H_TIMESTAMP = "X-Appliance-Timestamp"
H_NONCE = "X-Appliance-Nonce"
H_FINGERPRINT = "X-Appliance-Pubkey-Fingerprint"
EMPTY_BODY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_SKEW_SECONDS = 60

_NONCE = re.compile(r"[0-9a-f]{32}", re.ASCII)
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", re.ASCII)
_SIG_B64 = re.compile(r"[A-Za-z0-9_-]{86}", re.ASCII)

Body = bytes | bytearray | memoryview


def new_nonce() -> str:
    """32 lower-hex chars from 16 fresh random bytes."""
    return secrets.token_hex(16)


def signed_message(method: str, path: str, body: Body, timestamp: str, nonce: str) -> bytes:
    """The exact bytes that are signed (path without its query string)."""
    path = path.split("?", 1)[0]
    body_hash = hashlib.sha256(body).hexdigest()
    return f"{method.upper()}\n{path}\n{body_hash}\n{timestamp}\n{nonce}".encode("ascii")


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def sign_request(
    key: Ed25519Key,
    method: str,
    path: str,
    body: Body = b"",
    *,
    now: datetime | int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The four ``X-Appliance-*`` headers for one request attempt.

    ``now`` and ``nonce`` default to the current UTC time and a fresh random nonce; pass them only
    in tests.
    """
    timestamp = format_utc(now if now is not None else datetime.now(UTC))
    nonce = nonce if nonce is not None else new_nonce()
    signature = key.sign(signed_message(method, path, body, timestamp, nonce))
    return {
        H_SIGNATURE: _b64url(signature),
        H_TIMESTAMP: timestamp,
        H_NONCE: nonce,
        H_FINGERPRINT: key.fingerprint,
    }


def verify_request(
    public_key: bytes,
    method: str,
    path: str,
    body: Body,
    headers: Mapping[str, str],
    *,
    now: datetime | None = None,
    max_skew: int = MAX_SKEW_SECONDS,
) -> str | None:
    """Check a request signature like Central Command does; ``None`` if valid, else the reason
    (``no_headers``, ``bad_timestamp``, ``clock_skew``, ``bad_nonce``, ``bad_signature_format``,
    ``invalid_signature``). Nonce replay is the caller's store (``nonce_replay``)."""
    lower = {k.lower(): v for k, v in headers.items()}
    sig_text = lower.get(H_SIGNATURE.lower())
    timestamp = lower.get(H_TIMESTAMP.lower())
    nonce = lower.get(H_NONCE.lower())
    if not sig_text or not timestamp or not nonce:
        return "no_headers"
    if not _TIMESTAMP.fullmatch(timestamp):
        return "bad_timestamp"
    try:
        when = parse_timestamp(timestamp)
    except ProtocolError:
        return "bad_timestamp"
    current = now if now is not None else datetime.now(UTC)
    if abs((current - when).total_seconds()) > max_skew:
        return "clock_skew"
    if not _NONCE.fullmatch(nonce):
        return "bad_nonce"
    if not _SIG_B64.fullmatch(sig_text):
        return "bad_signature_format"
    try:
        signature = base64.urlsafe_b64decode(sig_text + "==")
    except (binascii.Error, ValueError):
        return "bad_signature_format"
    message = signed_message(method, path, body, timestamp, nonce)
    return None if verify_ed25519(public_key, message, signature) else "invalid_signature"
