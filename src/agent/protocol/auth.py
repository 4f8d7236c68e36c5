"""Classifying 401 bodies (central-api.md §4.2).

Only checkin 401s count towards rekey, and only the key-mismatch kinds. A signature-enforcement
rejection, a revoked bearer and local bugs never trigger a rekey.
"""

from __future__ import annotations

import enum

from msgspec import Struct

from agent.protocol.common import decode_error_body
from agent.protocol.errors import ProtocolError


class AuthFailureKind(enum.Enum):
    KEY_MISMATCH = "key_mismatch"  # {"error": "API key mismatch", "code": "AUTH_KEY_MISMATCH"}
    INVALID_KEY = "invalid_key"  # "Invalid API key", and anything unrecognised
    SIGAUTH_REJECTED = "sigauth_rejected"  # {"code": "SIGAUTH_ENFORCE_REJECTED", "reason": R}
    BEARER_REVOKED = "bearer_revoked"  # "bearer_revoked"
    LOCAL_BUG = "local_bug"  # "Missing or invalid Authorization header", "Empty API key"


_COUNTS = frozenset({AuthFailureKind.KEY_MISMATCH, AuthFailureKind.INVALID_KEY})


class AuthFailure(Struct, frozen=True, kw_only=True):
    """A classified 401; ``reason`` is the sigauth rejection reason (``clock_skew``, ...)."""

    kind: AuthFailureKind
    reason: str = ""

    @property
    def counts_towards_rekey(self) -> bool:
        return self.kind in _COUNTS


def classify_401(body: bytes | bytearray | memoryview | str) -> AuthFailure:
    """Classify a 401 response body; unparseable or unknown bodies are ``INVALID_KEY``."""
    try:
        detail = decode_error_body(body).detail
    except ProtocolError:
        return AuthFailure(kind=AuthFailureKind.INVALID_KEY)
    if isinstance(detail, dict):
        code = detail.get("code")
        if code == "AUTH_KEY_MISMATCH":
            return AuthFailure(kind=AuthFailureKind.KEY_MISMATCH)
        if code == "SIGAUTH_ENFORCE_REJECTED":
            reason = detail.get("reason")
            return AuthFailure(
                kind=AuthFailureKind.SIGAUTH_REJECTED,
                reason=reason if isinstance(reason, str) else "",
            )
    elif isinstance(detail, str):
        if detail == "bearer_revoked":
            return AuthFailure(kind=AuthFailureKind.BEARER_REVOKED)
        if detail in ("Missing or invalid Authorization header", "Empty API key"):
            return AuthFailure(kind=AuthFailureKind.LOCAL_BUG)
    return AuthFailure(kind=AuthFailureKind.INVALID_KEY)
