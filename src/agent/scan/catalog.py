"""The ``check_type`` catalogue (healing.md §2.5) and the detail keys each check declares.

Names are exact and case-sensitive: Central Command keys on them. ``detail_keys`` is the registry
the rule linter uses to find dead rules (healing.md §1.10).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class CheckSpec:
    check_type: str
    platform: str  # windows | linux | macos | network | any
    severity: str  # default severity (some checks raise a different one per finding)
    hipaa: str
    detail_keys: frozenset[str] = frozenset()
    label: str = "all"  # windows: all | WS | DC


def _c(
    check_type: str, platform: str, severity: str, hipaa: str, keys: str = "", label: str = "all"
) -> CheckSpec:
    return CheckSpec(check_type, platform, severity, hipaa, frozenset(keys.split()), label)


_NONE = ""
_CHECKS: Final = [
    # Windows (driftscan)
    _c("firewall_status", "windows", "high", "164.312(a)(1)", "profile"),
    _c("windows_defender", "windows", "high", "164.308(a)(5)(ii)(B)", "service status"),
    _c("windows_update", "windows", "medium", "164.308(a)(5)(ii)(A)", "service status"),
    _c("audit_logging", "windows", "critical", "164.312(b)", "service status"),
    _c("rogue_admin_users", "windows", "critical", "164.312(a)(1)", "users"),
    _c("rogue_scheduled_tasks", "windows", "high", "164.308(a)(1)(ii)(D)", "tasks"),
    _c("agent_status", "windows", "medium", _NONE, "service status", "WS"),
    _c("bitlocker_status", "windows", "critical", "164.312(a)(2)(iv)",
       "volume protection_status volume_status"),
    _c("smb_signing", "windows", "high", "164.312(e)(2)(ii)", "require_signing"),
    _c("smb1_protocol", "windows", "high", "164.312(e)(1)", "smb1_enabled"),
    _c("screen_lock_policy", "windows", "medium", "164.312(a)(2)(iii)", "timeout_s"),
    _c("defender_exclusions", "windows", "medium", "164.308(a)(5)(ii)(B)", "exclusions"),
    _c("dns_config", "windows", "critical", "164.312(e)(1)", "servers interface"),
    _c("network_profile", "windows", "medium", "164.312(e)(1)", "interfaces", "WS"),
    _c("password_policy", "windows", "high", "164.312(d)", "min_length lockout_threshold setting"),
    _c("rdp_nla", "windows", "high", "164.312(d)", "nla_required"),
    _c("guest_account", "windows", "high", "164.312(a)(1)", "enabled"),
    _c("service_dns", "windows", "critical", "164.312(a)(1)", "service status", "DC"),
    _c("service_netlogon", "windows", "critical", "164.312(a)(1)", "service status", "DC"),
    _c("wmi_event_persistence", "windows", "critical", "164.308(a)(5)(ii)(C)", "filters consumers"),
    _c("registry_run_persistence", "windows", "high", "164.308(a)(5)(ii)(C)", "entries"),
    _c("audit_policy", "windows", "critical", "164.312(b)", "subcategories"),
    _c(
        "defender_cloud_protection",
        "windows",
        "high",
        "164.308(a)(5)(ii)(B)",
        "realtime_enabled maps_reporting sample_submission",
    ),
    _c("spooler_service", "windows", "medium", "164.312(e)(1)", "service status", "DC"),
    _c("firewall_dangerous_rules", "windows", "high", "164.312(e)(1)", "rules"),
    _c("backup_not_configured", "windows", "low", "164.308(a)(7)(ii)(A)"),
    _c("backup_verification", "windows", "medium", "164.308(a)(7)(ii)(A)", "age_days mechanism last_backup"),
    # Scan health
    _c("device_unreachable", "any", "medium", "164.312(a)(1)", "error_kind"),
    _c("credential_stale", "any", "high", "164.312(d)", "error_kind days_since_success"),
    _c("credential_ip_mismatch", "any", "medium", "164.312(a)(1)", "stored_ip seen_ip"),
    _c("subnet_dark", "network", "high", "164.312(a)(1)", "unreachable total"),
    # Threat detection and self-heal
    _c("security_event_critical", "windows", "critical", "164.312(b)", "event_id"),
    _c("ransomware_indicator", "windows", "critical", "164.308(a)(6)(ii)", "previous_count"),
    _c("brute_force_detected", "any", "critical", "164.312(d)", "source_ip failures hosts"),
    _c("AGENT-REDEPLOY-EXHAUSTED", "windows", "high", "164.312(a)(1)", "attempts"),
    # Linux (linuxscan)
    _c("linux_firewall", "linux", "high", "164.312(e)(1)", "backend"),
    _c("linux_ssh_config", "linux", "high", "164.312(a)(2)(i)", "root_login password_auth config"),
    _c("linux_failed_services", "linux", "medium", "164.308(a)(5)(ii)(B)", "units"),
    _c("linux_disk_space", "linux", "medium", "164.308(a)(7)(ii)(A)", "mount use_percent"),
    _c("linux_suid_binaries", "linux", "high", "164.312(a)(1)", "binaries"),
    _c("linux_audit_logging", "linux", "critical", "164.312(b)", "auditd journal_persistent"),
    _c("linux_ntp_sync", "linux", "medium", "164.312(b)", "synchronized"),
    _c("linux_kernel_params", "linux", "medium", "164.312(e)(1)", "params"),
    _c("linux_open_ports", "linux", "medium", "164.312(e)(1)", "ports"),
    _c("linux_user_accounts", "linux", "high", "164.312(a)(1)", "users"),
    _c("linux_file_permissions", "linux", "high", "164.312(a)(1)", "files"),
    _c("linux_unattended_upgrades", "linux", "medium", "164.308(a)(5)(ii)(A)"),
    _c("linux_log_forwarding", "linux", "low", "164.312(b)"),
    _c("linux_cron_review", "linux", "low", "164.308(a)(1)(ii)(D)", "users"),
    _c("linux_cert_expiry", "linux", "high", "164.312(e)(2)(ii)", "path days_left"),
    _c("linux_backup_status", "linux", "medium", "164.308(a)(7)(ii)(A)", "age_days unit"),
    _c("linux_encryption", "linux", "critical", "164.312(a)(2)(iv)", "mounts"),
    # The appliance's own checks (agent.scan.appliance; only in its own scan)
    _c("linux_journal_usage", "linux", "medium", "164.308(a)(7)(ii)(A)", "usage_mb max_usage_mb"),
    _c("backup", "linux", "medium", "164.308(a)(7)(ii)(A)",
       "unit job_name loaded result last_backup_success age_hours max_age_hours"),
    # macOS (macosscan)
    _c("macos_filevault", "macos", "critical", "164.312(a)(2)(iv)"),
    _c("macos_gatekeeper", "macos", "high", "164.308(a)(5)(ii)(A)"),
    _c("macos_sip", "macos", "critical", "164.312(a)(1)"),
    _c("macos_firewall", "macos", "high", "164.312(e)(1)"),
    _c("macos_auto_update", "macos", "medium", "164.308(a)(5)(ii)(A)"),
    _c("macos_screen_lock", "macos", "medium", "164.310(b)", "delay_s"),
    _c("macos_file_sharing", "macos", "medium", _NONE),
    _c("macos_time_machine", "macos", "medium", "164.308(a)(7)(ii)(A)", "problem age_days"),
    _c("macos_ntp_sync", "macos", "low", _NONE),
    _c("macos_admin_users", "macos", "high", "164.312(a)(1)", "users"),
    _c("macos_disk_space", "macos", "medium", _NONE, "use_percent"),
    _c("macos_cert_expiry", "macos", "high", "164.312(e)(2)(ii)", "path days_left"),
    # Network (netscan)
    _c("net_unexpected_ports", "network", "high", "164.312(e)(1)", "ports"),
    _c("net_expected_service", "network", "medium", "164.308(a)(7)(ii)(A)", "service port"),
    _c("net_host_reachability", "network", "high", "164.308(a)(7)(ii)(A)", "target port"),
    _c("net_dns_resolution", "network", "high", "164.312(e)(1)", "name"),
    _c("NETWORK-ROGUE-DEVICE", "network", "medium", "164.312(a)(1)", "mac ip"),
    _c("NETWORK-UNEXPECTED-SUBNET", "network", "low", "164.312(a)(1)", "subnet ip"),
]
# Agent-pushed names that pass through unchanged (healing.md §2.5, last paragraph).
_PUSHED: Final = ("patching", "dns_service", "winrm", "rmm_detection", "macos_remote_login")

CHECKS: Final[dict[str, CheckSpec]] = {c.check_type: c for c in _CHECKS}
for _name in _PUSHED:
    CHECKS[_name] = CheckSpec(_name, "any", "medium", "")
del _name

PUSHED_NAME_MAP: Final = {
    "defender": "windows_defender",
    "firewall": "firewall_status",
    "screenlock": "screen_lock_policy",
    "bitlocker": "bitlocker_status",
    "patches": "patching",
}


class Catalog:
    """The :class:`agent.rules.model.CheckCatalog` implementation over :data:`CHECKS`."""

    def __init__(self, checks: dict[str, CheckSpec] | None = None) -> None:
        self._checks = CHECKS if checks is None else checks
        self._all = frozenset().union(*(c.detail_keys for c in self._checks.values()))

    def known(self, check_type: str) -> bool:
        return check_type in self._checks

    def detail_keys(self, check_type: str) -> frozenset[str]:
        spec = self._checks.get(check_type)
        return spec.detail_keys if spec else frozenset()

    def all_detail_keys(self) -> frozenset[str]:
        return self._all

    def spec(self, check_type: str) -> CheckSpec | None:
        return self._checks.get(check_type)


CATALOG: Final = Catalog()
