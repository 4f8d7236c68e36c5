"""The appliance's own checks (agent.scan.appliance): the journal's disk usage read from
``journalctl --disk-usage`` in every unit systemd prints, garbage a check error (unknown) and
never drift; the configured backup unit failed, never run or stale is drift; both apply only to
a scan given their parameter (the appliance's own)."""

from __future__ import annotations

from typing import Any

import pytest

from agent.config import ConfigError, parse_config
from agent.config.checks import BACKUP_UNIT_RE
from agent.exec import Target, Transport
from agent.priv.schema import BACKUP_JOB
from agent.runbooks import default_registry
from agent.scan.appliance import (
    BACKUP_MAX_AGE_H,
    JOURNAL_MAX_MB,
    journal_usage_mb,
    self_check_params,
)
from agent.scan.linux import LinuxScanner, evaluate_record

from .test_linux_parse import ScriptedExecutor

NOW = 1_800_000_000


def _line(usage: str) -> list[str]:
    return [f"Archived and active journals take up {usage} in the file system."]


@pytest.mark.parametrize(("usage", "mb"), [
    ("512B", 0), ("1023.9K", 0), ("8.0M", 8), ("1024.0M", 1024), ("1.5G", 1536), ("2.0G", 2048),
    ("1.2T", 1258291), ("3G", 3072), ("700.0MiB", 700), ("1.0 GB", 1024),
])
def test_every_unit_systemd_prints_is_read(usage: str, mb: int) -> None:
    assert journal_usage_mb(_line(usage)) == mb


@pytest.mark.parametrize("lines", [
    [], ["No journal files were found."], _line("lots"), _line("1.5X"), _line("-1.0G"),
    _line("1.5Gigs"), ["Journals take 1.5G"], _line("1.0G") + _line("2.0G"),
    ["take up 1.0G take up 2.0G"],
])
def test_output_that_states_no_single_usage_is_no_usage(lines: list[str]) -> None:
    assert journal_usage_mb(lines) is None


def _journal(usage_lines: list[str], limit: str = str(JOURNAL_MAX_MB),
             available: bool = True) -> tuple[str, list[Any]]:
    data: dict[str, Any] = {"available": available, "max_mb": limit, "output": usage_lines}
    return evaluate_record("localhost", "linux_journal_usage", data, label="appliance")


def test_a_journal_over_the_limit_is_drift_with_its_figures() -> None:
    status, (f,) = _journal(_line("1.5G"))
    assert status == "drift"
    assert (f.check_type, f.label, f.severity) == ("linux_journal_usage", "appliance", "medium")
    assert dict(f.details) == {"usage_mb": 1536, "max_usage_mb": JOURNAL_MAX_MB}
    assert f.actual == "journal takes 1536 MB"


@pytest.mark.parametrize("usage", ["1.0G", "1024.0M", "12.0M", "0B"])
def test_a_journal_at_or_under_the_limit_passes(usage: str) -> None:
    assert _journal(_line(usage)) == ("pass", [])


@pytest.mark.parametrize(("lines", "limit", "available"), [
    (["Failed to open journal: Permission denied"], "1024", True),
    (_line("1.5G"), "", True),
    (_line("1.5G"), "many", True),
    ([], "1024", False),
])
def test_garbage_is_a_check_error_never_drift(lines: list[str], limit: str,
                                              available: bool) -> None:
    assert _journal(lines, limit, available) == ("unknown", [])


def _backup(show: list[str], unit: str = "restic-backups-daily",
            now: int = NOW) -> tuple[str, list[Any]]:
    return evaluate_record("localhost", "backup", {"unit": unit, "now": now, "show": show},
                           label="appliance")


def _show(result: str = "success", stamp: str = f"@{NOW - 3600}",
          load: str = "loaded") -> list[str]:
    return [f"LoadState={load}", f"Result={result}", f"ExecMainExitTimestamp={stamp}"]


def test_a_recent_successful_backup_passes() -> None:
    assert _backup(_show()) == ("pass", [])
    assert _backup(_show(stamp=f"@{NOW - BACKUP_MAX_AGE_H * 3600}")) == ("pass", [])


@pytest.mark.parametrize(("show", "success", "age", "actual"), [
    (_show(result="exit-code"), False, 1, "last run failed (exit-code) 1 h ago"),
    (_show(stamp=f"@{NOW - 27 * 3600}"), True, 27, "last run 27 h ago"),
    (_show(stamp=""), False, None, "restic-backups-daily.service never ran"),
])
def test_a_failed_stale_or_never_run_backup_is_drift(show: list[str], success: bool,
                                                     age: int | None, actual: str) -> None:
    status, (f,) = _backup(show)
    assert status == "drift" and f.actual == actual
    assert f.details["last_backup_success"] is success and f.details.get("age_hours") == age
    assert (f.details["job_name"], f.details["unit"], f.details["loaded"]) == (
        "restic-backups-daily", "restic-backups-daily.service", True)


def test_a_configured_unit_that_does_not_exist_is_drift_that_no_rule_heals() -> None:
    status, (f,) = _backup(_show(load="not-found"))
    assert status == "drift" and f.details["loaded"] is False


@pytest.mark.parametrize("show", [
    [], ["Failed to connect to bus"], _show(result=""), _show(load=""),
    _show(stamp="Tue 2026-12-08 01:00:00 UTC"), ["LoadState=loaded", "Result=success"],
])
def test_no_answer_from_systemctl_is_a_check_error(show: list[str]) -> None:
    assert _backup(show) == ("unknown", [])


def test_the_thresholds_are_the_runbooks() -> None:
    reg = default_registry()
    journal, backup = reg.get("APPL-JOURNAL-001"), reg.get("APPL-BACKUP-001")
    assert journal is not None and backup is not None
    assert journal.param_specs["max_usage_mb"].default == JOURNAL_MAX_MB
    assert backup.param_specs["max_age_hours"].default == BACKUP_MAX_AGE_H


REC_J = ('MSP_CHECK {"id":"linux_journal_usage","data":{"available":true,"max_mb":"1024",'
         '"output":["Archived and active journals take up 2.0G in the file system."]}}')
REC_B = (f'MSP_CHECK {{"id":"backup","data":{{"unit":"restic-backup","now":{NOW},'
         '"show":["LoadState=loaded","Result=exit-code","ExecMainExitTimestamp=@1"]}}')
REC_NTP = 'MSP_CHECK {"id":"linux_ntp_sync","data":{"synchronized":"yes"}}'


@pytest.mark.parametrize(("params", "want"), [
    ({}, set()),
    ({"journal_max_mb": "1024"}, {"linux_journal_usage"}),
    (self_check_params(""), {"linux_journal_usage"}),
    (self_check_params("restic-backup.service"), {"linux_journal_usage", "backup"}),
])
async def test_the_appliance_checks_apply_only_with_their_parameter(
        params: dict[str, str], want: set[str]) -> None:
    out = "\n".join([REC_J, REC_B, REC_NTP, 'MSP_SCAN_END {"checks":3}'])
    scanner = LinuxScanner(ScriptedExecutor(out))
    res = await scanner.scan(Target(Transport.LOCAL, "localhost", None, "linux", "appliance"),
                             None, deadline_s=10, params=params)
    assert {"linux_journal_usage", "backup"} & set(res.checks) == want
    assert {f.check_type for f in res.findings} == want
    assert res.checks["linux_ntp_sync"] == "pass"


def test_self_check_params() -> None:
    assert self_check_params("") == {"journal_max_mb": str(JOURNAL_MAX_MB)}
    assert self_check_params("restic-backups-nas.service") == {
        "journal_max_mb": str(JOURNAL_MAX_MB), "appliance_backup_unit": "restic-backups-nas"}


@pytest.mark.parametrize(("value", "ok"), [
    ("", True), ("restic-backup", True), ("restic-backup.service", True),
    ("restic-backups-daily", True), ("restic-backups-daily.service", True),
    ("sshd", False), ("restic-backup;reboot", False), ("restic-backup.timer", False),
    ("restic-backup/../x", False), ("restic-backup" + "x" * 49, False),
])
def test_appliance_backup_unit_names_only_units_the_helper_may_start(value: str, ok: bool) -> None:
    text = f"site_id: s\napi_key: k\nappliance_backup_unit: '{value}'\n"
    if ok:
        assert parse_config(text, environ={}).config.appliance_backup_unit == value
        # the config's pattern is the helper's: what the config accepts, the helper starts
        assert value == "" or BACKUP_JOB.fullmatch(value.removesuffix(".service"))
    else:
        with pytest.raises(ConfigError) as info:
            parse_config(text, environ={})
        assert info.value.problems == (
            "config: appliance_backup_unit: must name a restic-backup unit the privileged helper "
            "may start (restic-backup[A-Za-z0-9_-]{0,48}, .service optional)",)
        assert not BACKUP_UNIT_RE.fullmatch(value)


def test_no_backup_unit_is_configured_by_default() -> None:
    assert parse_config("site_id: s\napi_key: k\n", environ={}).config.appliance_backup_unit == ""
