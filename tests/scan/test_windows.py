"""Windows scan over the WS-Man test server with recorded PowerShell outputs (healing.md §2.5, §2.6,
§6.4, §6.5): strict parsing, label-specific checks, partial and failed scans."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.exec.sshd import free_port
from tests.winrm_testserver import ScriptReply, WsmanTestServer
from tests.winrmfixtures import ntlm_user

from agent.exec import Target, Transport, WinrmCredential
from agent.exec.winrm import WinrmExecutor
from agent.protocol.credentials import WindowsTarget
from agent.scan.model import aggregate
from agent.scan.windows import EVALUATORS, SCRIPT, WindowsScanner, evaluate_windows, windows_label

FIX = Path(__file__).resolve().parent / "fixtures"
COMPLIANT = (FIX / "windows_compliant.txt").read_text()
DRIFTED = (FIX / "windows_drifted.txt").read_text()
PASSWORD = "Scan-Passw0rd!"


@pytest.fixture(autouse=True)
def ntlm_users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ntlm_user(tmp_path, monkeypatch, "CLINIC\\svc-scan", PASSWORD)


def _reply(srv: WsmanTestServer, reply: ScriptReply) -> list[str]:
    seen: list[str] = []

    def responder(script: str) -> ScriptReply | None:
        seen.append(script)
        return reply

    srv.responder = responder
    return seen


async def _scan(tmp_path: Path, srv: WsmanTestServer, role: str, deadline_s: float = 30) -> Any:
    ex = WinrmExecutor(tmp_path, http_port=srv.port, https_port=free_port())
    wt = WindowsTarget(hostname="127.0.0.1", username="CLINIC\\svc-scan", password=PASSWORD, role=role)
    scanner = WindowsScanner(ex)
    return await scanner.scan(
        Target.from_windows(wt), WinrmCredential.from_windows(wt), deadline_s=deadline_s
    )


async def test_compliant_domain_controller(tmp_path: Path, wsman: WsmanTestServer) -> None:
    seen = _reply(wsman, ScriptReply(COMPLIANT))
    res = await _scan(tmp_path, wsman, "DC")
    assert len(seen) == 1 and "Msp-Rec firewall_status" in seen[0]  # our script was delivered
    assert res.status == "complete", res.error_kind
    assert res.findings == []
    assert "agent_status" not in res.checks and "network_profile" not in res.checks  # WS only
    assert set(res.checks.values()) == {"pass"}
    assert {"service_dns", "service_netlogon", "spooler_service"} <= set(res.checks)


async def test_drifted_workstation(tmp_path: Path, wsman: WsmanTestServer) -> None:
    _reply(wsman, ScriptReply(DRIFTED))
    res = await _scan(tmp_path, wsman, "workstation")
    assert res.status == "complete"
    assert all(f.source == "driftscan" and f.platform == "windows" and f.label == "WS" for f in res.findings)
    assert "service_dns" not in res.checks  # DC only
    assert res.checks["wmi_event_persistence"] == "unknown"  # the check threw on the host
    assert res.checks["audit_logging"] == "pass"
    drift = {ct for ct, st in res.checks.items() if st == "drift"}
    assert drift == {
        "firewall_status",
        "windows_defender",
        "windows_update",
        "rogue_admin_users",
        "rogue_scheduled_tasks",
        "agent_status",
        "bitlocker_status",
        "smb_signing",
        "smb1_protocol",
        "screen_lock_policy",
        "defender_exclusions",
        "dns_config",
        "network_profile",
        "password_policy",
        "rdp_nla",
        "guest_account",
        "registry_run_persistence",
        "audit_policy",
        "defender_cloud_protection",
        "firewall_dangerous_rules",
        "backup_verification",
    }
    assert res.checks["backup_not_configured"] == "pass"  # old shadow copies are a mechanism
    incidents = {i.check_type: i for i in aggregate(res.findings)}
    fw = incidents["firewall_status"]
    assert fw.discriminators == ("Private", "Public") and fw.severity == "high"
    assert fw.actual == "Private profile disabled; Public profile disabled"
    assert incidents["rogue_admin_users"].details["users"] == ["FRONTDESK\\helpdesk"]
    assert incidents["windows_defender"].details == {"service": "WinDefend", "status": "Stopped"}
    assert incidents["bitlocker_status"].discriminators == ("C:",)
    assert incidents["defender_exclusions"].details["exclusions"] == ["C:\\EHR\\data", ".tmp"]
    assert incidents["password_policy"].discriminators == ("lockout_threshold", "min_length")
    assert incidents["registry_run_persistence"].details["entries"] == ["RunOnce|updsvc"]
    assert incidents["firewall_dangerous_rules"].details["rules"] == ["Allow-All-In", "SQL-In"]
    assert incidents["audit_policy"].details["subcategories"] == ["Logon"]
    assert incidents["dns_config"].details["servers"] == ["203.0.113.53"]
    assert incidents["agent_status"].details["status"] == "NotInstalled"
    assert incidents["backup_verification"].details == {
        "age_days": 20,
        "mechanism": "vss",
        "last_backup": "2025-11-03T12:11:40Z",
    }
    assert "WARNING: some cmdlet printed a warning line" in res.diagnostics


@pytest.mark.parametrize(
    "stdout", ["", "garbage\r\nnot a record\r\nMSP_CHECK {broken json", "MSP_SCAN_END {}"]
)
async def test_empty_or_garbage_is_a_failed_scan(tmp_path: Path, wsman: WsmanTestServer, stdout: str) -> None:
    _reply(wsman, ScriptReply(stdout))
    res = await _scan(tmp_path, wsman, "DC")
    assert res.status == "failed" and res.error_kind == "scan_output_invalid"
    assert res.findings == [] and set(res.checks.values()) == {"unknown"}


async def test_truncated_output_is_partial(tmp_path: Path, wsman: WsmanTestServer) -> None:
    lines = DRIFTED.splitlines()
    cut = "\n".join(lines[:6]) + "\n" + lines[6][:40]  # stops mid-record, no end line
    _reply(wsman, ScriptReply(cut))
    res = await _scan(tmp_path, wsman, "WS")
    assert res.status == "partial"
    assert res.checks["firewall_status"] == "drift" and res.checks["rogue_admin_users"] == "drift"
    assert res.checks["rogue_scheduled_tasks"] == "unknown"  # the cut record
    assert res.checks["smb_signing"] == "unknown"


async def test_timeout_keeps_records_already_received(tmp_path: Path, wsman: WsmanTestServer) -> None:
    head = "\n".join(COMPLIANT.splitlines()[:3])
    _reply(wsman, ScriptReply(head, hang=True))
    res = await _scan(tmp_path, wsman, "DC", deadline_s=3)
    assert res.status == "partial" and res.error_kind == "command_timeout"
    assert res.checks["firewall_status"] == "pass" and res.checks["smb_signing"] == "unknown"


async def test_timeout_without_output_is_failed(tmp_path: Path, wsman: WsmanTestServer) -> None:
    _reply(wsman, ScriptReply("", hang=True))
    res = await _scan(tmp_path, wsman, "DC", deadline_s=3)
    assert res.status == "failed" and res.error_kind == "command_timeout"
    assert set(res.checks.values()) == {"unknown"}


async def test_nonzero_exit_after_all_records_is_partial(tmp_path: Path, wsman: WsmanTestServer) -> None:
    _reply(wsman, ScriptReply(COMPLIANT, exit_code=1))
    res = await _scan(tmp_path, wsman, "DC")
    assert res.status == "partial" and res.findings == []


@pytest.mark.parametrize(
    ("check", "data"),
    [
        ("firewall_status", {"profiles": {"Domain": True, "Private": "True", "Public": True}}),
        ("firewall_status", {"profiles": {"Domain": True}}),
        ("windows_defender", {"status": "Weird"}),
        ("rogue_admin_users", {"members": ["not|a-sid|x"]}),
        ("bitlocker_status", {"available": False}),
        ("bitlocker_status", {"available": True, "volumes": []}),
        ("bitlocker_status", {"available": True, "volumes": ["C:|Unknown|x"]}),
        ("screen_lock_policy", {"configured": True, "timeout_s": "900"}),
        ("dns_config", {"dc": "", "servers": ["Ethernet0|not-an-ip"]}),
        ("password_policy", {"min_length": None, "lockout_threshold": 5}),
        ("rdp_nla", {"user_authentication": None}),
        ("audit_policy", {"subcategories": {"{0CCE9215-69AE-11D9-BED3-505054503030}": "Success"}}),
        ("defender_cloud_protection", {"available": True, "realtime_enabled": True}),
        ("smb_signing", {"error": "CimException"}),
    ],
)
def test_missing_or_unknown_values_are_unknown(check: str, data: dict[str, Any]) -> None:
    assert evaluate_windows("h", check, data, label="DC") == ("unknown", [])


def test_every_windows_check_has_an_evaluator_and_a_record_in_the_script() -> None:
    for ct in EVALUATORS:
        assert f"Msp-Rec {ct} " in SCRIPT, ct
    assert "ConvertTo-Json -Compress" in SCRIPT and "MSP_SCAN_END" in SCRIPT


def test_role_labels() -> None:
    assert [windows_label(r) for r in ("DC", "domain_controller", "Workstation", "ws", "server", "")] == [
        "DC",
        "DC",
        "WS",
        "WS",
        "SRV",
        "SRV",
    ]


def test_target_wiring_from_windows_credentials() -> None:
    wt = WindowsTarget(hostname="fd-01", username="u", password="p-123456", role="WS")
    t = Target.from_windows(wt)
    assert t.transport is Transport.WINRM and t.platform == "windows"
    assert [ct for ct in WindowsScanner(None).applicable(t) if ct in ("agent_status", "service_dns")] == [
        "agent_status"
    ]
