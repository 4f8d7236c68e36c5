"""Windows backup checks (healing.md §2.5 ``backup_not_configured``/``backup_verification``, §2.6):
strict evaluation of the backup probes, and recorded scan outputs over the WS-Man test server,
including garbage and empty outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.exec.sshd import free_port
from tests.winrm_testserver import ScriptReply, WsmanTestServer
from tests.winrmfixtures import ntlm_user

from agent.exec import Target, WinrmCredential
from agent.exec.winrm import WinrmExecutor
from agent.protocol.credentials import WindowsTarget
from agent.scan.model import aggregate
from agent.scan.windows import SCRIPT, WindowsScanner, evaluate_windows

NOW = 1_763_900_000
DAY = 86400
PASSWORD = "Scan-Passw0rd!"
NONE_WSB = {"available": False, "policy": False, "last_success": 0}
NONE_VSS = {"count": 0, "newest": 0, "scheduled": False}
NONE_FH = {"configured": False, "last": 0}
NONE_SVC: dict[str, Any] = {"found": []}


def _data(**over: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "now": NOW,
        "wsb": NONE_WSB,
        "vss": NONE_VSS,
        "file_history": NONE_FH,
        "services": NONE_SVC,
    }
    d.update(over)
    return d


def _both(data: dict[str, Any]) -> tuple[str, str]:
    return (
        evaluate_windows("h", "backup_not_configured", data, label="WS")[0],
        evaluate_windows("h", "backup_verification", data, label="WS")[0],
    )


def test_nothing_configured_is_a_low_setup_finding() -> None:
    st, findings = evaluate_windows("h", "backup_not_configured", _data(), label="WS")
    assert st == "drift" and len(findings) == 1
    f = findings[0]
    assert (f.severity, f.hipaa_control, f.actual) == (
        "low",
        "164.308(a)(7)(ii)(A)",
        "no backup mechanism found",
    )
    # No backup: its age is not known, so verification is unknown — never pass, no incident.
    assert evaluate_windows("h", "backup_verification", _data(), label="WS") == ("unknown", [])


@pytest.mark.parametrize(
    "over",
    [
        {"wsb": {"available": True, "policy": True, "last_success": NOW - 2 * DAY}},
        {"vss": {"count": 3, "newest": NOW - 3600, "scheduled": True}},
        {"file_history": {"configured": True, "last": NOW - 6 * DAY}},
    ],
)
def test_recent_backup_passes_both(over: dict[str, Any]) -> None:
    assert _both(_data(**over)) == ("pass", "pass")


def test_old_backup_is_a_medium_finding_with_age_days() -> None:
    data = _data(
        wsb={"available": True, "policy": True, "last_success": NOW - 9 * DAY - 5},
        vss={"count": 1, "newest": NOW - 30 * DAY, "scheduled": False},
    )
    assert evaluate_windows("h", "backup_not_configured", data, label="WS")[0] == "pass"
    st, findings = evaluate_windows("h", "backup_verification", data, label="WS")
    assert st == "drift"
    (inc,) = aggregate(findings)
    assert inc.severity == "medium"
    assert inc.details == {"age_days": 9, "mechanism": "wsb", "last_backup": "2025-11-14T12:13:15Z"}
    assert inc.data_map()["age_days"] == "9"  # flattened for server rules


def test_exactly_seven_days_is_still_current() -> None:
    data = _data(vss={"count": 1, "newest": NOW - 7 * DAY, "scheduled": True})
    assert _both(data) == ("pass", "pass")
    data = _data(vss={"count": 1, "newest": NOW - 7 * DAY - 1, "scheduled": True})
    assert _both(data) == ("pass", "drift")


def test_policy_that_never_succeeded_is_drift() -> None:
    data = _data(wsb={"available": True, "policy": True, "last_success": 0})
    st, findings = evaluate_windows("h", "backup_verification", data, label="SRV")
    assert st == "drift" and findings[0].details == {"mechanism": "wsb", "last_backup": "never"}
    assert evaluate_windows("h", "backup_not_configured", data, label="SRV")[0] == "pass"


def test_third_party_product_counts_as_configured_but_its_age_is_unknown() -> None:
    svc = {"found": ["VeeamEndpointBackupSvc|Veeam Agent for Microsoft Windows|Running|Automatic"]}
    assert _both(_data(services=svc)) == ("pass", "unknown")
    # ... and it makes an old Windows backup inconclusive rather than drift.
    old = {"count": 1, "newest": NOW - 40 * DAY, "scheduled": False}
    assert _both(_data(services=svc, vss=old)) == ("pass", "unknown")
    # A disabled product, or Windows' own always-present backup services, are not a mechanism.
    for found in (
        ["AcronisCyberProtectService|Acronis Cyber Protect Service|Stopped|Disabled"],
        ["wbengine|Block Level Backup Engine Service|Stopped|Manual", "SDRSVC|Windows Backup|Stopped|Manual"],
    ):
        assert _both(_data(services={"found": found})) == ("drift", "unknown")


def test_unreadable_probe_never_makes_a_host_look_clean() -> None:
    err = {"error": "CimException"}
    # A mechanism elsewhere is enough for "configured"; a recent backup elsewhere is enough for age.
    recent = {"count": 1, "newest": NOW - DAY, "scheduled": True}
    assert _both(_data(wsb=err, vss=recent)) == ("pass", "pass")
    # Nothing found, but one probe failed: the mechanism may be behind it.
    assert _both(_data(wsb=err)) == ("unknown", "unknown")
    # An old backup plus an unreadable probe that might hold a newer one: unknown, not drift.
    old = {"count": 1, "newest": NOW - 40 * DAY, "scheduled": True}
    assert _both(_data(file_history=err, vss=old)) == ("pass", "unknown")


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"error": "RuntimeException"},
        _data(now=None),
        _data(now="1763900000"),
        _data(wsb="garbage"),
        _data(wsb={"available": True, "policy": "yes", "last_success": 0}),
        _data(vss={"count": -1, "newest": 0, "scheduled": False}),
        _data(vss={"count": 2, "newest": 0}),
        _data(file_history={"configured": True, "last": True}),
        _data(services={"found": ["no-separators"]}),
        _data(services={"found": [1, 2]}),
        _data(services=None),
    ],
)
def test_malformed_records_are_unknown(data: dict[str, Any]) -> None:
    assert evaluate_windows("h", "backup_verification", data, label="WS") == ("unknown", [])
    st = evaluate_windows("h", "backup_not_configured", data, label="WS")[0]
    assert st == "unknown"


def test_backup_in_the_future_is_unknown() -> None:
    data = _data(vss={"count": 1, "newest": NOW + 3 * DAY, "scheduled": True})
    assert _both(data) == ("pass", "unknown")


def test_script_gathers_the_probes_once_for_both_records() -> None:
    assert "Msp-Rec backup_not_configured { Msp-Backup }" in SCRIPT
    assert "Msp-Rec backup_verification { Msp-Backup }" in SCRIPT
    for probe in ("Get-WBPolicy", "Get-WBSummary", "Win32_ShadowCopy", "ShadowCopyVolume", "FileHistory"):
        assert probe in SCRIPT, probe


# --- recorded scan outputs over WinRM ------------------------------------------------------------


@pytest.fixture(autouse=True)
def ntlm_users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ntlm_user(tmp_path, monkeypatch, "CLINIC\\svc-scan", PASSWORD)


def _records(data: dict[str, Any] | str) -> str:
    lines = ["WARNING: The Windows Server Backup feature is not installed."]
    for cid in ("backup_not_configured", "backup_verification"):
        body = data if isinstance(data, str) else json.dumps({"id": cid, "data": data}, separators=(",", ":"))
        lines.append("MSP_CHECK " + body)
    lines.append('MSP_SCAN_END {"checks":2}')
    return "\r\n".join(lines) + "\r\n"


async def _scan(tmp_path: Path, srv: WsmanTestServer, stdout: str) -> Any:
    srv.responder = lambda script: ScriptReply(stdout)
    ex = WinrmExecutor(tmp_path, http_port=srv.port, https_port=free_port())
    wt = WindowsTarget(hostname="127.0.0.1", username="CLINIC\\svc-scan", password=PASSWORD, role="WS")
    return await WindowsScanner(ex).scan(
        Target.from_windows(wt), WinrmCredential.from_windows(wt), deadline_s=30
    )


async def test_recorded_workstation_without_backup(tmp_path: Path, wsman: WsmanTestServer) -> None:
    res = await _scan(tmp_path, wsman, _records(_data()))
    assert res.checks["backup_not_configured"] == "drift"
    assert res.checks["backup_verification"] == "unknown"
    assert [f.check_type for f in res.findings] == ["backup_not_configured"]


async def test_recorded_stale_file_history(tmp_path: Path, wsman: WsmanTestServer) -> None:
    res = await _scan(
        tmp_path, wsman, _records(_data(file_history={"configured": True, "last": NOW - 12 * DAY}))
    )
    assert res.checks["backup_not_configured"] == "pass"
    assert res.checks["backup_verification"] == "drift"
    (f,) = res.findings
    assert f.details["age_days"] == 12 and f.details["mechanism"] == "file_history"


@pytest.mark.parametrize(
    "stdout",
    [
        "",
        "garbage\r\nmore garbage\r\n",
        _records('{"id":"backup_verification","data":{"now":17639'),  # cut mid-record
        _records("not json at all"),
    ],
)
async def test_recorded_garbage_or_empty_output_is_unknown(
    tmp_path: Path, wsman: WsmanTestServer, stdout: str
) -> None:
    res = await _scan(tmp_path, wsman, stdout)
    assert res.findings == []
    assert res.checks["backup_not_configured"] == "unknown"
    assert res.checks["backup_verification"] == "unknown"
    assert res.status == "failed"
