"""macOS scan records: strict parsing and evaluation of recorded tool output (healing.md §2.5, §2.6)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from agent.exec import ErrorKind, ExecError, Stage, Target, Transport
from agent.scan.catalog import CATALOG
from agent.scan.linux import evaluate_record
from agent.scan.macos import EVALUATORS, SCRIPT, SOURCE, MacosScanner
from agent.scan.model import RecordParser

from .test_linux_parse import ScriptedExecutor

FIX = Path(__file__).resolve().parent / "fixtures"
T = Target(Transport.SSH, "10.0.0.9", 22, "macos", "")


def ev(check: str, data: dict[str, Any]) -> tuple[str, list[Any]]:
    return evaluate_record(
        "mac", check, data, label="macos", platform="macos", evaluators=EVALUATORS, source=SOURCE
    )


def out(key: str, rc: int, *lines: str) -> dict[str, Any]:
    return {f"{key}_rc": rc, key: list(lines)}


async def test_recorded_compliant_mac() -> None:
    r = await MacosScanner(ScriptedExecutor((FIX / "macos_compliant.txt").read_text())).scan(
        T, None, deadline_s=5
    )
    assert r.status == "complete" and r.findings == []
    assert r.checks == {ct: "pass" for ct in EVALUATORS}
    assert r.diagnostics == ["Last login: Mon Nov 23 09:12:44 2026 from 192.168.88.10"]


async def test_recorded_drifted_mac() -> None:
    r = await MacosScanner(ScriptedExecutor((FIX / "macos_drifted.txt").read_text())).scan(
        T, None, deadline_s=5
    )
    assert r.status == "complete"
    assert r.checks == {ct: "drift" for ct in EVALUATORS}
    got = {(f.check_type, f.severity, f.discriminator): dict(f.details) for f in r.findings}
    assert got == {
        ("macos_filevault", "critical", ""): {},
        ("macos_gatekeeper", "high", ""): {},
        ("macos_sip", "critical", ""): {},
        ("macos_firewall", "high", ""): {},
        ("macos_auto_update", "medium", ""): {},
        ("macos_screen_lock", "low", ""): {"delay_s": 300},
        ("macos_file_sharing", "medium", ""): {},
        ("macos_time_machine", "medium", "stale"): {"problem": "stale", "age_days": 20},
        ("macos_ntp_sync", "low", ""): {},
        ("macos_admin_users", "high", ""): {"users": ["clinicadmin", "drsmith", "frontdesk", "itvendor"]},
        ("macos_disk_space", "medium", ""): {"use_percent": 92},
        ("macos_cert_expiry", "high", "/etc/ssl/clinic/portal.pem"): {
            "path": "/etc/ssl/clinic/portal.pem",
            "days_left": 8,
        },
    }
    for f in r.findings:
        spec = CATALOG.spec(f.check_type)
        assert spec is not None and spec.platform == "macos"
        assert set(f.details) <= spec.detail_keys, f.check_type  # only declared detail keys
        assert f.hipaa_control == spec.hipaa
        assert (f.platform, f.source, f.label) == ("macos", "macosscan", "macos")


@pytest.mark.parametrize(
    ("check", "data"),
    [
        ("macos_filevault", out("status", 127)),
        ("macos_filevault", out("status", 0, "FileVault is maybe.")),
        ("macos_filevault", {"status": ["FileVault is On."]}),  # no exit status
        ("macos_filevault", {"status_rc": True, "status": ["FileVault is On."]}),
        ("macos_gatekeeper", out("status", 0)),
        (
            "macos_sip",
            out("status", 0, "System Integrity Protection status: unknown (Custom Configuration)."),
        ),
        ("macos_firewall", out("state", 0, "Firewall is enabled.")),
        ("macos_auto_update", {**out("pref", 1, "Segmentation fault"), **out("schedule", 0, "")}),
        ("macos_auto_update", {**out("pref", 0, "YES"), **out("schedule", 127)}),
        (
            "macos_screen_lock",
            {**out("sysadminctl", 1, "Error"), **out("ask", 0, "1"), **out("delay", 1, "x")},
        ),
        (
            "macos_screen_lock",
            {**out("sysadminctl", 127), **out("ask", 0, "garbage"), **out("delay", 0, "5")},
        ),
        (
            "macos_file_sharing",
            {**out("disabled", 0, "disabled services = {", "}"), **out("service", 5, "Bad")},
        ),
        ("macos_file_sharing", {**out("disabled", 1, "Unrecognized subcommand"), **out("service", 113, "x")}),
        (
            "macos_time_machine",
            {**out("dest", 1, "tmutil: destinationinfo: error"), **out("latest", 0), "now": "x"},
        ),
        (
            "macos_time_machine",
            {
                **out("dest", 0, "=====", "Name : NAS", "Kind : Network"),
                **out("latest", 1, "tmutil: latestbackup requires Full Disk Access privileges."),
                "now": "2026-11-23-091245",
            },
        ),
        ("macos_ntp_sync", out("status", 0, "You need administrator access to run this tool... exiting!")),
        ("macos_ntp_sync", out("status", 1, "sudo: a password is required")),
        ("macos_admin_users", out("members", 56, "<dscl_cmd> DS Error: -14136 (eDSRecordNotFound)")),
        ("macos_admin_users", out("members", 0, "No such key: GroupMembership")),
        ("macos_disk_space", out("df", 0, "Filesystem 512-blocks Used Available Capacity Mounted on")),
        ("macos_disk_space", out("df", 0, "Filesystem x", "/dev/disk3s1s1 1 1 1 n/a /")),
        ("macos_cert_expiry", {"certs": [], "now": 1795424000}),  # nothing monitored: not drift, not pass
        ("macos_cert_expiry", {"certs": ["/etc/a.pem|unreadable"], "now": 1795424000}),
        ("macos_cert_expiry", {"certs": ["/etc/a.pem|notAfter=Sep 30 23:59:59 2027 GMT"]}),
        ("macos_unknown_check", {}),
    ],
)
def test_unreadable_values_are_unknown_never_pass(check: str, data: dict[str, Any]) -> None:
    assert ev(check, data) == ("unknown", [])


def test_variants_of_documented_output() -> None:
    assert (
        ev(
            "macos_filevault",
            out("status", 0, "FileVault is Off, but will be enabled after the next restart."),
        )[0]
        == "drift"
    )
    assert ev("macos_firewall", out("state", 0, "Firewall is enabled. (State = 1)"))[0] == "pass"
    # auto update: the preference missing falls back to the schedule; an explicit off wins
    missing = out(
        "pref",
        1,
        "The domain/default pair of (/Library/Preferences/com.apple.SoftwareUpdate, "
        "AutomaticCheckEnabled) does not exist",
    )
    assert ev("macos_auto_update", {**missing, **out("schedule", 0, "Automatic check is on")})[0] == "pass"
    assert ev("macos_auto_update", {**out("pref", 0, "1"), **out("schedule", 0, "Automatic check is off")})[
        0
    ] == ("drift")
    # screen lock: sysadminctl wins; "off" is medium; defaults fallback
    st, f = ev("macos_screen_lock", out("sysadminctl", 0, "2026-11-23 sysadminctl[1:2] screenLock is off"))
    assert st == "drift" and f[0].severity == "medium" and f[0].details == {}
    assert ev("macos_screen_lock", out("sysadminctl", 0, "x sysadminctl[1:2] screenLock delay is immediate"))[
        0
    ] == ("pass")
    st, f = ev("macos_screen_lock", {**out("sysadminctl", 127), **out("ask", 0, "0")})
    assert st == "drift" and f[0].severity == "medium"
    # file sharing: no override line and not loaded is off; enabled override is on even if not loaded
    base = out("disabled", 0, "disabled services = {", "}")
    assert (
        ev(
            "macos_file_sharing",
            {**base, **out("service", 113, 'Could not find service "com.apple.smbd" in domain for system')},
        )[0]
        == "pass"
    )
    on = out("disabled", 0, "disabled services = {", '"com.apple.smbd" => false', "}")
    assert ev(
        "macos_file_sharing", {**on, **out("service", 113, 'Could not find service "com.apple.smbd" in x')}
    )[0] == ("drift")
    # time machine: none configured (high), no backup yet (medium), unmounted local disk (high)
    st, f = ev(
        "macos_time_machine",
        {
            **out("dest", 1, "tmutil: No destinations configured."),
            **out("latest", 1),
            "now": "2026-11-23-091245",
        },
    )
    assert st == "drift" and [(x.discriminator, x.severity) for x in f] == [("no_destination", "high")]
    local = out("dest", 0, "=====", "Name          : Backups", "Kind          : Local", "ID : 1")
    st, f = ev(
        "macos_time_machine",
        {**local, **out("latest", 1, "No machine directory found for host."), "now": "2026-11-23-091245"},
    )
    assert [(x.discriminator, x.severity) for x in f] == [("not_mounted", "high"), ("no_backup", "medium")]
    nas = out("dest", 0, "=====", "Name          : ClinicNAS", "Kind          : Network", "ID : 5E1F")
    st, f = ev("macos_time_machine", {**nas, **out("latest", 1, "Failed to mount backup destination, ",
                                                     'error: Code=18 "Failed to mount destination."'),
                                      "now": "2026-11-23-091245"})  # fmt: skip
    assert st == "drift" and [(x.discriminator, x.severity) for x in f] == [("not_mounted", "high")]
    # admin users: root is not counted; exactly 3 others is compliant
    assert ev("macos_admin_users", out("members", 0, "GroupMembership: root a b c"))[0] == "pass"
    # disk: over 95% is high
    st, f = ev(
        "macos_disk_space",
        out(
            "df",
            0,
            "Filesystem 512-blocks Used Available Capacity Mounted on",
            "/dev/disk3s1s1 100 97 3 97% /",
        ),
    )
    assert f[0].severity == "high" and f[0].details == {"use_percent": 97}
    # certificates: an expiring one is drift even if another is unreadable
    st, f = ev(
        "macos_cert_expiry",
        {"certs": ["/a|unreadable", "/b|notAfter=Nov 20 00:00:00 2026 GMT"], "now": 1795424000},
    )
    assert st == "drift" and f[0].details == {"path": "/b", "days_left": -4}


async def test_transport_failure_and_partial_scan() -> None:
    err = ExecError(ErrorKind.AUTH_FAILED, Stage.AUTH, "denied")
    r = await MacosScanner(ScriptedExecutor("", exit_code=None, error=err)).scan(T, None, deadline_s=5)
    assert r.status == "failed" and r.error_kind == "auth_failed"
    assert set(r.checks.values()) == {"unknown"}
    first = (FIX / "macos_drifted.txt").read_text().splitlines()[0]
    r2 = await MacosScanner(ScriptedExecutor(first + "\n")).scan(T, None, deadline_s=5)
    assert r2.status == "partial" and r2.checks["macos_filevault"] == "drift"
    assert r2.checks["macos_firewall"] == "unknown"
    r3 = await MacosScanner(ScriptedExecutor("garbage\nMSP_CHECK {oops\n")).scan(T, None, deadline_s=5)
    assert r3.status == "failed" and r3.error_kind == "scan_output_invalid"


@pytest.mark.parametrize("shell", ["dash", "bash --posix"])
def test_script_is_posix_sh_and_needs_no_python(shell: str, tmp_path: Path) -> None:
    """The real script under a strict POSIX shell against the fake tools: 12 valid records, then
    the end line; nothing in it needs python3 or jq."""
    if shutil.which(shell.split()[0]) is None:
        pytest.fail(f"{shell} is needed for this test")
    code = "\n".join(ln for ln in SCRIPT.splitlines() if not ln.lstrip().startswith("#"))
    assert not re.search(r"\b(python3?|jq|perl)\b", code)
    tools = tmp_path / "tools"
    shutil.copytree(FIX / "macos_tools", tools)
    (tools / "state").mkdir()
    env = {"PATH": f"{tools}:/usr/bin:/bin", "LC_ALL": "C"}
    res = subprocess.run([*shell.split(), "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    parser = RecordParser()
    for line in res.stdout.splitlines():
        parser.feed(line)
    assert parser.ended and parser.declared == 12 and parser.invalid == 0
    assert set(parser.records) == set(EVALUATORS)
    assert [ev(c, d)[0] for c, d in parser.records.items() if c != "macos_time_machine"].count("pass") == 10
