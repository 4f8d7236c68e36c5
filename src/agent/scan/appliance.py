"""The appliance's own checks (issue 22): evaluated from records the Linux scan script emits only
in the appliance's scan, each enabled by a scan parameter the scan component gives the local
target. Without its parameter a check does not apply: no record, no status, no finding.

* ``linux_journal_usage``: the systemd journal's disk usage (``journalctl --disk-usage``, read
  unprivileged) above ``journal_max_mb`` (APPL-JOURNAL-001's ``max_usage_mb``) is drift; output
  that does not state one usage is a check error (unknown), never drift.
* ``backup``: the configured backup unit (``appliance_backup_unit``) whose last run failed, that
  never ran, or whose last run ended more than :data:`BACKUP_MAX_AGE_H` hours ago is drift (the
  Go daemon's check type and ``details.last_backup_success`` / ``details.age_hours`` of its
  L1-BACKUP-001/002; its age limit is APPL-BACKUP-001's ``max_age_hours``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from agent.scan.model import as_list

#: APPL-JOURNAL-001's ``max_usage_mb`` default (tests/scan hold them equal).
JOURNAL_MAX_MB: Final = 1024
#: APPL-BACKUP-001's ``max_age_hours`` default: a daily backup with a margin for its timer's delay.
BACKUP_MAX_AGE_H: Final = 26

#: check type -> the scan parameter that enables it (given to the appliance's scan only).
APPLIANCE_CHECKS: Final = {"linux_journal_usage": "journal_max_mb", "backup": "appliance_backup_unit"}

# systemd's format_bytes: "512B", "8.0M", "1.5G" (IEC multiples, "B" only below 1 KiB); "MiB"-style
# suffixes accepted too.
_USAGE = re.compile(r"take up (\d{1,12}(?:\.\d{1,3})?) ?([BKMGTPE])(?:i?B)?(?![A-Za-z])")
_EXP: Final = {"B": 0, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}

Raw = list[tuple[str, str, dict[str, Any], str, str]]


def journal_usage_mb(lines: list[str]) -> int | None:
    """The usage ``journalctl --disk-usage`` states, in whole MiB; None unless exactly one."""
    found = [m for line in lines for m in _USAGE.finditer(line)]
    if len(found) != 1:
        return None
    num, unit = found[0].groups()
    return int(float(num) * 1024 ** _EXP[unit] // (1024 * 1024))


def _journal(data: Mapping[str, Any]) -> Raw | None:
    lines, limit = as_list(data.get("output")), data.get("max_mb")
    if data.get("available") is not True or lines is None or not isinstance(limit, str) \
            or not limit.isdigit():
        return None
    usage = journal_usage_mb(lines)
    if usage is None:
        return None
    if usage <= int(limit):
        return []
    return [(f"journal at most {limit} MB", f"journal takes {usage} MB",
             {"usage_mb": usage, "max_usage_mb": int(limit)}, "", "")]


def _backup(data: Mapping[str, Any]) -> Raw | None:
    unit, now, lines = data.get("unit"), data.get("now"), as_list(data.get("show"))
    if not isinstance(unit, str) or not unit or isinstance(now, bool) or not isinstance(now, int) \
            or lines is None:
        return None
    props = dict(line.partition("=")[::2] for line in lines)
    load, result, stamp = (props.get(k) for k in ("LoadState", "Result", "ExecMainExitTimestamp"))
    if not load or not result or stamp is None:
        return None  # systemctl gave no answer: unknown, not drift
    det: dict[str, Any] = {"unit": f"{unit}.service", "job_name": unit,
                           "max_age_hours": BACKUP_MAX_AGE_H}
    expected = f"{unit}.service succeeded within {BACKUP_MAX_AGE_H} h"
    if load != "loaded":
        det.update(loaded=False, last_backup_success=False)
        return [(expected, f"{unit}.service is {load}", det, "", "")]
    det["loaded"] = True
    if stamp == "":
        det.update(last_backup_success=False, result=result)
        return [(expected, f"{unit}.service never ran", det, "", "")]
    if not re.fullmatch(r"@\d{1,12}", stamp):
        return None
    age = max(0, now - int(stamp[1:])) // 3600
    det.update(last_backup_success=result == "success", age_hours=age, result=result)
    if result == "success" and age <= BACKUP_MAX_AGE_H:
        return []
    actual = (f"last run {age} h ago" if result == "success"
              else f"last run failed ({result}) {age} h ago")
    return [(expected, actual, det, "", "")]


APPLIANCE_EVALUATORS: Final = {"linux_journal_usage": _journal, "backup": _backup}


def applies(check_type: str, params: Mapping[str, Any]) -> bool:
    """Whether ``check_type`` applies to a scan given ``params`` (appliance checks only with
    their parameter)."""
    key = APPLIANCE_CHECKS.get(check_type)
    return key is None or bool(params.get(key))


def self_check_params(backup_unit: str) -> dict[str, str]:
    """The scan parameters that enable the appliance's own checks (``backup_unit``: the
    configured backup unit, ``.service`` optional; empty: no backup check)."""
    out = {"journal_max_mb": str(JOURNAL_MAX_MB)}
    unit = backup_unit.removesuffix(".service")
    if unit:
        out["appliance_backup_unit"] = unit
    return out
