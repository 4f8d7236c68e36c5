"""L2 planning: ``POST /api/agent/l2/plan`` (central-api.md §7.9)."""

from __future__ import annotations

from typing import Any

from msgspec import Struct


class L2PlanRequest(Struct, kw_only=True, omit_defaults=True):
    """Request for an L2 plan for an incident no L1 rule matched."""

    incident_id: str
    site_id: str
    host_id: str
    incident_type: str
    severity: str = "medium"
    raw_data: dict[str, Any] | None = None
    pattern_signature: str | None = None
    created_at: str | None = None


class L2Plan(Struct, kw_only=True):
    """The plan. Act only if ``confidence >= l2_confidence_threshold``, neither
    ``requires_approval`` nor ``escalate_to_l3`` is true and ``l2_decision_recorded`` is not false."""

    incident_id: str = ""
    recommended_action: str = ""
    action_params: dict[str, Any] = {}
    confidence: float = 0.0
    reasoning: str = ""
    runbook_id: str | None = None
    requires_approval: bool = False
    escalate_to_l3: bool = False
    l2_decision_recorded: bool | None = None
    context_used: dict[str, Any] | None = None

    @property
    def actionable(self) -> bool:
        """Whether the flags allow acting at all (the confidence threshold is the caller's)."""
        return not (self.requires_approval or self.escalate_to_l3 or self.l2_decision_recorded is False)
