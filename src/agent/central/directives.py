"""Per-site directives sent in every checkin response (central-api.md §6.4).

``set_directives`` validates names and types; ``trigger_*`` flags are one-shot (cleared once
delivered). ``target_assignments``, ``mesh_peers``, ``peer_bundle_hashes``, ``pending_deploys`` and
``reconcile_plan`` may be overridden for tests (including the ``[]`` quirk values); without an
override the server computes them.
"""

from __future__ import annotations

from typing import Any

DEFAULTS: dict[str, Any] = {
    "disabled_checks": [],
    "maintenance_until": None,
    "billing_hold": False,
    "billing_status": "none",  # the real server: a site without a partner (free tier)
    "l2_confidence_threshold": 0.8,
    "trigger_enumeration": False,
    "trigger_immediate_scan": False,
    "enabled_runbooks": [],
    "client_alert_mode": "informed",
    "compliance_framework": "hipaa",
}
ONE_SHOT = ("trigger_enumeration", "trigger_immediate_scan")
OVERRIDES = ("target_assignments", "mesh_peers", "peer_bundle_hashes", "pending_deploys")

_TYPES: dict[str, tuple[type, ...]] = {
    "disabled_checks": (list,),
    "maintenance_until": (str, type(None)),
    "billing_hold": (bool,),
    "billing_status": (str, type(None)),
    "l2_confidence_threshold": (float, int, type(None)),
    "trigger_enumeration": (bool,),
    "trigger_immediate_scan": (bool,),
    "enabled_runbooks": (list,),
    "client_alert_mode": (str, type(None)),
    "compliance_framework": (str, type(None)),
    "target_assignments": (dict, list, type(None)),
    "mesh_peers": (list, type(None)),
    "peer_bundle_hashes": (list, type(None)),
    "pending_deploys": (list, type(None)),
}


def validate(updates: dict[str, Any]) -> dict[str, Any]:
    """Check names and types of directive updates; returns them unchanged or raises ValueError."""
    for name, value in updates.items():
        types = _TYPES.get(name)
        if types is None:
            raise ValueError(f"unknown directive {name!r}")
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise ValueError(f"directive {name!r} has the wrong type")
        if (
            isinstance(value, list)
            and name in ("disabled_checks", "enabled_runbooks")
            and not all(isinstance(v, str) for v in value)
        ):
            raise ValueError(f"directive {name!r} must be a list of strings")
    return updates


def effective(stored: dict[str, Any]) -> dict[str, Any]:
    """Defaults overlaid with the stored values."""
    return {**DEFAULTS, **stored}
