"""Healing orders as Central Command sends them: only an unsigned incident_id, signed parameters
{} and a runbook id from the server's catalogue (handlers.healing; docs/server-compat.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from agent.orders.handlers import Hooks
from agent.runbooks import default_registry

from . import signer
from .test_worker import Server, make, run

HOST = "10.0.0.5"


@dataclass
class _Incident:
    incident_id: str
    host: str
    check_type: str
    at: float
    label: str = ""


class Journal:
    """This agent's open incidents, by the server's incident id."""

    def __init__(self, **open_by_server_id: str) -> None:
        self.open = {sid: _Incident("local-" + sid, HOST, ct, 0.0)
                     for sid, ct in open_by_server_id.items()}

    def lookup(self, host_id: str, check_type: str, since: datetime) -> Any:
        return next((i for i in self.open.values()
                     if i.host == host_id and i.check_type == check_type), None)

    def open_incident(self, server_id: str, since: datetime) -> Any:
        return self.open.get(server_id)


def server_style(runbook_id: str, incident_id: Any) -> dict[str, Any]:
    """sites.py: parameters is {} plus incident_id; the signed parameters are {}."""
    order = signer.healing(runbook_id, {"incident_id": incident_id})
    del order["parameters"]["runbook_id"]
    return order


def _hooks(ran: list[tuple[str, str, str]], journal: Journal, **kw: Any) -> Hooks:
    async def run_heal(host: str, check_type: str, runbook_id: str,
                       params: dict[str, Any]) -> dict[str, Any]:
        ran.append((host, check_type, runbook_id))
        return {"status": "healed"}

    return Hooks(runbooks=default_registry(), incidents=journal, run_heal=run_heal,
                 known_targets=lambda platform: {HOST} if platform == "linux" else set(), **kw)


async def test_a_fitting_server_runbook_heals_the_selected_incident(tmp_path: Path) -> None:
    server, ran = Server(), []
    w = make(tmp_path, server, hooks=_hooks(ran, Journal(**{"4711": "linux_backup_status"})))
    o = server_style("RB-BACKUP-001", "4711")
    await run(w, o)
    [body] = server.bodies(o["order_id"])
    assert body["success"] is True, body
    assert ran == [(HOST, "linux_backup_status", "LIN-BACKUP-001")]
    assert body["result"]["agent_runbook_id"] == "LIN-BACKUP-001"
    assert body["result"]["incident_id"] == "4711"


@pytest.mark.parametrize(("runbook_id", "incident_id", "why"), [
    ("RB-AV-001", "1", "runbook does not apply"),            # AV runbook for an SSH finding
    ("RB-WIN-FIREWALL-001", "2", "runbook does not apply"),  # Windows firewall for Linux
    ("RB-NOPE-404", "1", "runbook does not apply"),          # not a runbook anyone knows
    ("LIN-FW-001", "1", "runbook does not apply"),           # an agent runbook, other check
    ("RB-BACKUP-001", "999", "does not name an open incident"),  # not ours, or healed since
    ("RB-BACKUP-001", None, "no selector"),
    ("RB-BACKUP-001", "", "no selector"),
])
async def test_every_refusal(tmp_path: Path, runbook_id: str, incident_id: Any,
                             why: str) -> None:
    server, ran = Server(), []
    journal = Journal(**{"1": "linux_ssh_config", "2": "linux_firewall", "3": "linux_backup_status"})
    w = make(tmp_path, server, hooks=_hooks(ran, journal))
    o = server_style(runbook_id, incident_id)
    await run(w, o)
    [body] = server.bodies(o["order_id"])
    assert body["success"] is False and body["result"]["status"] == "blocked"
    assert why in body["result"]["reason"], body
    assert ran == []


async def test_disabled_checks_and_unknown_targets_are_refused(tmp_path: Path) -> None:
    server, ran = Server(), []
    journal = Journal(**{"3": "linux_backup_status"})
    w = make(tmp_path, server, hooks=_hooks(
        ran, journal, disabled_checks=lambda: frozenset({"linux_backup_status"})))
    o = server_style("RB-BACKUP-001", "3")
    await run(w, o)
    assert "disabled" in server.bodies(o["order_id"])[0]["result"]["reason"]
    journal.open["3"].host = "10.9.9.9"  # the incident's host is no longer a known target
    w2 = make(tmp_path / "b", server, hooks=_hooks(ran, journal))
    o2 = server_style("RB-BACKUP-001", "3")
    await run(w2, o2)
    assert "not a known target" in server.bodies(o2["order_id"])[0]["result"]["reason"]
    assert ran == []


async def test_an_unsigned_incident_id_of_the_wrong_type_is_a_mismatch(tmp_path: Path) -> None:
    server, ran = Server(), []
    w = make(tmp_path, server, hooks=_hooks(ran, Journal(**{"3": "linux_backup_status"})))
    o = server_style("RB-BACKUP-001", 3)
    await run(w, o)
    [body] = server.bodies(o["order_id"])
    assert body["success"] is False and body["error_message"].startswith("unsigned_mismatch")
    assert ran == []

