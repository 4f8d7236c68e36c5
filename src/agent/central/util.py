"""Small helpers shared by the local Central Command's modules (time text, canonical JSON)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

ZERO_HASH = "0" * 64
_MAC = re.compile(r"[0-9A-F]{2}(?::[0-9A-F]{2}){5}", re.ASCII)
_HEX64 = re.compile(r"[0-9a-fA-F]{64}", re.ASCII)


def iso(ts: float) -> str:
    """Python ``isoformat()`` of a UTC instant, as the server sends times (microseconds left out
    when zero)."""
    return datetime.fromtimestamp(ts, UTC).isoformat()


def to_datetime(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def py_json(value: Any) -> str:
    """Python ``json.dumps(value, sort_keys=True)``: what the server signs (orders.md §2)."""
    return json.dumps(value, sort_keys=True)


def normalize_mac(mac: str) -> str:
    """The server's MAC form (sites.py ``normalize_mac``): separators ``:``, ``-`` and ``.``
    dropped, upper case, a colon every two characters (``843a5b91b661`` and
    ``84-3A-5B-91-B6-61`` are ``84:3A:5B:91:B6:61``)."""
    clean = mac.upper().replace(":", "").replace("-", "").replace(".", "")
    return ":".join(clean[i:i + 2] for i in range(0, len(clean), 2))


def appliance_id_for(site_id: str, mac_address: str) -> str:
    """``<site>-<normalized MAC>`` (central-api.md §1; sites.py: from the normalized MAC)."""
    return f"{site_id}-{normalize_mac(mac_address)}"


def split_appliance_id(appliance_id: str) -> tuple[str, str] | None:
    """``(site_id, MAC)`` of an appliance id, or ``None`` if it does not end in a MAC."""
    if len(appliance_id) < 19 or appliance_id[-18] != "-":
        return None
    mac = appliance_id[-17:]
    if not _MAC.fullmatch(mac):
        return None
    return appliance_id[:-18], mac


def is_hex64(text: object) -> bool:
    return isinstance(text, str) and _HEX64.fullmatch(text) is not None
