"""Rekey: ``POST /api/provision/rekey`` (central-api.md §4.3). No authentication, not signed."""

from __future__ import annotations

import re
from typing import ClassVar

from msgspec import Struct

from agent.protocol._secret import masked_repr

REKEY_PATH = "/api/provision/rekey"
DEFAULT_RETRY_SECONDS = 3600
_API_KEY = re.compile(r"[A-Za-z0-9_-]{40,}", re.ASCII)
_RETRY_IN = re.compile(r"Retry in (\d+)\s*s", re.ASCII)


class RekeyRequest(Struct, kw_only=True, omit_defaults=True):
    """The request body; ``hardware_id`` is omitted when unreadable."""

    site_id: str
    mac_address: str
    hostname: str | None = None
    hardware_id: str | None = None


class RekeyResponse(Struct, kw_only=True):
    """200 body ``{"status": "rekeyed", "api_key", "appliance_id"}``; ``api_key`` is a secret."""

    _secrets: ClassVar[frozenset[str]] = frozenset({"api_key"})

    status: str = ""
    api_key: str = ""
    appliance_id: str = ""

    def __repr__(self) -> str:
        return masked_repr(self, self._secrets)


def is_valid_api_key(key: str) -> bool:
    """At least 40 characters of the URL-safe base64 alphabet (§4.3)."""
    return _API_KEY.fullmatch(key) is not None


def rekey_retry_seconds(detail: str) -> int:
    """Seconds to wait from a 429 detail ``Rekey rate limited. Retry in <N>s`` (default 3600)."""
    m = _RETRY_IN.search(detail)
    return int(m.group(1)) if m else DEFAULT_RETRY_SECONDS
