"""Every order type orders.md §10 marks "must", with parameters a conforming agent accepts.

The local Central Command signs whatever it is asked to (``CentralCommand.issue_order``); this
catalog gives the demo, the tests and the admin CLI a valid parameter set per type
(``CentralCommand.issue_sample_order``). Kept in step with the agent's registry by a test.
"""

from __future__ import annotations

import copy
from typing import Any

#: type -> (parameters, kind). ``kind`` is how the real server issues it: admin (targeted),
#: fleet, or healing (the incident pipeline form).
MUST_ORDER_TYPES: dict[str, tuple[dict[str, Any], str]] = {
    "force_checkin": ({"reason": "operator request"}, "admin"),
    "run_drift": ({}, "admin"),
    "sync_rules": ({}, "admin"),
    "restart_agent": ({}, "admin"),
    "update_iso": ({"version": "2026.05.1",
                    "iso_url": "https://release.osiriscare.net/iso/osiris-2026.05.1.iso",
                    "rollout_id": "rollout-1"}, "fleet"),
    "view_logs": ({"lines": 20}, "admin"),
    "diagnostic": ({"command": "uptime"}, "admin"),
    "deploy_sensor": ({"hostname": "ws01.clinic.local"}, "admin"),
    "remove_sensor": ({"hostname": "ws01.clinic.local"}, "admin"),
    "deploy_linux_sensor": ({"hostname": "lnx01.clinic.local"}, "admin"),
    "remove_linux_sensor": ({"hostname": "lnx01.clinic.local"}, "admin"),
    "sensor_status": ({}, "admin"),
    "sync_promoted_rule": ({
        "rule_id": "promoted-firewall-1",
        "rule_yaml": "id: promoted-firewall-1\nname: Firewall profile disabled\nconditions:\n"
                     "  - field: check_type\n    operator: eq\n    value: firewall_status\n"
                     "action: restore_firewall_baseline\n",
        "promoted_at": "2026-05-20T14:00:00+00:00"}, "fleet"),
    "healing": ({"runbook_id": "RB-WIN-FIREWALL-001", "hostname": "192.168.88.250",
                 "check_type": "firewall_status",
                 "incident_id": "44c6801e-a4ed-42a1-b610-faf28f2768ea"}, "healing"),
    "update_credentials": ({}, "admin"),
    "validate_credential": ({"credential_id": "cred-1", "hostname": "dc01.clinic.local",
                             "credential_type": "domain_admin"}, "admin"),
    "disable_healing": ({"reason": "maintenance"}, "admin"),
    "enable_healing": ({"reason": "maintenance over"}, "admin"),
    "disable_emergency_access": ({"reason": "installation finished"}, "admin"),
    "reprovision": ({"new_site_id": "relocated-clinic",
                     "new_api_key": "Zm9vYmFyYmF6cXV4cXV1eHh5enp5MDEyMzQ1Njc4OWFiY2Rl",
                     "restart_delay_sec": 5}, "admin"),
    "nix_gc": ({"older_than_days": 14, "optimise": True}, "fleet"),
    "clear_winrm_pin": ({"hostname": "dc01.clinic.local"}, "admin"),
    "nixos_rebuild": ({"flake_ref": "github:jbouey/msp-flake#osiriscare-appliance-disk"},
                      "fleet"),
    "update_daemon": ({"binary_url": "https://release.osiriscare.net/agent/msp-agent-9.0.0.tar",
                       "binary_sha256": "0" * 64, "version": "9.0.0"}, "fleet"),
    "update_agent": ({"package_url": "https://release.osiriscare.net/agent/osiris-agent.exe",
                      "binary_sha256": "0" * 64, "version": "0.4.1"}, "fleet"),
    "configure_workstation_agent": ({"hostname": "ws01.clinic.local"}, "admin"),
    "remove_agent": ({"hostname": "lnx01.clinic.local", "ip_address": "192.168.88.40",
                      "os_type": "linux"}, "admin"),
}


def sample_parameters(order_type: str) -> tuple[dict[str, Any], str]:
    """A fresh copy of the catalog entry; KeyError for a type that is not "must"."""
    params, kind = MUST_ORDER_TYPES[order_type]
    return copy.deepcopy(params), kind
