"""The remaining Windows runbooks healed through the L1 pipeline over WinRM (finding → rule →
remediate → verify), with the WS-Man test server playing the host and recorded PowerShell phase
outputs; plus the failure paths of healing.md §3.3/§3.4 (verify not verified, assertion not met,
garbage or empty output) and the not_applicable paths (§3.5)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tests.exec.sshd import free_port
from tests.winrm_testserver import ScriptReply, WsmanTestServer
from tests.winrmfixtures import ntlm_user, script_params

from agent.exec import Target, Transport, WinrmCredential
from agent.exec.winrm import WinrmExecutor
from agent.healing.pipeline import PipelineResult
from agent.runbooks import default_registry
from agent.scan.model import aggregate
from agent.scan.windows import RUN_ALLOWLIST, WMI_DEFAULT_CONSUMERS, WMI_DEFAULT_FILTERS, evaluate_windows

from .fakes import MemorySink
from .test_e2e_ssh import _pipeline

PASSWORD = "Heal-Passw0rd!"
REG = default_registry()


def _res(obj: dict[str, Any]) -> str:
    """A result line as PowerShell's ConvertTo-Json -Compress prints it."""
    return "MSP_RESULT " + json.dumps(obj, separators=(",", ":"))


def _remediate(*actions: str, status: str = "ok", reason: str = "") -> str:
    return _res(
        {
            "phase": "remediate",
            "status": status,
            "changed": bool(actions),
            "actions": list(actions),
            "reason": reason,
        }
    )


def _verify(verified: bool, **observed: Any) -> str:
    return _res({"phase": "verify", "verified": verified, "observed": observed})


@dataclass(frozen=True)
class Case:
    rule_id: str
    runbook_id: str
    check: str
    data: dict[str, Any]  # the scan record that produces the finding
    remediate: str  # recorded remediate output
    ok: dict[str, Any]  # observed of a verify that proves the fix
    bad: dict[str, Any]  # observed of a verify that still shows the drift
    params: dict[str, str] = field(default_factory=dict)  # expected decoded parameters
    label: str = "SRV"


ADMINS = [
    "S-1-5-21-1004336348-1177238915-682003330-500|User|FRONTDESK\\Administrator",
    "S-1-5-21-1004336348-1177238915-682003330-512|Group|CLINIC\\Domain Admins",
    "S-1-5-21-1004336348-1177238915-682003330-1001|User|FRONTDESK\\helpdesk",
    "S-1-5-21-1004336348-1177238915-682003330-1002|User|FRONTDESK\\temp-admin",
]
AUDIT = {
    "{0CCE9215-69AE-11D9-BED3-505054503030}": "No Auditing",
    "{0CCE9216-69AE-11D9-BED3-505054503030}": "Success",
    "{0CCE9217-69AE-11D9-BED3-505054503030}": "Failure",
    "{0CCE9235-69AE-11D9-BED3-505054503030}": "Success and Failure",
    "{0CCE9237-69AE-11D9-BED3-505054503030}": "Success",
    "{0CCE922F-69AE-11D9-BED3-505054503030}": "No Auditing",
    "{0CCE9228-69AE-11D9-BED3-505054503030}": "Success and Failure",
}

CASES = [
    Case(
        "L1-WIN-SEC-BITLOCKER",
        "RB-WIN-SEC-005",
        "bitlocker_status",
        {"available": True, "volumes": ["C:|Off|FullyEncrypted", "D:|On|FullyEncrypted"]},
        _remediate("resumed protection on C:"),
        {"available": True, "checked": 2, "unprotected": 0, "unprotected_volumes": []},
        {"available": True, "checked": 2, "unprotected": 1, "unprotected_volumes": ["C:"]},
    ),
    Case(
        "L1-WIN-SEC-DEFENDER-EXCL",
        "RB-WIN-SEC-017",
        "defender_exclusions",
        {"available": True, "paths": ["C:\\EHR\\data"], "processes": None, "extensions": ".tmp"},
        _remediate("removed path exclusion C:\\EHR\\data", "removed extension exclusion .tmp"),
        {"available": True, "checked": 2, "remaining": 0, "unexpected": 0},
        {"available": True, "checked": 2, "remaining": 1, "unexpected": 1},
        {"exclusions": "C:\\EHR\\data\n.tmp", "keep": ""},
    ),
    Case(
        "L1-PERSIST-REG-001",
        "RB-WIN-SEC-019",
        "registry_run_persistence",
        {"entries": ["Run|SecurityHealth", "RunOnce|updsvc", "Run|Windows Update Helper"]},
        _remediate("removed RunOnce|updsvc", "removed Run|Windows Update Helper"),
        {"checked": 2, "remaining": 0, "unexpected": 0},
        {"checked": 2, "remaining": 1, "unexpected": 1},
        {"entries": "RunOnce|updsvc\nRun|Windows Update Helper"},
    ),
    Case(
        "L1-PERSIST-WMI-001",
        "RB-WIN-SEC-021",
        "wmi_event_persistence",
        {
            "filters": ["SCM Event Log Filter", "Updater"],
            "consumers": ["SCM Event Log Consumer", "UpdaterCmd"],
        },
        _remediate(
            "removed binding Updater -> UpdaterCmd", "removed filter Updater", "removed consumer UpdaterCmd"
        ),
        {"checked": 2, "remaining": 0, "unexpected": 0},
        {"checked": 2, "remaining": 0, "unexpected": 1},  # a second, un-named subscription exists
        {"filters": "Updater", "consumers": "UpdaterCmd"},
    ),
    Case(
        "L1-WIN-SEC-DEFENDER-CLOUD",
        "RB-WIN-SEC-025",
        "defender_cloud_protection",
        {"available": True, "realtime_enabled": False, "maps_reporting": 0, "sample_submission": 2},
        _remediate("real-time monitoring on", "MAPS reporting advanced", "send safe samples"),
        {"available": True, "realtime_enabled": True, "maps_reporting": 2, "sample_submission": 1},
        {"available": True, "realtime_enabled": True, "maps_reporting": 2, "sample_submission": 2},
    ),
    Case(
        "L1-WIN-SEC-AUDIT-POLICY",
        "RB-WIN-SEC-026",
        "audit_policy",
        {"subcategories": AUDIT},
        _remediate(
            "{0CCE9215-69AE-11D9-BED3-505054503030}: No Auditing -> Success and Failure",
            "{0CCE922F-69AE-11D9-BED3-505054503030}: No Auditing -> Success and Failure",
        ),
        {"checked": 7, "no_auditing": 0, "not_full": 0},
        {"checked": 7, "no_auditing": 0, "not_full": 3},
    ),
    Case(
        "L1-WIN-ROGUE-ADMIN-001",
        "RB-WIN-SEC-027",
        "rogue_admin_users",
        {"members": ADMINS, "self_sid": "S-1-5-21-99-98-97-1105"},
        _remediate(
            "removed FRONTDESK\\helpdesk from Administrators",
            "removed FRONTDESK\\temp-admin from Administrators",
        ),
        {"checked": 2, "remaining": 0, "rogue": 0},
        {"checked": 2, "remaining": 1, "rogue": 1},
        {"users": "FRONTDESK\\helpdesk\nFRONTDESK\\temp-admin"},
    ),
    Case(
        "L1-WIN-FW-RULES-001",
        "RB-WIN-SEC-028",
        "firewall_dangerous_rules",
        {"rules": ["Allow-All-In|Any|", "SQL-In|TCP|1433", "WINRM-HTTP-In-TCP|TCP|5985"]},
        _remediate("disabled Allow-All-In", "disabled SQL-In"),
        {"checked": 2, "remaining": 0, "unexpected": 0},
        {"checked": 2, "remaining": 1, "unexpected": 1},
        {"rules": "Allow-All-In\nSQL-In"},
    ),
    Case(
        "L1-WIN-DNS-HIJACK",
        "RB-WIN-NET-001",
        "dns_config",
        {"dc": "192.168.10.5", "servers": ["Ethernet0|203.0.113.53", "Ethernet0|192.168.10.5"]},
        _remediate("Ethernet0: 203.0.113.53 -> DHCP-provided"),
        {"servers": 2, "bad": 0, "bad_interfaces": 0},
        {"servers": 2, "bad": 1, "bad_interfaces": 1},
        {"dns_servers": ""},
    ),
    Case(
        "L1-WIN-NET-PROFILE",
        "RB-WIN-NET-003",
        "network_profile",
        {"interfaces": ["Ethernet0|Public", "Wi-Fi|Private"]},
        _remediate("Ethernet0: Public -> Private"),
        {"interfaces": 2, "public": 0},
        {"interfaces": 2, "public": 1},
        {"interfaces": "Ethernet0"},
        label="WS",
    ),
]
IDS = [c.runbook_id for c in CASES]


@pytest.fixture(autouse=True)
def ntlm_users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ntlm_user(tmp_path, monkeypatch, "CLINIC\\svc-heal", PASSWORD)


async def _heal(
    tmp_path: Path,
    srv: WsmanTestServer,
    case: Case,
    *,
    remediate: str | None = None,
    verify: str,
    detect: str = "",
    age_s: float = 0.0,
) -> tuple[PipelineResult, dict[str, str], MemorySink]:
    """Scan record → finding → incident → pipeline; the host answers each phase with a recording."""
    seen: dict[str, str] = {}

    def responder(script: str) -> ScriptReply:
        for phase in ("detect", "remediate", "verify"):
            if f"# {case.runbook_id} {phase}" in script:
                seen[phase] = script
                if phase == "remediate":
                    return ScriptReply("WARNING: progress text\r\n" + (remediate or case.remediate) + "\r\n")
                if phase == "verify":
                    return ScriptReply(verify + ("\r\n" if verify else ""))
                return ScriptReply(detect + "\r\n")
        seen["unexpected"] = script
        return ScriptReply("", exit_code=1)

    srv.responder = responder
    target = Target(Transport.WINRM, "127.0.0.1", srv.port, "windows", case.label)
    cred = WinrmCredential("CLINIC\\svc-heal", PASSWORD)
    now = time.time() - age_s
    status, findings = evaluate_windows("127.0.0.1", case.check, case.data, label=case.label, now=now)
    assert status == "drift"
    (inc,) = aggregate(findings)
    ex = WinrmExecutor(tmp_path, http_port=srv.port, https_port=free_port())
    sink = MemorySink()
    res = await _pipeline(tmp_path, target, cred, ex, sink).handle(inc)
    return res, seen, sink


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_finding_healed_by_its_runbook(tmp_path: Path, wsman: WsmanTestServer, case: Case) -> None:
    res, seen, sink = await _heal(tmp_path, wsman, case, verify=_verify(True, **case.ok))
    assert res.stage == "healed", (res.reason, res.outcome)
    assert res.rule_id == case.rule_id
    assert set(seen) == {"remediate", "verify"}  # the right runbook's scripts, nothing else
    got = script_params(seen["remediate"])
    assert got["mgmt_transport"] == "winrm" and got["mgmt_auth"] == "password"
    assert got["mgmt_port"] == str(wsman.port)  # what RB-WIN-SEC-028 keeps open
    for k, v in case.params.items():
        assert got[k] == v, k
    assert script_params(seen["verify"]) == got  # verify sees the same parameters (it echoes/asserts them)
    assert "resolve" in sink.kinds()


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_verify_not_verified_is_a_failure(tmp_path: Path, wsman: WsmanTestServer, case: Case) -> None:
    res, _, sink = await _heal(tmp_path, wsman, case, verify=_verify(False, **case.bad))
    assert res.stage != "healed"
    assert res.outcome is not None and res.outcome.outcome == "failed" and res.outcome.phase == "verify"
    assert "resolve" not in sink.kinds()


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_verify_claiming_success_over_drifted_state_fails(
    tmp_path: Path, wsman: WsmanTestServer, case: Case
) -> None:
    # verified:true but the observed facts still show the drift: verify_assert catches it (§3.4).
    res, _, sink = await _heal(tmp_path, wsman, case, verify=_verify(True, **case.bad))
    assert res.stage != "healed"
    assert res.outcome is not None and res.outcome.outcome == "failed" and res.outcome.phase == "verify"
    assert "resolve" not in sink.kinds()


@pytest.mark.parametrize(
    "verify",
    [
        "",
        "garbage\r\nmore garbage",
        "MSP_RESULT {not json",
        'MSP_RESULT {"phase":"verify","verified":"True","observed":{}}',
        'MSP_RESULT {"phase":"verify","verified":true}',  # no observed facts at all
    ],
    ids=["empty", "garbage", "unparseable", "string-bool", "no-observed"],
)
@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_garbage_or_empty_verify_output_is_a_failure(
    tmp_path: Path, wsman: WsmanTestServer, case: Case, verify: str
) -> None:
    res, _, sink = await _heal(tmp_path, wsman, case, verify=verify)
    assert res.stage != "healed"
    assert res.outcome is not None and res.outcome.outcome == "failed" and res.outcome.phase == "verify"
    assert "resolve" not in sink.kinds()


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_garbage_remediate_output_is_a_failure(
    tmp_path: Path, wsman: WsmanTestServer, case: Case
) -> None:
    res, seen, _ = await _heal(tmp_path, wsman, case, remediate="garbage", verify=_verify(True, **case.ok))
    assert res.stage != "healed"
    assert res.outcome is not None and res.outcome.outcome == "failed" and res.outcome.phase == "remediate"
    assert "verify" not in seen


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_stale_finding_runs_detect_first(tmp_path: Path, wsman: WsmanTestServer, case: Case) -> None:
    # A finding older than 10 minutes is re-checked first (§3.5 rule 2): compliant now → nothing changes.
    clean = _res({"phase": "detect", "drifted": False, "observed": case.ok})
    res, seen, sink = await _heal(
        tmp_path, wsman, case, verify=_verify(True, **case.ok), detect=clean, age_s=3600
    )
    assert res.outcome is not None and res.outcome.outcome == "already_compliant"
    assert set(seen) == {"detect"} and "resolve" not in sink.kinds()
    # Still drifted → remediate and verify follow, with the same parameters.
    drifted = _res({"phase": "detect", "drifted": True, "observed": case.bad})
    res, seen, _ = await _heal(
        tmp_path / "again", wsman, case, verify=_verify(True, **case.ok), detect=drifted, age_s=3600
    )
    assert res.stage == "healed" and set(seen) == {"detect", "remediate", "verify"}
    assert script_params(seen["detect"]) == script_params(seen["remediate"])


NOT_APPLICABLE = {
    "RB-WIN-SEC-005": "not fully encrypted: C: (FullyDecrypted); encryption needs key escrow and a person",
    "RB-WIN-SEC-027": "the finding names the account the agent uses (FRONTDESK\\helpdesk)",
    "RB-WIN-SEC-028": "the named rules are the only inbound rules allowing the management port 5985",
    "RB-WIN-NET-001": "static interface(s) Ethernet0: the site DNS servers must be given as dns_servers",
    "RB-WIN-NET-003": "no private IPv4 address on Ethernet0: may be a genuinely public network",
}


NA_CASES = [c for c in CASES if c.runbook_id in NOT_APPLICABLE]


@pytest.mark.parametrize("case", NA_CASES, ids=[c.runbook_id for c in NA_CASES])
async def test_not_applicable_escalates_without_verify(
    tmp_path: Path, wsman: WsmanTestServer, case: Case
) -> None:
    rem = _remediate(status="not_applicable", reason=NOT_APPLICABLE[case.runbook_id])
    res, seen, sink = await _heal(tmp_path, wsman, case, remediate=rem, verify=_verify(True, **case.ok))
    assert res.stage != "healed"
    assert res.outcome is not None and res.outcome.outcome == "not_applicable"
    assert "verify" not in seen and "resolve" not in sink.kinds()


# --- the scripts themselves ----------------------------------------------------------------------


def _script(rid: str, phase: str) -> str:
    rb = REG.get(rid)
    assert rb is not None
    return rb.scripts[phase]


@pytest.mark.parametrize("rid", IDS)
def test_scripts_follow_the_phase_protocol(rid: str) -> None:
    rb = REG.get(rid)
    assert rb is not None and rb.platform == "windows" and rb.privilege == "admin"
    for phase in ("detect", "remediate", "verify"):
        text = _script(rid, phase)
        assert text.startswith(f"# {rid} {phase}")
        # The result line comes from the JSON serializer, never from string concatenation.
        assert f"phase = '{phase}'" in text and "ConvertTo-Json -Compress -Depth 5" in text
        assert text.count("MSP_RESULT") == text.count(
            "'MSP_RESULT ' + ($r | ConvertTo-Json -Compress -Depth 5)"
        )
        _balanced(text)
    assert "remediate: idempotent" in _script(rid, "remediate")
    # detect and verify are read-only.
    for phase in ("detect", "verify"):
        for verb in ("Set-", "Remove-", "Disable-", "Resume-", "auditpol.exe /set"):
            assert verb not in _script(rid, phase), (rid, phase, verb)


def _balanced(text: str) -> None:
    """A cheap PowerShell syntax sanity check (no pwsh here): brackets balance outside strings and
    comments, and quotes are closed on every line."""
    stack: list[str] = []
    pairs = {")": "(", "]": "[", "}": "{"}
    for line in text.splitlines():
        quote = ""
        i = 0
        while i < len(line):
            ch = line[i]
            if quote:
                if ch == "`" and quote == '"':
                    i += 2
                    continue
                if ch == quote:
                    if i + 1 < len(line) and line[i + 1] == quote:
                        i += 2
                        continue
                    quote = ""
            elif ch in "'\"":
                quote = ch
            elif ch == "#":
                break
            elif ch in "([{":
                stack.append(ch)
            elif ch in ")]}":
                assert stack and stack.pop() == pairs[ch], line
            i += 1
        assert not quote, line
    assert not stack


def test_remediations_keep_the_check_allowlists() -> None:
    # Never removed: the names the checks themselves accept.
    for name in RUN_ALLOWLIST:
        assert f"'{name}'" in _script("RB-WIN-SEC-019", "remediate")
        assert f"'{name}'" in _script("RB-WIN-SEC-019", "verify")
    for name in WMI_DEFAULT_FILTERS | WMI_DEFAULT_CONSUMERS:
        assert f"'{name}'" in _script("RB-WIN-SEC-021", "remediate")
        assert f"'{name}'" in _script("RB-WIN-SEC-021", "verify")
    rem = _script("RB-WIN-SEC-027", "remediate")
    assert "S-1-5-21-*-500" in rem and "WindowsIdentity]::GetCurrent()" in rem
    assert "Disable-NetFirewallRule" in _script("RB-WIN-SEC-028", "remediate")
    assert "Remove-NetFirewallRule" not in _script("RB-WIN-SEC-028", "remediate")
    assert "$MspParams.mgmt_port" in _script("RB-WIN-SEC-028", "remediate")
    assert "-ResetServerAddresses" in _script("RB-WIN-NET-001", "remediate")
    # BitLocker: resume only, never start encryption.
    assert "Enable-BitLocker" not in _script("RB-WIN-SEC-005", "remediate")


def test_parameters_are_validated_before_anything_runs() -> None:
    rb = REG.get("RB-WIN-SEC-027")
    assert rb is not None
    assert rb.param_errors({"users": ["CLINIC\\bob"]}) == []
    assert rb.param_errors({"users": ["bad|name"]})
    assert rb.param_errors({"users": ["a\nb"]})
    net = REG.get("RB-WIN-NET-001")
    assert net is not None
    assert net.param_errors({"dns_servers": ["192.168.10.5", "192.168.10.6"]}) == []
    assert net.param_errors({"dns_servers": ["192.168.10.256"]})
    assert net.param_errors({"dns_servers": ["dns.example"]})
