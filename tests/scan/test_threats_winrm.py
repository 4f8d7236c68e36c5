"""Threat detection over WinRM (the WS-Man test server plays the Windows host with recorded script
output) and end to end through the healing component against the local Central Command: events
archived PHI-scrubbed (central-api.md §7.7), findings escalated by L1-MONITOR-ESC-001."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from tests.exec.sshd import free_port
from tests.winrm_testserver import ScriptReply, WsmanTestServer
from tests.winrmfixtures import ntlm_user, script_params

from agent.exec import Target, WinrmCredential
from agent.exec.winrm import WinrmExecutor
from agent.protocol import CredentialSet
from agent.protocol.credentials import WindowsTarget
from agent.scan.threats import ARCHIVE_DIR, ThreatDetector
from agent.scan.windows import WindowsScanner

from .conftest import SITE, Env, drain

FIX = Path(__file__).resolve().parent / "fixtures"
COMPLIANT = (FIX / "windows_compliant.txt").read_text()
THREATS = (FIX / "windows_threats.txt").read_text()
PASSWORD = "Threat-Passw0rd!"
T0 = 1_763_900_000
USER = "CLINIC\\svc-scan"


def output(extra: str = THREATS) -> str:
    """The compliant recording with the threat records before the end line."""
    lines = COMPLIANT.rstrip("\n").splitlines()
    return "\n".join([*lines[:-1], *extra.rstrip("\n").splitlines(), lines[-1]]) + "\n"


def with_vss(count: int) -> str:
    lines = THREATS.rstrip("\n").splitlines()
    rec = json.loads(lines[-1].removeprefix("MSP_CHECK "))
    rec["data"]["vss"]["count"] = count
    return output("\n".join([*lines[:-1], "MSP_CHECK " + json.dumps(rec)]))


@pytest.fixture(autouse=True)
def ntlm_users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ntlm_user(tmp_path, monkeypatch, USER, PASSWORD)


def _serve(srv: WsmanTestServer, replies: list[str]) -> list[str]:
    """Scan scripts get the next reply (the last one repeats); returns the delivered scripts."""
    seen: list[str] = []

    def responder(script: str) -> ScriptReply | None:
        if "Msp-Rec" not in script:
            return None
        seen.append(script)
        return ScriptReply(replies[min(len(seen), len(replies)) - 1])

    srv.responder = responder
    return seen


async def _scan(tmp_path: Path, srv: WsmanTestServer, det: ThreatDetector | None) -> Any:
    ex = WinrmExecutor(tmp_path, http_port=srv.port, https_port=free_port())
    wt = WindowsTarget(hostname="127.0.0.1", username=USER, password=PASSWORD, role="DC")
    try:
        return await WindowsScanner(ex, threats=det).scan(
            Target.from_windows(wt), WinrmCredential.from_windows(wt), deadline_s=30
        )
    finally:
        await ex.close()


def test_recorded_chunks_stay_below_the_line_cap() -> None:
    lines = THREATS.splitlines()
    assert all(len(ln.encode()) < 64 * 1024 for ln in lines)
    chunks = [json.loads(ln.removeprefix("MSP_CHECK "))["data"] for ln in lines[:-1]]
    assert sum(len(c["events"]) for c in chunks) == chunks[0]["total"] == 23


async def test_scan_collects_and_evaluates(tmp_path: Path, wsman: WsmanTestServer) -> None:
    det = ThreatDetector(tmp_path / "state", clock=lambda: float(T0))
    seen = _serve(wsman, [output(), with_vss(0)])
    res = await _scan(tmp_path, wsman, det)
    assert res.status == "complete", res.error_kind
    assert "security_since" not in script_params(seen[0])  # first contact: the script's lookback
    assert res.checks["security_event_critical"] == "drift" and res.checks["ransomware_indicator"] == "pass"
    found = {(f.check_type, f.discriminator, f.severity) for f in res.findings}
    assert found == {
        ("security_event_critical", "1102", "critical"),
        ("brute_force_detected", "203.0.113.7", "high"),
    }
    assert det.take_pending() == []
    assert det.cursors["127.0.0.1"] == (T0 - 5, 5023)
    # second scan: the cursor goes to the host; the same events are old; shadow copies 4 -> 0
    res = await _scan(tmp_path, wsman, det)
    assert script_params(seen[1])["security_since"] == str(T0 - 5)
    assert [(f.check_type, f.details) for f in res.findings] == [
        ("ransomware_indicator", {"previous_count": 4, "count": 0})
    ]
    assert res.checks["security_event_critical"] == "pass" and res.checks["ransomware_indicator"] == "drift"


@pytest.mark.parametrize(
    "extra",
    [
        "",  # an older script without the records
        'MSP_CHECK {"data":{"events":"junk"},"id":"security_event_critical"}\n'
        'MSP_CHECK {"data":{"vss":{"error":"CimException"}},"id":"ransomware_indicator"}',
        'MSP_CHECK {"data":{"error":"UnauthorizedAccessException"},"id":"security_event_critical"}\n'
        'MSP_CHECK {"data":{"error":"NoData"},"id":"ransomware_indicator"}',
        'MSP_CHECK {"data":{"events":[]},"id":"security_event_critical"}\n'
        'MSP_CHECK {"data":{"events":[{"event_id":1102}]},"id":"security_event_critical"}\nMSP_CHECK {broken',
    ],
)
async def test_garbage_threat_records_are_unknown(tmp_path: Path, wsman: WsmanTestServer, extra: str) -> None:
    det = ThreatDetector(tmp_path / "state", clock=lambda: float(T0))
    _serve(wsman, [output(extra)])
    res = await _scan(tmp_path, wsman, det)
    assert res.status == "complete"
    assert res.checks["security_event_critical"] == "unknown"
    assert res.checks["ransomware_indicator"] == "unknown"
    assert res.findings == [] and det.cursors == {} and det.shadow == {}


async def test_without_a_detector_the_records_are_ignored(tmp_path: Path, wsman: WsmanTestServer) -> None:
    _serve(wsman, [output()])
    res = await _scan(tmp_path, wsman, None)
    assert res.status == "complete" and res.findings == []
    assert "security_event_critical" not in res.checks


async def test_end_to_end_archive_and_escalation(env: Env, wsman: WsmanTestServer) -> None:
    w = env.wired()
    w.site.credentials = CredentialSet(windows_targets=[msgspec.convert(
        {"hostname": "127.0.0.1", "username": USER, "password": PASSWORD, "role": "DC"},
        WindowsTarget)])
    comp, healing, reports = w.scan, w.healing, w.reports
    seen = _serve(wsman, [output(), with_vss(0)])
    w.executors._winrm = WinrmExecutor(env.tmp, http_port=wsman.port, https_port=free_port())
    await comp.scan_now()
    assert len(seen) == 1
    # archived through the egress boundary: PHI in an event message never reaches the server
    recs = env.cc.records("security_events", SITE)
    events = [e for r in recs for e in r["events"]]
    assert len(events) == 23
    assert {e["hostname"] for e in events} == {"127.0.0.1"}
    blob = json.dumps(recs)
    assert "123-45-6789" not in blob and "John Smith" not in blob
    locked = next(e for e in events if e["event_id"] == 4740)
    assert "REDACTED" in locked["message"] and locked["timestamp"] == "2025-11-23T12:13:15Z"
    assert comp.security_archive.pending() == 0
    assert list((Path(env.config.state_dir) / ARCHIVE_DIR).iterdir()) == []

    results = await _heal_all(healing)
    assert set(results) >= {"security_event_critical", "brute_force_detected"}
    stages = []
    for ct in ("security_event_critical", "brute_force_detected"):
        inc, res = results[ct]
        assert inc.host == "127.0.0.1" and inc.source == "threat"
        stages.append((res.stage, res.reason))
    # L1-MONITOR-ESC-001 escalates; its cooldown key is <rule>:<host> (§1.5), so the second
    # monitoring-only incident of the host within 300 s is deferred (it is still reported)
    assert sorted(stages) == [("deferred", "deferred_cooldown"), ("escalated", "monitoring_only")]
    await reports.run_once()
    sent = {(i["host_id"], i["check_type"], i["severity"]) for i in env.cc.incidents(SITE)}
    assert {
        ("127.0.0.1", "security_event_critical", "critical"),
        ("127.0.0.1", "brute_force_detected", "high"),
    } <= sent

    # a second round: nothing new is archived or raised, the shadow copies are gone
    await comp.scan_now()
    assert script_params(seen[1])["security_since"] == str(T0 - 5)
    assert len(env.cc.records("security_events", SITE)) == len(recs)
    results2 = await _heal_all(healing)
    assert "security_event_critical" not in results2 and "brute_force_detected" not in results2
    inc, res = results2["ransomware_indicator"]
    assert inc.severity == "critical" and inc.details["previous_count"] == 4
    await reports.run_once()
    assert ("127.0.0.1", "ransomware_indicator", "critical") in {
        (i["host_id"], i["check_type"], i["severity"]) for i in env.cc.incidents(SITE)
    }


async def _heal_all(comp: Any) -> dict[str, Any]:
    """check type -> pipeline result for every queued incident."""
    return {inc.check_type: (inc, await comp._heal(inc)) for inc in drain(comp)}
