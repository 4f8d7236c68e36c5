"""Execution telemetry: ``POST /api/agent/executions`` (central-api.md §7.10)."""

from __future__ import annotations

from msgspec import Struct


class Execution(Struct, kw_only=True, omit_defaults=True):
    """``execution``: one L1/L2 healing execution (strings PHI-scrubbed)."""

    execution_id: str
    incident_id: str
    runbook_id: str
    hostname: str
    incident_type: str
    duration_seconds: float
    success: bool
    status: str  # success | failure
    confidence: float
    resolution_level: str  # L1 | L2
    appliance_id: str | None = None
    error_message: str | None = None
    error_category: str | None = None
    cost_usd: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning: str | None = None
    pattern_signature: str | None = None


class ExecutionReport(Struct, kw_only=True):
    """The request body; 200 or 201 means done."""

    site_id: str
    reported_at: str
    execution: Execution
