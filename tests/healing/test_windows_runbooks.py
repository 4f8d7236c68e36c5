"""Windows findings healed through the L1 pipeline over WinRM (WS-Man test server playing the host
with recorded PowerShell phase outputs): delivery, parameters, §3.3/§3.4 result rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.exec.sshd import free_port
from tests.winrm_testserver import ScriptReply, WsmanTestServer
from tests.winrmfixtures import ntlm_user, script_params

from agent.exec import Target, Transport, WinrmCredential
from agent.exec.winrm import WinrmExecutor
from agent.healing.pipeline import PipelineResult
from agent.scan.model import aggregate
from agent.scan.windows import evaluate_windows

from .fakes import MemorySink
from .test_e2e_ssh import _pipeline

PASSWORD = "Heal-Passw0rd!"
OK_REMEDIATE = 'MSP_RESULT {"phase":"remediate","status":"ok","changed":true,"actions":["x"],"reason":""}'


@pytest.fixture(autouse=True)
def ntlm_users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ntlm_user(tmp_path, monkeypatch, "CLINIC\\svc-heal", PASSWORD)


async def _heal(
    tmp_path: Path, srv: WsmanTestServer, check: str, data: dict[str, Any], verify: str
) -> tuple[PipelineResult, list[str]]:
    seen: list[str] = []

    def responder(script: str) -> ScriptReply:
        seen.append(script)
        if "remediate: idempotent" in script:
            return ScriptReply("some progress text\n" + OK_REMEDIATE)
        return ScriptReply(verify)

    srv.responder = responder
    target = Target(Transport.WINRM, "127.0.0.1", srv.port, "windows", "DC")
    cred = WinrmCredential("CLINIC\\svc-heal", PASSWORD)
    status, findings = evaluate_windows("127.0.0.1", check, data, label="DC")
    assert status == "drift"
    inc = aggregate(findings)[0]
    ex = WinrmExecutor(tmp_path, http_port=srv.port, https_port=free_port())
    res = await _pipeline(tmp_path, target, cred, ex, MemorySink()).handle(inc)
    return res, seen


async def test_guest_account_healed_over_winrm(tmp_path: Path, wsman: WsmanTestServer) -> None:
    verify = 'MSP_RESULT {"phase":"verify","verified":true,"observed":{"exists":true,"enabled":false}}'
    res, seen = await _heal(tmp_path, wsman, "guest_account", {"exists": True, "enabled": True}, verify)
    assert res.stage == "healed" and res.rule_id == "L1-WIN-GUEST-001"
    assert [s for s in seen if "RB-WIN-SEC-024 remediate" in s] and [
        s for s in seen if "RB-WIN-SEC-024 verify" in s
    ]
    assert (
        script_params(seen[0])["mgmt_transport"] == "winrm"
        and script_params(seen[0])["mgmt_auth"] == "password"
    )


async def test_verify_that_does_not_prove_the_fix_fails(tmp_path: Path, wsman: WsmanTestServer) -> None:
    # The script claims success but the observed value still shows drift: never a clean host.
    verify = (
        'MSP_RESULT {"phase":"verify","verified":true,"observed":{"min_length":6,"lockout_threshold":10}}'
    )
    res, seen = await _heal(
        tmp_path, wsman, "password_policy", {"min_length": 6, "lockout_threshold": 10}, verify
    )
    assert res.stage != "healed"
    outcome = res.outcome
    assert outcome is not None and outcome.outcome == "failed" and outcome.phase == "verify"
    assert script_params(seen[0])["min_length"] == "12"  # the baseline default


async def test_password_policy_garbage_verify_output_fails(tmp_path: Path, wsman: WsmanTestServer) -> None:
    res, _ = await _heal(
        tmp_path, wsman, "password_policy", {"min_length": 6, "lockout_threshold": 0}, "garbage"
    )
    outcome = res.outcome
    assert outcome is not None and outcome.outcome == "failed" and outcome.phase == "verify"
