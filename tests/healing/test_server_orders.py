"""Healing orders as the real Central Command sends them, end to end against the local one: the
server answers the incident report with its incident id and an L1 match becomes a healing order
carrying only that id (signed parameters {}) and a server catalogue runbook id."""

from __future__ import annotations

from typing import Any

import pytest

from agent.wiring import Wired

from .test_component import SITE, Env, _deliver, env  # noqa: F401  (the fixture)


@pytest.fixture
def henv(env: Env) -> Env:  # noqa: F811  (the appliance-heal environment of test_component)
    return env


HAND_TO_SERVER = """\
id: L1-LIN-PERM-001
name: builtin host rule, off: the server decides
enabled: false
conditions:
  - {field: check_type, operator: eq, value: linux_file_permissions}
action: run_linux_runbook
action_params: {runbook_id: LIN-PERM-001}
"""


async def _reported(e: Env) -> tuple[Wired, str]:
    """The drift found, reported (dry run: not healed locally), the server's id bound."""
    (e.state / "rules" / "appliance.yaml").write_text(HAND_TO_SERVER)
    e.cc.set_server_l1(SITE, {"linux_file_permissions": "RB-DRIFT-001"})
    w = await e.agent()
    assert w.checkin.shared.directives.billing_status == "none"  # the real server's free tier
    w.healing.gates.dry_run = True
    await w.scan.scan_now()
    (res,) = await w.healing.heal_pending()
    assert res.stage == "dry_run"
    w.healing.gates.dry_run = False
    await _deliver(w)
    (inc,) = [i for i in e.cc.incidents(SITE) if i["check_type"] == "linux_file_permissions"]
    assert inc["incident_id"] in w.healing.server_incidents
    return w, inc["incident_id"]


def _healing_completions(e: Env) -> list[dict[str, Any]]:
    return [c for c in e.cc.completions(SITE) if c["order_type"] == "healing"]


async def test_the_servers_healing_order_heals_the_incident_it_names(henv: Env) -> None:
    e = henv
    w, incident_id = await _reported(e)
    [order] = [o for o in e.cc.orders(SITE) if o["order_type"] == "healing"]
    assert order["kind"] == "healing"
    assert await w.checkin.run_once()
    await w.orders.run_once()
    [done] = _healing_completions(e)
    assert done["success"] is True, done
    assert done["result"]["agent_runbook_id"] == "APPL-PERM-001"
    assert done["result"]["runbook_id"] == "RB-DRIFT-001"
    assert done["result"]["incident_id"] == incident_id
    assert e.watched.stat().st_mode & 0o777 == 0o644
    # healed: the same incident id no longer selects anything
    e.cc.issue_order(SITE, "healing", {"runbook_id": "RB-DRIFT-001", "incident_id": incident_id},
                       appliance_id=w.checkin.shared.appliance_id)
    assert await w.checkin.run_once()
    await w.orders.run_once()
    again = _healing_completions(e)[-1]
    assert again["success"] is False and "open incident" in again["result"]["reason"]


async def test_a_server_runbook_that_does_not_fit_the_incident_is_refused(henv: Env) -> None:
    e = henv
    w, incident_id = await _reported(e)
    e.cc.cancel_order(next(o for o in e.cc.orders(SITE) if o["order_type"] == "healing")
                        ["order_id"])
    e.cc.issue_order(SITE, "healing", {"runbook_id": "RB-AV-001", "incident_id": incident_id},
                       appliance_id=w.checkin.shared.appliance_id)
    e.cc.issue_order(SITE, "healing", {"runbook_id": "RB-DRIFT-001", "incident_id": "not-ours"},
                       appliance_id=w.checkin.shared.appliance_id)
    assert await w.checkin.run_once()
    await w.orders.run_once()
    reasons = sorted(c["result"]["reason"] for c in _healing_completions(e))
    assert [c["success"] for c in _healing_completions(e)] == [False, False]
    assert "open incident" in reasons[0] and "RB-AV-001" in reasons[1]
    assert e.watched.stat().st_mode & 0o777 == 0o666  # nothing ran


async def test_the_servers_parameterised_rules_sync(henv: Env) -> None:
    """The server's standard rules with ``restart_service:<unit>`` actions load on sync."""
    w = await henv.agent()
    hooks = w.orders.worker.hooks
    assert hooks.sync_rules is not None
    await hooks.sync_rules()
    synced = {r.id: r for r in w.healing.engine.rules if r.source == "synced"}
    assert {"CC-L1-NTP-001", "L1-NTP-001", "L1-SERVICE-001"} <= set(synced)
    assert synced["L1-SERVICE-001"].runbook_id == "LIN-SVC-001"
    assert synced["L1-SERVICE-001"].params == {"units": ["sshd.service", "chronyd.service"]}


async def test_device_inventory_and_mesh_ack_reach_the_server(henv: Env) -> None:
    """Device sync after a network scan and mesh ack after a checkin, through the Uplink."""
    from agent.scan.network import Neighbour

    e = henv
    e.cc.set_credentials(SITE, [], [{"hostname": "10.0.0.5", "port": 22, "username": "msp",
                                     "password": "pw-not-used-1", "label": "lab"}])
    w = await e.agent()  # the checkin delivers the targets and this appliance's assignment
    inv = w.inventory
    assert inv is not None
    assert await inv.mesh_ack()
    [ack] = e.cc.records("mesh_ack", SITE)
    assert ack["targets"] == [{"target_key": "10.0.0.5", "target_type": "device"}]
    assert ack["appliance_id"] == w.checkin.shared.appliance_id
    w.scan.netscan.neighbours = [Neighbour("10.0.0.5", "84-3a-5b-91-b6-61", "eth0"),
                                 Neighbour("10.0.0.9", "843a5b91b662", "eth0")]
    assert await inv.sync_devices()
    [sync] = e.cc.records("devices", SITE)
    assert sync["site_id"] == SITE and sync["total_devices"] == 2
    assert {d["device_id"] for d in sync["devices"]} == {"84:3A:5B:91:B6:61", "84:3A:5B:91:B6:62"}
    assert inv.stats == {"device_syncs": 1, "mesh_acks": 1, "failures": 0}
