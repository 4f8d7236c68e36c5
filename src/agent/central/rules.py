"""``GET /agent/sync?site_id=`` (orders.md §7): the signed L1 rule bundle.

The signature covers Python ``json.dumps(rules, sort_keys=True)`` and is made with the current
server key. A site without its own rules gets :data:`DEFAULT_RULES`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from agent.central.keys import ServerKeyring
from agent.central.util import py_json

DEFAULT_RULES: list[dict[str, Any]] = [
    {
        "id": "CC-L1-NTP-001",
        "name": "Restore time sync on Linux hosts",
        "description": "Linux host reports NTP not synchronized",
        "conditions": [
            {"field": "check_type", "operator": "eq", "value": "linux_ntp_sync"},
            {"field": "drift_detected", "operator": "eq", "value": True},
        ],
        "actions": ["run_linux_runbook:LIN-NTP-001"],
        "action_params": {},
        "hipaa_controls": ["164.312(b)"],
        "severity_filter": [],
        "enabled": True,
        "priority": 10,
        "cooldown_seconds": 300,
    },
]


def rule_bundle(keys: ServerKeyring, rules: list[Any] | None) -> dict[str, Any]:
    body = DEFAULT_RULES if rules is None else rules
    text = py_json(body)
    return {
        "rules": body,
        "healing_tier": "standard",
        "version": hashlib.sha256(text.encode("utf-8")).hexdigest()[:12],
        "count": len(body),
        "signature": keys.sign_text(text),
        "server_public_key": keys.current.public_hex,
    }
