"""The hub's agents at the local Central Command: connected agents in the checkin, and an agent's
drift reported as an incident, both through the real Uplink."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.hub.agentclient import Agent

from agent.central import CentralCommand
from agent.config import load_config
from agent.hub.component import HubComponent
from agent.state import load_or_create
from agent.wiring import Options, Wired, build

SITE = "clinic-hub"


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[CentralCommand, Wired, Agent]]:
    cc = CentralCommand(tmp_path / "central.db")
    await cc.start()
    cc.create_site(SITE)
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"site_id: {SITE}\napi_key: {cc.create_api_key(SITE)}\napi_endpoint: {cc.url}\n"
                   f"state_dir: {state}\npoll_interval: 60\ngrpc_hub_enabled: true\n"
                   "grpc_bind_address: 127.0.0.1\n")
    w = build(load_config(cfg, environ={}).config, cfg, load_or_create(state),
              Options(own_mac="AABBCCDDEEFF"))
    (hub,) = [c for c in w.components if isinstance(c, HubComponent)]
    hub.port = 0
    port = await hub.start()
    a = Agent("ws-07", port, hub.ca.ca_pem(), tmp_path)
    await a.enroll(hub.registry.issue_token("ws-07"))
    try:
        yield cc, w, a
    finally:
        a.close()
        await w.close()
        await cc.stop()
        cc.close()


async def test_connected_agents_reach_central_command(env: Any) -> None:
    cc, w, a = env
    assert (await a.heartbeat()).acknowledged
    assert await w.checkin.run_once()
    (seen,) = cc.connected_agents(SITE)
    assert seen["agent_id"] == a.agent_id and seen["agent_version"] == "0.4.2"
    assert seen["appliance_id"] == w.checkin.shared.appliance_id
    assert seen["last_heartbeat"].endswith("Z") and seen["hostname"]


async def test_an_agents_drift_is_an_incident_at_central_command(env: Any) -> None:
    cc, w, a = env
    assert await w.checkin.run_once()
    async with a.drift_stream() as st:
        await st.send_message(a.drift("defender", service="WinDefend"))
        ack: Any = await st.recv_message()
        await st.end()
    assert ack.heal_command.action == "start"
    await w.healing.heal_pending()  # the pipeline: dedup, incident report, L1/L2/L3
    w.reports.after_checkin()
    await w.reports.run_once()
    (inc,) = [i for i in cc.incidents(SITE) if i["check_type"] == "windows_defender"]
    assert inc["report"]["details"]["source"] == f"grpc:{a.agent_id}"
    assert inc["report"]["hipaa_controls"] == ["164.312(a)(1)"] and inc["severity"] == "high"


async def _drift_with_heal_command(a: Agent) -> Any:
    async with a.drift_stream() as st:
        await st.send_message(a.drift("defender", service="WinDefend"))
        ack: Any = await st.recv_message()
        await st.end()
    assert ack.heal_command.command_id
    return ack.heal_command


async def _deliver(w: Wired) -> None:
    w.reports.after_checkin()
    await w.reports.run_once()


def _defender(cc: CentralCommand) -> dict[str, Any]:
    (inc,) = [i for i in cc.incidents(SITE) if i["check_type"] == "windows_defender"]
    return inc


@pytest.mark.parametrize("result_first", [False, True], ids=["reported-then-healed",
                                                              "healed-before-reported"])
async def test_an_agents_heal_resolves_its_incident_at_central_command(
        env: Any, result_first: bool) -> None:
    """drift → incident → heal command → healing result → incident resolved, in either order
    of the pipeline's report and the agent's result (the resolve never goes first)."""
    cc, w, a = env
    assert await w.checkin.run_once()
    cmd = await _drift_with_heal_command(a)
    if result_first:
        assert (await a.healing(check_type=cmd.check_type, command_id=cmd.command_id)).received
        await w.healing.heal_pending()
    else:
        await w.healing.heal_pending()
        await _deliver(w)
        assert _defender(cc)["status"] == "open"
        assert (await a.healing(check_type=cmd.check_type, command_id=cmd.command_id)).received
    await _deliver(w)
    inc = _defender(cc)
    assert inc["status"] == "resolved" and inc["resolved_at"] is not None
    assert inc["resolution"]["resolution_tier"] == "L1"
    assert w.healing.stats["agent_heals"] == 1


async def test_a_failed_or_unrequested_heal_does_not_resolve(env: Any) -> None:
    cc, w, a = env
    assert await w.checkin.run_once()
    cmd = await _drift_with_heal_command(a)
    await w.healing.heal_pending()
    assert (await a.healing(check_type=cmd.check_type, command_id=cmd.command_id,
                            success=False)).received
    assert (await a.healing(check_type=cmd.check_type, command_id="drift-heal-not-ours")).received
    await _deliver(w)
    assert _defender(cc)["status"] == "open" and w.healing.stats["agent_heals"] == 0
