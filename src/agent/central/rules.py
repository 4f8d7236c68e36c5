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
    # Two of the standard rules the real server sends every site (main.py agent_sync_rules),
    # with its parameterised actions.
    *(
        {"id": rid, "name": name, "description": desc,
         "conditions": [{"field": "check_type", "operator": "eq", "value": check},
                        {"field": "status", "operator": "in", "value": ["warning", "fail", "error"]}],
         "actions": actions, "severity": sev, "cooldown_seconds": cooldown, "max_retries": retries,
         "source": "builtin"}
        for rid, name, desc, check, actions, sev, cooldown, retries in (
            ("L1-NTP-001", "NTP Drift Remediation", "Restart chronyd when NTP sync drifts",
             "ntp_sync", ["restart_service:chronyd"], "medium", 300, 2),
            ("L1-SERVICE-001", "Critical Service Recovery", "Restart failed critical services",
             "critical_services", ["restart_service:sshd", "restart_service:chronyd"], "high",
             600, 3),
        )
    ),
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
