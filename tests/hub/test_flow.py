"""The hub inside the agent as the composition root builds it: drift event → incident in the
healing queue (the scan's pipeline) → heal command on the stream → healing result; heartbeats
in the checkin's connected_agents and in the scan's host selection; artifacts never kept."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.hub.agentclient import Agent

from agent.checkin import sysinfo
from agent.config import load_config
from agent.hub.component import HubComponent
from agent.protocol import CredentialSet
from agent.protocol.credentials import WindowsTarget
from agent.scan.model import Incident
from agent.state import load_or_create
from agent.wiring import Options, Wired, build

SECRET = "428791-SECRET-RECOVERY-KEY-613008"


@pytest.fixture
async def wired(tmp_path: Path) -> AsyncIterator[Wired]:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"site_id: clinic-1\napi_key: test-api-key-0123456789\n"
                   f"api_endpoint: http://127.0.0.1:9\nstate_dir: {state}\n"
                   "grpc_hub_enabled: true\ngrpc_bind_address: 127.0.0.1\n")
    config = load_config(cfg, environ={}).config
    w = build(config, cfg, load_or_create(state), Options(own_mac="AABBCCDDEEFF"))
    w.site.credentials = CredentialSet(windows_targets=[
        WindowsTarget(hostname=h, username="u", password="p") for h in ("ws-01", "ws-02")])
    yield w
    await w.close()


def hub_of(w: Wired) -> HubComponent:
    (hub,) = [c for c in w.components if c.name == "hub"]
    assert isinstance(hub, HubComponent)
    return hub


def queued(w: Wired) -> list[Incident]:
    out = []
    while (inc := w.healing.queue.take(set())) is not None:
        out.append(inc)
    return out


async def enrolled(hub: HubComponent, tmp: Path, host: str) -> Agent:
    hub.port = 0
    if hub.server is None:
        await hub.start()
    assert hub.server is not None
    a = Agent(host, hub.server.port, hub.ca.ca_pem(), tmp)
    await a.enroll(hub.registry.issue_token(host))
    return a


async def test_the_hub_is_wired_only_when_enabled(tmp_path: Path, wired: Wired) -> None:
    hub = hub_of(wired)
    assert wired.checkin.agents is hub.registry
    assert wired.scan.agent_presence is hub.registry
    cfg = tmp_path / "plain.yaml"
    (tmp_path / "plain").mkdir(mode=0o700)
    cfg.write_text(f"site_id: s\napi_key: test-api-key-0123456789\nstate_dir: {tmp_path / 'plain'}\n")
    plain = build(load_config(cfg, environ={}).config, cfg, load_or_create(tmp_path / "plain"),
                  Options(own_mac="AABBCCDDEEFF"))
    try:
        assert [c.name for c in plain.components if c.name == "hub"] == []
        assert plain.checkin.agents is None and plain.scan.agent_presence is None
    finally:
        await plain.close()


async def test_drift_to_incident_to_heal_command_to_result(
        tmp_path: Path, wired: Wired, caplog: pytest.LogCaptureFixture) -> None:
    hub = hub_of(wired)
    a = await enrolled(hub, tmp_path, "ws-01")
    try:
        caplog.set_level(logging.DEBUG)
        async with a.drift_stream() as st:
            await st.send_message(a.drift("screenlock", passed=True))
            ok: Any = await st.recv_message()
            assert ok.received and not ok.HasField("heal_command")
            await st.send_message(a.drift("firewall", profile="Domain"))
            ack: Any = await st.recv_message()
            await st.end()
        # the incident went into the healing queue the way scan incidents do
        (inc,) = queued(wired)
        assert (inc.host, inc.check_type, inc.source, inc.platform, inc.severity, inc.label) == (
            "ws-01", "firewall_status", f"grpc:{a.agent_id}", "windows", "high", "WS")
        assert inc.details == {"profile": "Domain"} and inc.data_map()["profile"] == "Domain"
        # and the agent was told to heal it itself
        cmd = ack.heal_command
        assert (cmd.check_type, cmd.action, cmd.timeout_seconds) == ("firewall", "enable", 60)
        assert cmd.command_id in hub.service.commands
        got = await a.healing(check_type="firewall", command_id=cmd.command_id,
                              artifacts={"recovery_key": SECRET})
        assert got.received
        assert cmd.command_id not in hub.service.commands
        agent = hub.registry.agents[a.agent_id]
        assert (agent.checks_total, agent.checks_passed, agent.drift_count) == (2, 1, 1)
        # the artifact is neither logged nor stored
        assert caplog.records and all(SECRET not in r.getMessage() and SECRET not in str(r.__dict__)
                                      for r in caplog.records)
        for f in (tmp_path / "state").rglob("*"):
            if f.is_file():
                assert SECRET.encode() not in f.read_bytes(), f
    finally:
        a.close()


async def test_no_heal_command_when_healing_is_off(tmp_path: Path, wired: Wired) -> None:
    hub = hub_of(wired)
    a = await enrolled(hub, tmp_path, "ws-01")
    (tmp_path / "state" / "healing_enabled").write_text("false")
    try:
        async with a.drift_stream() as st:
            await st.send_message(a.drift("defender"))
            ack: Any = await st.recv_message()
            await st.end()
        assert not ack.HasField("heal_command")
        assert [i.check_type for i in queued(wired)] == ["windows_defender"]  # still reported
    finally:
        a.close()


async def test_a_disabled_check_raises_no_incident(tmp_path: Path, wired: Wired) -> None:
    hub = hub_of(wired)
    wired.site.directives.disabled_checks = frozenset({"bitlocker_status"})
    a = await enrolled(hub, tmp_path, "ws-01")
    try:
        async with a.drift_stream() as st:
            await st.send_message(a.drift("bitlocker"))
            await st.recv_message()
            await st.end()
        assert queued(wired) == []
    finally:
        a.close()


async def test_heartbeats_fill_connected_agents_and_skip_the_winrm_scan(
        tmp_path: Path, wired: Wired) -> None:
    hub = hub_of(wired)
    facts = sysinfo.collect(tmp_path / "state")
    assert {t.host for t, _ in wired.scan.scan_targets()} >= {"ws-01", "ws-02"}
    a = await enrolled(hub, tmp_path, "ws-01")
    try:
        assert (await a.heartbeat()).acknowledged
        req = wired.checkin.build_request(facts, preview=True)
        (ca,) = req.connected_agents
        assert (ca.agent_id, ca.hostname, ca.agent_version) == (a.agent_id, "ws-01", "0.4.2")
        assert ca.last_heartbeat.endswith("Z")
        hosts = {t.host for t, _ in wired.scan.scan_targets()}
        assert "ws-01" not in hosts and "ws-02" in hosts
        assert "ws-01" in wired.scan.known_targets("windows")  # orders still know the host
        # ten minutes without a heartbeat: pulled over WinRM again
        hub.registry.agents[a.agent_id].last_heartbeat -= 601
        assert "ws-01" in {t.host for t, _ in wired.scan.scan_targets()}
    finally:
        a.close()


def test_the_daemon_does_not_import_the_grpc_runtime_unless_enabled() -> None:
    import subprocess
    import sys

    code = ("import sys, agent.wiring, agent.cli, agent.commands.run; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('grpclib', 'google', 'h2') or m.startswith('agent.hub')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


async def test_deployment_orders_reach_the_hub_and_the_sites_credentials(
        tmp_path: Path, wired: Wired) -> None:
    """The composition root hands the deployment orders the hub's registry and address and the
    healing path's own-credential lookup (agent.orders.deploy)."""
    from agent.exec import Transport

    hub = hub_of(wired)
    access = wired.orders.worker.hooks.deploy
    assert access.agents is hub.registry and access.executors is wired.executors
    hub.port = 0
    await hub.start()
    assert hub.server is not None and access.appliance_addr() == f"127.0.0.1:{hub.server.port}"
    found = access.credential_for("ws-01")
    assert found is not None and found[0].transport is Transport.WINRM
    assert access.credential_for("ws-09") is None
