"""Windows targets from the checkin credentials are scanned over WinRM by the healing component
(healing.md §6; the WS-Man test server plays the Windows host)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.exec.sshd import free_port
from tests.winrm_testserver import ScriptReply, WsmanTestServer

from agent.exec import Target, Transport, WinrmCredential
from agent.exec.winrm import WinrmExecutor
from agent.scan.events import HostScanned
from agent.scan.model import HostResult

from .test_component import SITE, Env, env  # noqa: F401 - the fixture

DRIFTED = (Path(__file__).resolve().parents[1] / "scan" / "fixtures" / "windows_drifted.txt").read_text()
PASSWORD = "Comp-Passw0rd!"


@pytest.fixture(autouse=True)
def ntlm_users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    f = tmp_path / "ntlm_users"
    f.write_text(f"CLINIC:svc-msp:{PASSWORD}\n")
    monkeypatch.setenv("NTLM_USER_FILE", str(f))
    yield


async def test_windows_targets_scanned_over_winrm(env: Env) -> None:  # noqa: F811
    env.cc.set_credentials(
        SITE,
        [{"hostname": "127.0.0.1", "username": "CLINIC\\svc-msp", "password": PASSWORD, "role": "WS"}],
        [],
    )
    seen: list[tuple[Target, HostResult]] = []
    w = await env.agent(lambda bus: bus.subscribe(HostScanned, lambda e: seen.append((e.target, e.result))))
    comp, scan = w.healing, w.scan
    targets = scan.targets()
    win = [(t, c) for t, c in targets if t.transport is Transport.WINRM]
    assert len(win) == 1
    t, cred = win[0]
    assert (t.host, t.platform, t.label) == ("127.0.0.1", "windows", "WS")
    assert isinstance(cred, WinrmCredential)
    found = comp.credential_for("127.0.0.1")
    assert found is not None and found[0] == t
    assert PASSWORD in comp.known_secrets()

    srv = WsmanTestServer()
    await srv.start()
    try:
        srv.responder = lambda script: ScriptReply(DRIFTED) if "Msp-Rec" in script else None
        w.executors._winrm = WinrmExecutor(env.tmp, http_port=srv.port, https_port=free_port())
        await scan.scan_now()
    finally:
        await srv.stop()
    win_results = [r for tgt, r in seen if tgt.transport is Transport.WINRM]
    assert len(win_results) == 1 and win_results[0].status == "complete"
    queued = {ct for (host, ct) in comp.queue._items if host == "127.0.0.1"}
    assert {"firewall_status", "windows_defender", "rogue_admin_users", "agent_status"} <= queued
