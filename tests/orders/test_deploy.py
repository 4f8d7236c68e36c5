"""The workstation-agent deployment orders through the real worker (signed orders, completions):
``configure_workstation_agent`` against the WS-Man test server playing the Windows host, and
``remove_agent`` against the real loopback sshd, files really removed under a scratch prefix."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from tests.exec.sshd import free_port
from tests.sshfixtures import SshEnv
from tests.winrm_testserver import ScriptReply, WsmanTestServer
from tests.winrmfixtures import ntlm_user, script_params

from agent.exec import SshCredential, SshExecutor, Target, Transport, WinrmCredential
from agent.exec.winrm import WinrmExecutor
from agent.hub.registry import AgentRegistry, TokenError
from agent.orders import deploy
from agent.orders.deploy import DeployAccess
from agent.orders.handlers import Hooks

from . import signer
from .test_worker import Server, make, run

WIN_HOST, LNX_HOST = "127.0.0.1", "lnx01.clinic.local"
PASSWORD = "Deploy-Passw0rd!"
HUB_ADDR = "10.0.0.5:50051"


class Pool:
    """The pool's interface over the two real executors of this test."""

    def __init__(self, **by_transport: Any) -> None:
        self.by = by_transport

    async def prepare(self, target: Target) -> None:
        return None

    def for_target(self, target: Target) -> Any:
        return self.by[target.transport.value]


@pytest.fixture(autouse=True)
def ntlm_users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ntlm_user(tmp_path, monkeypatch, "CLINIC\\svc-deploy", PASSWORD)


def _windows(srv: WsmanTestServer) -> dict[str, tuple[Target, Any]]:
    return {WIN_HOST: (Target(Transport.WINRM, WIN_HOST, srv.port, "windows", "WS"),
                       WinrmCredential("CLINIC\\svc-deploy", PASSWORD)),
            "localhost": (Target.local(), None)}


def _access(tmp_path: Path, hosts: dict[str, tuple[Target, Any]], pool: Pool, *,
            hub: bool = True) -> tuple[Hooks, AgentRegistry]:
    (tmp_path / "hub").mkdir(mode=0o700, parents=True, exist_ok=True)
    registry = AgentRegistry(tmp_path / "hub")
    access = DeployAccess(executors=pool, credential_for=hosts.get,
                          agents=registry if hub else None, appliance_addr=lambda: HUB_ADDR)
    return Hooks(deploy=access), registry


def _responder(seen: list[str], *, binary: str = "present") -> Any:
    def answer(script: str) -> ScriptReply:
        seen.append(script)
        if "computer_name=" in script:
            return ScriptReply(f"MSP_STEP execution_policy=RemoteSigned\nMSP_STEP binary={binary}\n"
                               "MSP_STEP computer_name=WS01")
        return ScriptReply("noise\nMSP_STEP stale_files_removed=3\nMSP_STEP config=written\n"
                           "MSP_STEP service=Running")
    return answer


async def test_configure_writes_a_one_time_token_that_never_leaves(
        tmp_path: Path, wsman: WsmanTestServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    wsman.responder = _responder(seen)
    ex = WinrmExecutor(tmp_path, http_port=wsman.port, https_port=free_port())
    hooks, _ = _access(tmp_path, _windows(wsman), Pool(winrm=ex))
    server = Server()
    w = make(tmp_path, server, hooks=hooks)
    order = signer.admin("configure_workstation_agent", {"hostname": WIN_HOST})
    try:
        await run(w, order)
    finally:
        await ex.close()
    [body] = server.bodies(order["order_id"])
    assert body["success"] is True, body
    res = body["result"]
    assert res["status"] == "configured" and res["agent_hostname"] == "WS01"
    assert res["appliance_addr"] == HUB_ADDR  # the hub's address by default
    assert res["steps"] == {"execution_policy": "RemoteSigned", "binary": "present",
                            "stale_files_removed": "3", "config": "written", "service": "Running"}
    [configure] = [s for s in seen if "config=written" in s]
    params = script_params(configure)
    token = params["enrollment_token"]
    assert params["appliance_addr"] == HUB_ADDR and len(token) >= 32
    assert token not in configure  # a parameter, never script text
    # the secret stays out of the completion, the logs and the registry file
    posted = json.dumps(server.posted)
    assert token not in posted and "REDACTED" not in posted  # not even handed to the redactor
    assert caplog.records and all(token not in r.getMessage() and token not in str(r.__dict__)
                                  for r in caplog.records)
    assert token.encode() not in (tmp_path / "hub" / "agent_registry.json").read_bytes()
    # it is a one-time CSR enrollment token for the name the host reported
    with pytest.raises(TokenError):
        AgentRegistry(tmp_path / "hub").redeem_token(token, "other-host")
    AgentRegistry(tmp_path / "hub").redeem_token(token, "ws01")
    with pytest.raises(TokenError):
        AgentRegistry(tmp_path / "hub").redeem_token(token, "ws01")


async def test_configure_explicit_address_and_missing_binary(
        tmp_path: Path, wsman: WsmanTestServer) -> None:
    seen: list[str] = []
    wsman.responder = _responder(seen, binary="missing")
    ex = WinrmExecutor(tmp_path, http_port=wsman.port, https_port=free_port())
    hooks, registry = _access(tmp_path, _windows(wsman), Pool(winrm=ex))
    server = Server()
    w = make(tmp_path, server, hooks=hooks)
    bad = signer.admin("configure_workstation_agent",
                       {"hostname": WIN_HOST, "appliance_addr": "10.0.0.9:1; calc"})
    port = signer.admin("configure_workstation_agent",
                        {"hostname": WIN_HOST, "appliance_addr": "10.0.0.9:70000"})
    missing = signer.admin("configure_workstation_agent",
                           {"hostname": WIN_HOST, "appliance_addr": "hub.clinic.local:50051"})
    try:
        await run(w, bad, port, missing)
    finally:
        await ex.close()
    [b] = server.bodies(bad["order_id"])
    assert not b["success"] and "appliance_addr has an invalid format" in b["error_message"]
    [p] = server.bodies(port["order_id"])
    assert not p["success"] and "invalid port" in p["error_message"]
    [m] = server.bodies(missing["order_id"])
    assert not m["success"] and "not installed" in m["error_message"]
    assert len(seen) == 1 and registry.tokens == []  # nothing configured, no token issued


async def test_configure_refusals(tmp_path: Path, wsman: WsmanTestServer) -> None:
    seen: list[str] = []
    wsman.responder = _responder(seen)
    hosts = {**_windows(wsman), LNX_HOST: (Target(Transport.SSH, LNX_HOST, 22, "linux"),
                                           SshCredential("u", password="p"))}
    hooks, registry = _access(tmp_path / "a", hosts, Pool())
    off, _ = _access(tmp_path / "b", hosts, Pool(), hub=False)
    server = Server()
    w = make(tmp_path / "w1", server, hooks=hooks)
    w_off = make(tmp_path / "w2", server, hooks=off)
    w_none = make(tmp_path / "w3", server)
    unknown = signer.admin("configure_workstation_agent", {"hostname": "evil.example"})
    local = signer.admin("configure_workstation_agent", {"hostname": "localhost"})
    ssh = signer.admin("configure_workstation_agent", {"hostname": LNX_HOST})
    no_hub = signer.admin("configure_workstation_agent", {"hostname": WIN_HOST})
    no_build = signer.admin("configure_workstation_agent", {"hostname": WIN_HOST})
    await run(w, unknown, local, ssh)
    await run(w_off, no_hub)
    await run(w_none, no_build)
    msg = {k: server.bodies(o["order_id"])[0] for k, o in (
        ("unknown", unknown), ("local", local), ("ssh", ssh), ("no_hub", no_hub),
        ("no_build", no_build))}
    assert all(not b["success"] for b in msg.values())
    assert "not a target this agent holds credentials for" in msg["unknown"]["error_message"]
    assert "not a target this agent holds credentials for" in msg["local"]["error_message"]
    assert "not a WINRM target" in msg["ssh"]["error_message"]
    assert "hub is not enabled" in msg["no_hub"]["error_message"]
    assert "not available" in msg["no_build"]["error_message"]
    assert seen == [] and registry.tokens == []


def _install(prefix: Path, os_type: str) -> list[Path]:
    files = {"linux": ["etc/systemd/system/osiriscare-agent.service", "etc/osiriscare.json",
                       "opt/osiriscare/osiris-agent", "var/lib/osiriscare/queue.db"],
             "darwin": ["Library/LaunchDaemons/net.osiriscare.agent.plist",
                        "Library/OsirisCare/osiris-agent",
                        "Library/Application Support/OsirisCare/config.json",
                        "Library/Logs/OsirisCare/agent.log"]}[os_type]
    keep = prefix / "etc" / "keep.conf"  # a neighbour that must survive
    paths = [prefix / f for f in files]
    for p in [*paths, keep]:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x")
    return paths


@pytest.mark.parametrize("os_type,hub", [("linux", True), ("darwin", False)])
async def test_remove_agent_over_ssh_removes_files_and_revokes(
        tmp_path: Path, ssh_env: SshEnv, ssh_exec: SshExecutor, scratch: Path,
        monkeypatch: pytest.MonkeyPatch, os_type: str, hub: bool) -> None:
    prefix = scratch / "it's a \"prefix\" $(id)"  # quoting: the prefix never reaches a shell raw
    prefix.mkdir()
    prefix.chmod(0o1777)
    paths = _install(prefix, os_type)
    monkeypatch.setattr(deploy, "REMOVE_PATH_PREFIX", str(prefix))
    cred = ssh_env.key_cred(sudo_password=ssh_env.users.password)
    hosts = {"127.0.0.1": (Target(Transport.SSH, "127.0.0.1", ssh_env.sshd.port, "linux"), cred)}
    hooks, registry = _access(tmp_path, hosts, Pool(ssh=ssh_exec), hub=hub)
    registry.record_cert(7, LNX_HOST, "csr", 4e9)
    server = Server()
    w = make(tmp_path, server, hooks=hooks)
    order = signer.admin("remove_agent", {"hostname": LNX_HOST, "ip_address": "127.0.0.1",
                                          "os_type": os_type})
    await run(w, order)
    [body] = server.bodies(order["order_id"])
    assert body["success"] is True, body
    assert body["result"]["status"] == "removed" and body["result"]["steps"]["files"] == "removed"
    assert not any(p.exists() for p in paths)
    assert (prefix / "etc" / "keep.conf").exists()
    assert AgentRegistry(tmp_path / "hub").is_revoked(7) is hub
    assert body["result"]["certificates_revoked"] == (1 if hub else 0)


async def test_remove_agent_refusals(tmp_path: Path) -> None:
    hosts = {"localhost": (Target.local(), None),
             "ws": (Target(Transport.WINRM, "ws", None, "windows"), WinrmCredential("a", "b"))}
    hooks, registry = _access(tmp_path, hosts, Pool())
    registry.record_cert(9, "evil.example", "csr", 4e9)
    server = Server()
    w = make(tmp_path, server, hooks=hooks)
    orders = {
        "unknown": signer.admin("remove_agent", {"hostname": "evil.example", "os_type": "linux"}),
        "local": signer.admin("remove_agent", {"hostname": "localhost", "os_type": "linux"}),
        "windows": signer.admin("remove_agent", {"hostname": "ws", "os_type": "linux"}),
        "os": signer.admin("remove_agent", {"hostname": "evil.example", "os_type": "windows"}),
        "none": signer.admin("remove_agent", {"os_type": "linux"}),
    }
    await run(w, *orders.values())
    msg = {k: server.bodies(o["order_id"])[0] for k, o in orders.items()}
    assert all(not b["success"] for b in msg.values())
    assert "not a target this agent holds credentials for" in msg["unknown"]["error_message"]
    assert "not a target this agent holds credentials for" in msg["local"]["error_message"]
    assert "not a SSH target" in msg["windows"]["error_message"]
    assert "os_type must be linux or darwin" in msg["os"]["error_message"]
    assert "hostname or ip_address is required" in msg["none"]["error_message"]
    assert not registry.is_revoked(9)  # a refused removal revokes nothing
