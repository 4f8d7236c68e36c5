"""Runbook identity (agent.runbooks.aliases): server runbook ids resolve only by reviewed pairs."""

from __future__ import annotations

import pytest

from agent.l2 import validate
from agent.l2.decision import Decision
from agent.runbooks import default_registry
from agent.runbooks.aliases import ALIASES, APPLIANCE_ALIASES, Refusal, resolve

REG = default_registry()


@pytest.mark.parametrize(("pair", "target"), sorted({**ALIASES, **APPLIANCE_ALIASES}.items()))
def test_every_entry_names_an_agent_runbook_for_that_check(pair: tuple[str, str],
                                                           target: str) -> None:
    rb = REG.get(target)
    assert rb is not None, target
    assert pair[1] in rb.check_types


@pytest.mark.parametrize(("server_id", "check_type", "agent_id"), [
    ("RB-BACKUP-001", "linux_backup_status", "LIN-BACKUP-001"),
    ("RB-WIN-FIREWALL-001", "firewall_status", "RB-WIN-SEC-001"),
    ("RB-FIREWALL-001", "linux_firewall", "LIN-FW-001"),
    ("LIN-SSH-001", "linux_ssh_config", "LIN-SSH-001"),  # an agent id is itself
])
def test_fitting_pairs_resolve(server_id: str, check_type: str, agent_id: str) -> None:
    rb = resolve(REG, server_id, check_type)
    assert not isinstance(rb, Refusal) and rb.id == agent_id


@pytest.mark.parametrize(("server_id", "check_type", "code"), [
    ("RB-AV-001", "linux_ssh_config", "no_mapping"),
    ("RB-WIN-FIREWALL-001", "linux_firewall", "no_mapping"),
    ("RB-WIN-BACKUP-001", "backup_verification", "no_mapping"),  # no agent runbook yet
    ("RB-NOPE-404", "linux_firewall", "unknown_runbook"),
    ("LIN-SSH-001", "linux_firewall", "check_type_mismatch"),
])
def test_unfitting_pairs_are_refused_with_a_reason(server_id: str, check_type: str,
                                                  code: str) -> None:
    out = resolve(REG, server_id, check_type)
    assert isinstance(out, Refusal) and out.code == code
    assert server_id in out.detail


def test_appliance_findings_use_the_appliance_runbook() -> None:
    host = resolve(REG, "RB-DRIFT-001", "linux_file_permissions")
    own = resolve(REG, "RB-DRIFT-001", "linux_file_permissions", "appliance")
    assert not isinstance(host, Refusal) and host.id == "LIN-PERM-001"
    assert not isinstance(own, Refusal) and own.id == "APPL-PERM-001"


def _plan(runbook_id: str) -> dict[str, object]:
    return {"recommended_action": "execute_runbook", "confidence": 0.9, "runbook_id": runbook_id,
            "action_params": {}, "reasoning": "r", "escalate_to_l3": False,
            "requires_approval": False, "l2_decision_recorded": True}


def test_l2_plans_naming_server_runbooks() -> None:
    ok = validate(_plan("RB-BACKUP-001"), host="h", platform="linux",
                  check_type="linux_backup_status", registry=REG)
    assert isinstance(ok, Decision) and ok.runbook is not None
    assert ok.runbook.id == "LIN-BACKUP-001" and ok.runbook_id == "RB-BACKUP-001"
    assert validate(_plan("RB-AV-001"), host="h", platform="linux", check_type="linux_ssh_config",
                    registry=REG) == "l2_invalid:no_mapping"
    assert validate(_plan("RB-NOPE-404"), host="h", platform="linux",
                    check_type="linux_ssh_config", registry=REG) == "l2_invalid:unknown_runbook"
