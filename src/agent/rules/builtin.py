"""The builtin rule set (healing.md §1.11).

A rule whose runbook is not in the packaged registry yet is omitted (its check type then goes to
L2, as in the Go daemon); :func:`omitted_rules` lists them for status and for the follow-up work.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from agent.rules.model import RunbookLookup

WIN, LIN, MAC = "run_windows_runbook", "run_linux_runbook", "run_macos_runbook"

# (rule id, check_type(s), action, runbook id or escalate reason, params, priority, cooldown, extra conds)
_TABLE: Final[list[tuple[str, str | list[str], str, str, dict[str, Any], int, int, list[dict[str, Any]]]]] = [
    ("L1-FW-002", "firewall_status", WIN, "RB-WIN-SEC-001", {}, 5, 300, []),
    ("L1-AUDIT-002", "audit_logging", WIN, "RB-WIN-SVC-006", {"service": "EventLog"}, 5, 300, []),
    ("L1-WIN-DEFENDER-001", "windows_defender", WIN, "RB-WIN-SEC-006", {}, 5, 300, []),
    ("L1-WIN-SVC-WUAUSERV", "windows_update", WIN, "RB-WIN-SVC-006", {"service": "wuauserv"}, 10, 300, []),
    ("L1-WIN-ROGUE-ADMIN-001", "rogue_admin_users", WIN, "RB-WIN-SEC-027", {}, 1, 300, []),
    ("L1-WIN-ROGUE-TASKS-001", "rogue_scheduled_tasks", "escalate", "rogue_scheduled_tasks", {}, 3, 300, []),
    (
        "L1-WIN-AGENT-001",
        "agent_status",
        WIN,
        "RB-WIN-SVC-006",
        {"service": "OsirisCareAgent"},
        3,
        300,
        [{"field": "actual", "operator": "ne", "value": "NotInstalled"}],
    ),
    ("L1-WIN-SEC-BITLOCKER", "bitlocker_status", WIN, "RB-WIN-SEC-005", {}, 5, 300, []),
    ("L1-WIN-SEC-SMB", "smb_signing", WIN, "RB-WIN-SEC-007", {}, 8, 300, []),
    ("L1-WIN-SEC-SMB1", "smb1_protocol", WIN, "RB-WIN-SEC-020", {}, 5, 300, []),
    ("L1-WIN-SEC-SCREENLOCK", "screen_lock_policy", WIN, "RB-WIN-SEC-016", {}, 8, 300, []),
    ("L1-WIN-SEC-DEFENDER-EXCL", "defender_exclusions", WIN, "RB-WIN-SEC-017", {}, 5, 300, []),
    ("L1-WIN-DNS-HIJACK", "dns_config", WIN, "RB-WIN-NET-001", {}, 3, 300, []),
    ("L1-WIN-NET-PROFILE", "network_profile", WIN, "RB-WIN-NET-003", {}, 8, 300, []),
    ("L1-WIN-PASSWD-001", "password_policy", WIN, "RB-WIN-SEC-022", {}, 8, 300, []),
    ("L1-WIN-RDP-NLA-001", "rdp_nla", WIN, "RB-WIN-SEC-023", {}, 5, 300, []),
    ("L1-WIN-GUEST-001", "guest_account", WIN, "RB-WIN-SEC-024", {}, 5, 300, []),
    ("L1-WIN-SVC-DNS", "service_dns", WIN, "RB-WIN-SVC-006", {}, 5, 300, []),
    ("L1-WIN-SVC-NETLOGON", "service_netlogon", WIN, "RB-WIN-SVC-006", {"service": "Netlogon"}, 3, 300, []),
    ("L1-PERSIST-WMI-001", "wmi_event_persistence", WIN, "RB-WIN-SEC-021", {}, 3, 300, []),
    ("L1-PERSIST-REG-001", "registry_run_persistence", WIN, "RB-WIN-SEC-019", {}, 3, 300, []),
    ("L1-WIN-SEC-AUDIT-POLICY", "audit_policy", WIN, "RB-WIN-SEC-026", {}, 3, 300, []),
    ("L1-WIN-SEC-DEFENDER-CLOUD", "defender_cloud_protection", WIN, "RB-WIN-SEC-025", {}, 5, 300, []),
    ("L1-WIN-SVC-SPOOLER", "spooler_service", WIN, "RB-WIN-SVC-005", {}, 5, 300, []),
    ("L1-WIN-FW-RULES-001", "firewall_dangerous_rules", WIN, "RB-WIN-SEC-028", {}, 3, 600, []),
    ("L1-SSH-001", "linux_ssh_config", LIN, "LIN-SSH-001", {}, 5, 300, []),
    ("L1-KERN-001", "linux_kernel_params", LIN, "LIN-KERN-001", {}, 8, 300, []),
    ("L1-CRON-001", "linux_cron_review", "escalate", "linux_cron_review", {}, 8, 300, []),
    ("L1-SUID-001", "linux_suid_binaries", LIN, "LIN-SUID-001", {}, 3, 300, []),
    ("L1-LIN-FW-001", "linux_firewall", LIN, "LIN-FW-001", {}, 3, 300, []),
    ("L1-LIN-AUDIT-001", "linux_audit_logging", LIN, "LIN-SVC-002", {}, 5, 300, []),
    ("L1-LIN-SVC-001", "linux_failed_services", LIN, "LIN-SVC-001", {}, 5, 300, []),
    # The appliance's own journald failed: restarted through the privileged helper.
    ("L1-APPL-JOURNALD-001", "linux_failed_services", LIN, "APPL-JOURNALD-001", {}, 4, 300,
     [{"field": "label", "operator": "eq", "value": "appliance"},
      {"field": "details.units", "operator": "contains", "value": "systemd-journald.service"}]),
    ("L1-LIN-LOG-001", "linux_log_forwarding", LIN, "LIN-LOG-001", {}, 5, 300, []),
    # The appliance's own journal over APPL-JOURNAL-001's limit: vacuumed through the helper.
    ("L1-APPL-JOURNAL-001", "linux_journal_usage", LIN, "APPL-JOURNAL-001", {}, 10, 300,
     [{"field": "label", "operator": "eq", "value": "appliance"}]),
    # The appliance's configured backup unit failed, never ran or is stale: started through the
    # helper (the Go daemon's L1-BACKUP-001/002 check type and job; only a configured unit, whose
    # loaded state the check saw, is ever started: agent.scan.appliance).
    ("L1-APPL-BACKUP-001", "backup", LIN, "APPL-BACKUP-001", {}, 15, 300,
     [{"field": "label", "operator": "eq", "value": "appliance"},
      {"field": "details.loaded", "operator": "eq", "value": True}]),
    ("L1-LIN-DISK-001", "linux_disk_space", LIN, "LIN-DISK-001", {}, 15, 300, []),
    ("L1-LIN-PORTS-001", "linux_open_ports", "escalate", "linux_open_ports", {}, 3, 300, []),
    ("L1-LIN-USERS-001", "linux_user_accounts", "escalate", "linux_user_accounts", {}, 3, 300, []),
    ("L1-LIN-UPGRADES-001", "linux_unattended_upgrades", LIN, "LIN-PATCH-001", {}, 10, 300, []),
    ("L1-LIN-CERT-001", "linux_cert_expiry", LIN, "LIN-CERT-001", {}, 25, 300, []),
    ("L1-LIN-NTP-001", "linux_ntp_sync", LIN, "LIN-NTP-001", {}, 10, 300, []),
    ("L1-LIN-PERM-001", "linux_file_permissions", LIN, "LIN-PERM-001", {}, 5, 300, []),
    ("L1-LIN-ENC-001", "linux_encryption", "escalate", "linux_encryption", {}, 1, 300, []),
    ("L1-NET-PORTS-001", "net_unexpected_ports", "escalate", "net_unexpected_ports", {}, 3, 300, []),
    ("L1-NET-SVC-001", "net_expected_service", "escalate", "net_expected_service", {}, 5, 300, []),
    ("L1-NET-REACH-001", "net_host_reachability", "escalate", "net_host_reachability", {}, 5, 300, []),
    ("L1-NET-DNS-001", "net_dns_resolution", "escalate", "net_dns_resolution", {}, 5, 300, []),
    (
        "L1-MONITOR-ESC-001",
        [
            "device_unreachable",
            "credential_stale",
            "credential_ip_mismatch",
            "subnet_dark",
            "security_event_critical",
            "ransomware_indicator",
            "brute_force_detected",
            "AGENT-REDEPLOY-EXHAUSTED",
            "NETWORK-ROGUE-DEVICE",
            "NETWORK-UNEXPECTED-SUBNET",
        ],
        "escalate",
        "monitoring_only",
        {},
        2,
        300,
        [],
    ),
    ("L1-MAC-FW-001", "macos_firewall", MAC, "MAC-FW-001", {}, 5, 300, []),
    ("L1-MAC-GK-001", "macos_gatekeeper", MAC, "MAC-GK-001", {}, 5, 300, []),
    ("L1-MAC-UPD-001", "macos_auto_update", MAC, "MAC-UPD-001", {}, 10, 300, []),
    ("L1-MAC-NTP-001", "macos_ntp_sync", MAC, "MAC-NTP-001", {}, 10, 300, []),
    ("L1-MAC-SMB-001", "macos_file_sharing", MAC, "MAC-SMB-001", {}, 8, 300, []),
    (
        "L1-MAC-ESC-001",
        ["macos_filevault", "macos_sip", "macos_admin_users", "macos_time_machine", "macos_cert_expiry"],
        "escalate",
        "needs_person",
        {},
        1,
        300,
        [],
    ),
]


def _raw(
    row: tuple[str, str | list[str], str, str, dict[str, Any], int, int, list[dict[str, Any]]],
) -> dict[str, Any]:
    rid, ct, action, target, params, prio, cooldown, extra = row
    cond: dict[str, Any] = (
        {"field": "check_type", "operator": "in", "value": ct}
        if isinstance(ct, list)
        else {"field": "check_type", "operator": "eq", "value": ct}
    )
    ap: dict[str, Any] = dict(params)
    if action == "escalate":
        ap["reason"] = target
    else:
        ap["runbook_id"] = target
    return {
        "id": rid,
        "name": rid,
        "description": f"builtin rule for {ct if isinstance(ct, str) else 'monitoring types'}",
        "conditions": [cond, {"field": "drift_detected", "operator": "eq", "value": True}, *extra],
        "action": action,
        "action_params": ap,
        "priority": prio,
        "cooldown_seconds": cooldown,
    }


def builtin_rules(runbooks: RunbookLookup) -> list[Mapping[str, Any]]:
    """The raw builtin rules whose runbooks exist (escalate rules always)."""
    return [_raw(r) for r in _TABLE if r[2] == "escalate" or runbooks.get(r[3]) is not None]


def omitted_rules(runbooks: RunbookLookup) -> list[tuple[str, str]]:
    """``(rule id, runbook id)`` of builtin rules left out because the runbook is not packaged yet."""
    return [(r[0], r[3]) for r in _TABLE if r[2] != "escalate" and runbooks.get(r[3]) is None]


def all_builtin_ids() -> list[str]:
    return [r[0] for r in _TABLE]
