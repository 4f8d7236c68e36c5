"""Bearer-key authentication (central-api.md §4.1, §4.2).

Keys are 43-char URL-safe strings; only their SHA-256 hex is stored. The row gives the site and,
for per-appliance keys, the appliance. 401 bodies are exactly the server's.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from agent.central.db import Database
from agent.central.errors import ApiError

MISSING_HEADER = "Missing or invalid Authorization header"
EMPTY_KEY = "Empty API key"
INVALID_KEY = "Invalid API key"
REVOKED = "bearer_revoked"
KEY_MISMATCH = {"error": "API key mismatch", "code": "AUTH_KEY_MISMATCH"}


def generate_api_key() -> str:
    """A new API key: 32 random bytes, URL-safe base64 without padding (43 chars)."""
    return secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class AuthContext:
    """Who a request's Bearer key belongs to."""

    site_id: str
    appliance_id: str | None
    kind: str  # site | appliance | watchdog
    key_hash: str


def bearer_token(request: web.Request) -> str:
    """The Bearer token, or ApiError(401) for a missing/empty header."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        raise ApiError(401, MISSING_HEADER)
    token = token.strip()
    if not token:
        raise ApiError(401, EMPTY_KEY)
    return token


def authenticate(
    db: Database,
    request: web.Request,
    *,
    identify: Callable[[], str | None] | None = None,
) -> AuthContext:
    """Resolve the Bearer key or raise the §4.2 401.

    ``identify`` returns the appliance a failed request can be attributed to (the checkin body's
    ``<site>-<MAC>`` when that appliance is known); with one, an unknown or deactivated key answers
    ``AUTH_KEY_MISMATCH`` instead of ``Invalid API key``.
    """
    token = bearer_token(request)
    key_hash = hash_key(token)
    row = db.one("SELECT * FROM api_keys WHERE key_hash = ?", (key_hash,))
    if row is not None and row["status"] == "active":
        return AuthContext(
            site_id=row["site_id"], appliance_id=row["appliance_id"], kind=row["kind"], key_hash=key_hash
        )
    if row is not None and row["status"] == "revoked":
        raise ApiError(401, REVOKED)
    identified = row["appliance_id"] if row is not None else None
    if identified is None and identify is not None:
        identified = identify()
    raise ApiError(401, KEY_MISMATCH if identified else INVALID_KEY)


def require_site(ctx: AuthContext, site_id: object, detail: str = "Site ID mismatch") -> None:
    """403 when a site named in the URL or body differs from the key's site (§4.1)."""
    if site_id != ctx.site_id:
        raise ApiError(403, detail)
