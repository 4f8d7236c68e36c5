"""macOS checks over SSH: one script per scan that reports raw tool output, strictly parsed and
evaluated here (healing.md §2.5 macOS targets, §2.6, §6.5).

The script (``scripts/macos_scan.sh``) prints, per check, each tool's exit status (``<key>_rc``) and
its first output lines (``<key>``, stdout and stderr together). Every evaluator recognises only the
documented output of the tool; anything else (missing tool, an error, an unexpected wording, a
missing field) is ``unknown`` for that check — never compliant and never an incident.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from agent.exec import Target
from agent.exec.types import Executor
from agent.scan.linux import Eval, LinuxScanner
from agent.scan.model import as_list

SCRIPT: Final = (Path(__file__).resolve().parent / "scripts" / "macos_scan.sh").read_text("utf-8")
SOURCE: Final = "macosscan"
LABEL: Final = "macos"
ADMIN_MAX: Final = 3  # more members than this in the admin group is drift (root not counted)
SCREEN_LOCK_MAX_DELAY_S: Final = 5
BACKUP_MAX_AGE_DAYS: Final = 7
CERT_WARN_DAYS: Final = 30

Raw = list[tuple[str, str, dict[str, Any], str, str]] | None


def tool_output(data: Mapping[str, Any], key: str) -> tuple[int, list[str]] | None:
    """``(exit status, output lines)`` of one tool call in a record; None when malformed."""
    rc = data.get(f"{key}_rc")
    lines = as_list(data.get(key))
    if isinstance(rc, bool) or not isinstance(rc, int) or lines is None:
        return None
    return rc, [ln.strip() for ln in lines]


def _match(data: Mapping[str, Any], key: str, pattern: re.Pattern[str]) -> re.Match[str] | None:
    """The first output line of ``key`` that fully matches ``pattern`` (any exit status)."""
    out = tool_output(data, key)
    if out is None or out[0] == 127:  # 127: the tool is not installed
        return None
    for line in out[1]:
        m = pattern.fullmatch(line)
        if m:
            return m
    return None


def _one(
    expected: str, actual: str, details: dict[str, Any] | None = None, disc: str = "", sev: str = ""
) -> Raw:
    return [(expected, actual, details or {}, disc, sev)]


_FV = re.compile(r"FileVault is (On|Off)\b.*")


def _filevault(data: Mapping[str, Any]) -> Raw:
    m = _match(data, "status", _FV)
    if m is None:
        return None
    return [] if m.group(1) == "On" else _one("FileVault on", "FileVault off")


_GK = re.compile(r"assessments (enabled|disabled)")


def _gatekeeper(data: Mapping[str, Any]) -> Raw:
    m = _match(data, "status", _GK)  # spctl exits 1 when assessments are disabled
    if m is None:
        return None
    return [] if m.group(1) == "enabled" else _one("Gatekeeper assessments enabled", "assessments disabled")


_SIP = re.compile(r"System Integrity Protection status: (enabled|disabled)\.?")


def _sip(data: Mapping[str, Any]) -> Raw:
    m = _match(data, "status", _SIP)  # "unknown (Custom Configuration)" stays unknown
    if m is None:
        return None
    return [] if m.group(1) == "enabled" else _one("SIP enabled", "SIP disabled")


_FW = re.compile(r"Firewall is [a-z -]+\. ?\(State = ([012])\)")


def _firewall(data: Mapping[str, Any]) -> Raw:
    m = _match(data, "state", _FW)
    if m is None:
        return None
    return [] if m.group(1) in ("1", "2") else _one("application firewall on", "application firewall off")


_PREF_MISSING = re.compile(r"The domain/default pair of \(.*\) does not exist")
_SCHEDULE = re.compile(r"Automatic check(?:ing for updates)? is (?:turned )?(on|off)\.?", re.IGNORECASE)


def defaults_bool(data: Mapping[str, Any], key: str) -> str:
    """``on`` / ``off`` / ``missing`` / ``unknown`` for a ``defaults read`` of a boolean key."""
    out = tool_output(data, key)
    if out is None:
        return "unknown"
    rc, lines = out
    if rc == 0 and [ln for ln in lines if ln] in (["1"], ["0"]):
        return "on" if "1" in lines else "off"
    if rc != 0 and any(_PREF_MISSING.fullmatch(ln) for ln in lines):
        return "missing"
    return "unknown"


def auto_update_state(data: Mapping[str, Any]) -> str:
    """``on`` / ``off`` / ``unknown``: an explicit off from either source wins."""
    pref = defaults_bool(data, "pref")
    m = _match(data, "schedule", _SCHEDULE)
    sched = m.group(1).lower() if m else "unknown"
    if "off" in (pref, sched):
        return "off"
    if "on" in (pref, sched):
        return "on"
    return "unknown"


def _auto_update(data: Mapping[str, Any]) -> Raw:
    state = auto_update_state(data)
    if state == "unknown":
        return None
    return [] if state == "on" else _one("automatic update checks on", "automatic update checks off")


_SCREENLOCK = re.compile(r".*\bscreenLock (?:is (off)|delay is (?:(immediate)|(\d+) seconds?))\.?")


def _screen_lock_delay(data: Mapping[str, Any]) -> int | None:
    """Seconds before a password is required after sleep/screen saver; -1 = no password; None = unknown."""
    m = _match(data, "sysadminctl", _SCREENLOCK)
    if m is not None:
        if m.group(1):
            return -1
        return 0 if m.group(2) else int(m.group(3))
    ask = defaults_bool(data, "ask")
    if ask == "off":
        return -1
    if ask != "on":
        return None
    out = tool_output(data, "delay")
    if out is None or out[0] != 0:
        return None
    vals = [ln for ln in out[1] if ln]
    if len(vals) != 1 or not re.fullmatch(r"\d+(\.0+)?", vals[0]):
        return None
    return int(float(vals[0]))


def _screen_lock(data: Mapping[str, Any]) -> Raw:
    delay = _screen_lock_delay(data)
    if delay is None:
        return None
    want = f"password on wake, delay at most {SCREEN_LOCK_MAX_DELAY_S} s"
    if delay < 0:
        return _one(want, "password on wake disabled", {}, "", "medium")
    if delay > SCREEN_LOCK_MAX_DELAY_S:
        return _one(want, f"password required after {delay} s", {"delay_s": delay}, "", "low")
    return []


_SMBD_DISABLED = re.compile(r'"com\.apple\.smbd" => (disabled|enabled|true|false)')


def smb_state(data: Mapping[str, Any]) -> str:
    """``on`` / ``off`` / ``unknown`` for SMB file sharing (launchd state of com.apple.smbd)."""
    dis, svc = tool_output(data, "disabled"), tool_output(data, "service")
    if (
        dis is None
        or svc is None
        or dis[0] != 0
        or not dis[1]
        or not dis[1][0].startswith("disabled services = {")
    ):
        return "unknown"
    override = "absent"
    for line in dis[1]:
        m = _SMBD_DISABLED.fullmatch(line)
        if m:
            override = "disabled" if m.group(1) in ("disabled", "true") else "enabled"
    if svc[0] == 0 and svc[1] and svc[1][0].startswith("system/com.apple.smbd = {"):
        loaded = True
    elif svc[0] != 0 and any('Could not find service "com.apple.smbd"' in ln for ln in svc[1]):
        loaded = False
    else:
        return "unknown"
    return "on" if loaded or override == "enabled" else "off"


def _file_sharing(data: Mapping[str, Any]) -> Raw:
    state = smb_state(data)
    if state == "unknown":
        return None
    return [] if state == "off" else _one("SMB file sharing off", "SMB file sharing on")


_TM_FIELD = re.compile(r"([A-Za-z ]+?)\s*:\s*(.*)")
_TM_STAMP = re.compile(r"(\d{4}-\d{2}-\d{2}-\d{6})")
_TM_NO_BACKUP = ("No machine directory found", "Unable to locate machine directory", "No backups found")


def _tm_destinations(data: Mapping[str, Any]) -> list[dict[str, str]] | None:
    out = tool_output(data, "dest")
    if out is None:
        return None
    rc, lines = out
    if any("No destinations configured" in ln for ln in lines):
        return []
    if rc != 0:
        return None
    dests: list[dict[str, str]] = []
    for line in lines:
        if line.startswith("="):
            dests.append({})
            continue
        m = _TM_FIELD.fullmatch(line)
        if m and dests:
            dests[-1][m.group(1).strip()] = m.group(2).strip()
    dests = [d for d in dests if d]
    return dests if dests and all("Name" in d or "ID" in d for d in dests) else None


def _time_machine(data: Mapping[str, Any]) -> Raw:
    dests = _tm_destinations(data)
    if dests is None:
        return None
    if not dests:
        return _one(
            "a Time Machine destination",
            "no backup destination configured",
            {"problem": "no_destination"},
            "no_destination",
            "high",
        )
    found: list[tuple[str, str, dict[str, Any], str, str]] = []
    local = [d for d in dests if d.get("Kind", "").lower() == "local"]
    if local and len(local) == len(dests) and not any(d.get("Mount Point") for d in local):
        found.append(
            (
                "backup disk mounted",
                "backup disk not mounted",
                {"problem": "not_mounted"},
                "not_mounted",
                "high",
            )
        )
    out, now = tool_output(data, "latest"), data.get("now")
    if out is None or not isinstance(now, str) or not _TM_STAMP.fullmatch(now):
        return found or None
    rc, lines = out
    stamps = [s for ln in lines if rc == 0 for s in _TM_STAMP.findall(ln)]  # the last one is the snapshot
    if stamps:
        fmt = "%Y-%m-%d-%H%M%S"
        age = (datetime.strptime(now, fmt) - datetime.strptime(stamps[-1], fmt)).total_seconds()
        days = int(age // 86400)
        if days > BACKUP_MAX_AGE_DAYS:
            found.append(
                (
                    f"a backup within {BACKUP_MAX_AGE_DAYS} days",
                    f"latest backup {days} days old",
                    {"problem": "stale", "age_days": days},
                    "stale",
                    "medium",
                )
            )
        return found
    if rc != 0 and any("Failed to mount" in ln for ln in lines):  # e.g. the NAS share is gone
        if not found:
            found.append(
                ("backup disk mounted", "backup destination cannot be mounted", {"problem": "not_mounted"},
                 "not_mounted", "high")
            )  # fmt: skip
        return found
    if rc != 0 and any(s in ln for ln in lines for s in _TM_NO_BACKUP):
        found.append(("a completed backup", "no backup", {"problem": "no_backup"}, "no_backup", "medium"))
        return found
    return found or None  # e.g. "requires Full Disk Access": the age is unknown


_NTP = re.compile(r"Network Time: (On|Off)")


def _ntp(data: Mapping[str, Any]) -> Raw:
    m = _match(data, "status", _NTP)
    if m is None:
        return None
    return [] if m.group(1) == "On" else _one("network time on", "network time off")


def _admin_users(data: Mapping[str, Any]) -> Raw:
    out = tool_output(data, "members")
    if out is None or out[0] != 0:
        return None
    lines = [ln for ln in out[1] if ln.startswith("GroupMembership:")]
    if len(lines) != 1:
        return None
    users = [u for u in lines[0].split()[1:] if u != "root"]
    if len(users) <= ADMIN_MAX:
        return []
    return _one(
        f"at most {ADMIN_MAX} admin accounts",
        f"{len(users)} admin accounts: {', '.join(users)}",
        {"users": users},
    )


def _disk(data: Mapping[str, Any]) -> Raw:
    out = tool_output(data, "df")
    if out is None or out[0] != 0 or not out[1] or not out[1][0].startswith("Filesystem"):
        return None
    rows = [ln.split() for ln in out[1][1:]]
    pcts = [r[-2] for r in rows if len(r) >= 6 and r[-1] == "/" and re.fullmatch(r"\d{1,3}%", r[-2])]
    if len(pcts) != 1:
        return None
    pct = int(pcts[0].rstrip("%"))
    if pct <= 90:
        return []
    return _one(
        "root volume at most 90% full",
        f"/ {pct}% full",
        {"use_percent": pct},
        "",
        "high" if pct > 95 else "medium",
    )


_NOT_AFTER = re.compile(r"notAfter=(.+)")


def _cert_days_left(enddate: str, now: int) -> int | None:
    m = _NOT_AFTER.fullmatch(enddate.strip())
    if not m:
        return None
    try:
        end = datetime.strptime(m.group(1).strip(), "%b %d %H:%M:%S %Y GMT")
    except ValueError:
        return None
    return int((calendar.timegm(end.timetuple()) - now) // 86400)


def _cert_expiry(data: Mapping[str, Any]) -> Raw:
    certs, now = as_list(data.get("certs")), data.get("now")
    if not certs or isinstance(now, bool) or not isinstance(now, int):
        return None  # nothing monitored / unknown: not drift, not compliant (§2.5)
    found: list[tuple[str, str, dict[str, Any], str, str]] = []
    unknown = False
    for item in certs:
        path, sep, end = item.rpartition("|")
        days = _cert_days_left(end, now) if sep and path else None
        if days is None:
            unknown = True
        elif days < CERT_WARN_DAYS:
            found.append(
                (
                    f"certificate valid for more than {CERT_WARN_DAYS} days",
                    f"{path} expires in {days} days",
                    {"path": path, "days_left": days},
                    path,
                    "",
                )
            )
    if found:
        return found
    return None if unknown else []


EVALUATORS: Final[dict[str, Eval]] = {
    "macos_filevault": _filevault,
    "macos_gatekeeper": _gatekeeper,
    "macos_sip": _sip,
    "macos_firewall": _firewall,
    "macos_auto_update": _auto_update,
    "macos_screen_lock": _screen_lock,
    "macos_file_sharing": _file_sharing,
    "macos_time_machine": _time_machine,
    "macos_ntp_sync": _ntp,
    "macos_admin_users": _admin_users,
    "macos_disk_space": _disk,
    "macos_cert_expiry": _cert_expiry,
}


class MacosScanner(LinuxScanner):
    """Runs :data:`SCRIPT` on one macOS host over SSH (unprivileged; the script retries the one
    admin-only tool through ``sudo -n``) and evaluates records as they stream in."""

    evaluators: Mapping[str, Eval] = EVALUATORS
    source: str = SOURCE

    def __init__(
        self, executor: Executor, *, script: str = SCRIPT, disabled: Callable[[], frozenset[str]] = frozenset
    ) -> None:
        super().__init__(executor, script=script, disabled=disabled)

    def label_of(self, target: Target) -> str:
        return LABEL
