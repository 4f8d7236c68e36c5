"""L1 rule bundle: ``GET /agent/sync?site_id=<site>`` (orders.md §7).

``rules`` stays generic JSON: the signature covers Python ``json.dumps(rules, sort_keys=True)``,
which the verifier rebuilds from these values.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from msgspec import Struct


class RuleBundle(Struct, kw_only=True):
    """The response ``{rules, healing_tier, version, count, signature, server_public_key}``."""

    rules: list[Any]
    signature: str = ""
    healing_tier: str | None = None
    version: str | int | None = None
    count: int | None = None
    server_public_key: str | None = None


def rules_sync_path(site_id: str) -> str:
    """``/agent/sync?site_id=<site>`` (the site id query-encoded)."""
    return f"/agent/sync?site_id={quote(site_id, safe='')}"
