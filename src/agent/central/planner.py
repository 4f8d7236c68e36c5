"""A deterministic L2 planner for ``POST /api/agent/l2/plan`` (central-api.md §7.9).

No LLM: a fixed rule table maps the incident's check type (``raw_data.check_type``, else
``incident_type``) to a runbook, an action and a confidence. Identical requests give identical
plans. Unknown types escalate to L3. The action is ``execute_runbook``, which the agent's default
L2 allowlist (healing.md §5.5) accepts; the runbook id says what runs. Like the real planner
(l2_planner.py ``AVAILABLE_RUNBOOKS``), plans name the server's catalogue ids (``RB-BACKUP-001``,
``RB-FIREWALL-001`` …) where it has one, and the Go catalogue ids (the server's runbooks table:
``LIN-NTP-001`` …) otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.protocol.l2 import L2Plan, L2PlanRequest


@dataclass(frozen=True, slots=True)
class PlanRule:
    runbook_id: str
    action: str
    confidence: float
    requires_approval: bool = False


RULES: dict[str, PlanRule] = {
    "firewall_status": PlanRule("RB-FIREWALL-001", "execute_runbook", 0.95),
    "windows_defender": PlanRule("RB-AV-001", "execute_runbook", 0.92),
    "audit_logging": PlanRule("RB-LOGGING-001", "execute_runbook", 0.9),
    "windows_update": PlanRule("RB-WIN-SVC-006", "execute_runbook", 0.85),
    "smb_signing": PlanRule("RB-WIN-SEC-007", "execute_runbook", 0.88),
    "smb1_protocol": PlanRule("RB-WIN-SEC-020", "execute_runbook", 0.9),
    "screen_lock_policy": PlanRule("RB-WIN-SEC-016", "execute_runbook", 0.86),
    "rdp_nla": PlanRule("RB-WIN-SEC-023", "execute_runbook", 0.87),
    "guest_account": PlanRule("RB-WIN-SEC-024", "execute_runbook", 0.9),
    "password_policy": PlanRule("RB-WIN-SEC-022", "execute_runbook", 0.84),
    "bitlocker_status": PlanRule("RB-WIN-SEC-005", "execute_runbook", 0.7, requires_approval=True),
    "rogue_admin_users": PlanRule("RB-WIN-SEC-027", "execute_runbook", 0.6, requires_approval=True),
    "linux_firewall": PlanRule("RB-FIREWALL-001", "execute_runbook", 0.93),
    "linux_ssh_config": PlanRule("LIN-SSH-001", "execute_runbook", 0.9),
    "linux_failed_services": PlanRule("RB-SERVICE-001", "execute_runbook", 0.85),
    "linux_disk_space": PlanRule("RB-DISK-001", "execute_runbook", 0.88),
    "linux_audit_logging": PlanRule("RB-LOGGING-001", "execute_runbook", 0.87),
    "linux_ntp_sync": PlanRule("LIN-NTP-001", "execute_runbook", 0.91),
    "linux_kernel_params": PlanRule("LIN-KERN-001", "execute_runbook", 0.82),
    "linux_unattended_upgrades": PlanRule("RB-PATCH-001", "execute_runbook", 0.83),
    "linux_cert_expiry": PlanRule("RB-CERT-001", "execute_runbook", 0.8),
    "linux_log_forwarding": PlanRule("RB-LOGGING-001", "execute_runbook", 0.86),
    "linux_backup_status": PlanRule("RB-BACKUP-001", "execute_runbook", 0.88),
    "linux_file_permissions": PlanRule("RB-DRIFT-001", "execute_runbook", 0.9),
}


def plan(req: L2PlanRequest) -> L2Plan:
    raw: dict[str, Any] = req.raw_data or {}
    check_type = raw.get("check_type") if isinstance(raw.get("check_type"), str) else None
    key = check_type or req.incident_type
    rule = RULES.get(key)
    context = {"rule_table": "deterministic-v1", "matched_key": key, "severity": req.severity}
    if rule is None:
        return L2Plan(
            incident_id=req.incident_id,
            recommended_action="escalate",
            action_params={"reason": f"no L2 rule for {key}"},
            confidence=0.0,
            reasoning=f"No deterministic plan for '{key}'; escalating to a human (L3).",
            runbook_id=None,
            requires_approval=False,
            escalate_to_l3=True,
            l2_decision_recorded=True,
            context_used=context,
        )
    return L2Plan(
        incident_id=req.incident_id,
        recommended_action=rule.action,
        action_params={"runbook_id": rule.runbook_id},
        confidence=rule.confidence,
        reasoning=f"'{key}' maps to runbook {rule.runbook_id} in the deterministic rule table.",
        runbook_id=rule.runbook_id,
        requires_approval=rule.requires_approval,
        escalate_to_l3=False,
        l2_decision_recorded=True,
        context_used=context,
    )
