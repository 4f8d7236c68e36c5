"""The one table between workstation agents and the pipeline (healing.md §2.5, issue 23).

* :data:`CHECK_TYPE_MAP` — the agents' own check names mapped to the catalogue's before the
  pipeline (other names pass through unchanged);
* :data:`WORKSTATION_HEALS` — the workstation-scope remediations the agents run themselves:
  a failed check of one of these names is answered on the drift stream with a heal command
  (action and deadline); the agent reports the outcome with ``ReportHealing``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

CHECK_TYPE_MAP: Final[dict[str, str]] = {
    "defender": "windows_defender",
    "firewall": "firewall_status",
    "screenlock": "screen_lock_policy",
    "bitlocker": "bitlocker_status",
    "patches": "patching",
}


@dataclass(frozen=True, slots=True)
class HealSpec:
    action: str
    timeout_s: int


_W, _M, _L = "windows", "macos", "linux"

#: agent check name -> (action the agent understands, deadline in seconds)
WORKSTATION_HEALS: Final[dict[str, HealSpec]] = {
    # Windows workstations
    "firewall": HealSpec("enable", 60),
    "defender": HealSpec("start", 60),
    "bitlocker": HealSpec("enable", 120),
    "screenlock": HealSpec("configure", 30),
    "winrm": HealSpec("restore", 60),
    "dns_service": HealSpec("restart", 30),
    "windows_update": HealSpec("install", 300),
    # macOS
    "macos_firewall": HealSpec("enable", 60),
    "macos_auto_update": HealSpec("enable", 30),
    "macos_screen_lock": HealSpec("configure", 30),
    "macos_ntp_sync": HealSpec("enable", 30),
    "macos_file_sharing": HealSpec("disable", 30),
    "macos_gatekeeper": HealSpec("enable", 30),
    "macos_filevault": HealSpec("enable", 120),
    "macos_time_machine": HealSpec("enable", 60),
    # Linux
    "linux_ssh_config": HealSpec("harden", 60),
    "linux_firewall": HealSpec("enable", 60),
    "linux_unattended_upgrades": HealSpec("enable", 120),
    "linux_suid_binaries": HealSpec("cleanup", 60),
    "linux_audit_logging": HealSpec("enable", 60),
    "linux_ntp_sync": HealSpec("enable", 30),
}


def catalogue_name(agent_check: str) -> str:
    return CHECK_TYPE_MAP.get(agent_check, agent_check)


def platform_of(check_type: str) -> str:
    """healing.md §2.1: agent pushes are ``macos``/``linux`` by prefix, else ``windows``."""
    if check_type.startswith("macos_"):
        return _M
    if check_type.startswith("linux_"):
        return _L
    return _W
