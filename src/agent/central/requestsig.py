"""Server-side verdicts for the request signature (central-api.md §4.4) and the heartbeat signature
(§4.5) of a checkin.

Sigauth: the identity key is learned from ``agent_identity_public_key`` and stored only after that
same request's signature verified with it, so the first checkin with a new key is recorded as
``unknown_pubkey``. ±60 s skew; a nonce seen in the last 2 hours (per key) is ``nonce_replay``.
Reasons are checked in the server's order: ``no_headers``, ``bad_timestamp``, ``clock_skew``,
``bad_nonce``, ``nonce_replay``, ``unknown_pubkey``, ``bad_signature_format``,
``invalid_signature`` (``exception`` for anything unexpected).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from agent.central.db import Database
from agent.central.util import is_hex64, to_datetime
from agent.crypto import verify_heartbeat, verify_request
from agent.crypto.sigauth import H_NONCE
from agent.log import get_logger

log = get_logger("central")

NONCE_TTL_S = 2 * 3600
HEARTBEAT_SEARCH_S = 60
_PRE_SIGNATURE = frozenset({"no_headers", "bad_timestamp", "clock_skew", "bad_nonce"})
_NO_KEY = b"\x00" * 32


@dataclass(frozen=True, slots=True)
class SigauthResult:
    verdict: str  # "ok" or a reason
    learn_key: str | None  # identity key (lower hex) to store for the appliance


class SigauthVerifier:
    """Evaluates checkin request signatures; owns the nonce replay store (``sigauth_nonces``)."""

    def __init__(self, db: Database, clock: Callable[[], float]) -> None:
        self._db = db
        self._clock = clock
        self._last_prune = 0.0

    def evaluate(
        self,
        stored_key: str | None,
        body_key: str | None,
        method: str,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
    ) -> SigauthResult:
        try:
            return self._evaluate(stored_key, body_key, method, path, body, headers)
        except Exception as exc:  # noqa: BLE001 - the server records "exception", never fails here
            log.warning("central.sigauth_exception", "sigauth verification raised", error=repr(exc))
            return SigauthResult("exception", None)

    def _evaluate(
        self,
        stored_key: str | None,
        body_key: str | None,
        method: str,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
    ) -> SigauthResult:
        now_ts = self._clock()
        now = to_datetime(now_ts)
        self._prune(now_ts)
        body_key = body_key.lower() if is_hex64(body_key) and body_key else None
        unknown = stored_key is None or (body_key is not None and body_key != stored_key)
        key_hex = body_key if unknown else stored_key
        key = bytes.fromhex(key_hex) if key_hex else _NO_KEY
        reason = verify_request(key, method, path, body, headers, now=now)
        if reason in _PRE_SIGNATURE:
            return SigauthResult(reason or "", None)
        nonce = {k.lower(): v for k, v in headers.items()}[H_NONCE.lower()]
        if key_hex and self._seen(key_hex, nonce, now_ts):
            return SigauthResult("nonce_replay", None)
        if unknown:
            if key_hex and reason is None:
                self._remember(key_hex, nonce, now_ts)
                return SigauthResult("unknown_pubkey", key_hex)
            return SigauthResult("unknown_pubkey", None)
        if reason is None:
            assert key_hex is not None
            self._remember(key_hex, nonce, now_ts)
            return SigauthResult("ok", None)
        return SigauthResult(reason, None)

    def _seen(self, key_hex: str, nonce: str, now: float) -> bool:
        row = self._db.one(
            "SELECT 1 FROM sigauth_nonces WHERE pubkey = ? AND nonce = ? AND seen_at > ?",
            (key_hex, nonce, now - NONCE_TTL_S),
        )
        return row is not None

    def _remember(self, key_hex: str, nonce: str, now: float) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO sigauth_nonces (pubkey, nonce, seen_at) VALUES (?, ?, ?)",
            (key_hex, nonce, now),
        )

    def _prune(self, now: float) -> None:
        if now - self._last_prune < 60:
            return
        self._last_prune = now
        self._db.execute("DELETE FROM sigauth_nonces WHERE seen_at <= ?", (now - NONCE_TTL_S,))


def heartbeat_verdict(
    public_key_hex: str | None,
    site_id: str,
    mac_address: str,
    agent_version: str,
    signature: str | None,
    timestamp: int | None,
    now: float,
) -> str:
    """``valid`` (path A: the sent timestamp), ``valid_path_b`` (no timestamp: ±60 s search like the
    Go daemon needed), ``invalid``, ``absent`` (no signature) or ``no_key``. Never fails a checkin."""
    if not signature:
        return "absent"
    if not is_hex64(public_key_hex) or public_key_hex is None:
        return "no_key"
    key = bytes.fromhex(public_key_hex)
    if timestamp is not None:
        ok = verify_heartbeat(key, site_id, mac_address, timestamp, agent_version, signature)
        return "valid" if ok else "invalid"
    base = int(now)
    for delta in range(-HEARTBEAT_SEARCH_S, HEARTBEAT_SEARCH_S + 1):
        if verify_heartbeat(key, site_id, mac_address, base + delta, agent_version, signature):
            return "valid_path_b"
    return "invalid"
