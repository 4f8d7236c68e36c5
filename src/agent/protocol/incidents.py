"""Incident reports: ``POST /incidents`` and ``POST /incidents/resolve`` (central-api.md §7.8).

No ``/api`` prefix on these paths.
"""

from __future__ import annotations

from typing import Any

from msgspec import Struct

INCIDENTS_PATH = "/incidents"
RESOLVE_PATH = "/incidents/resolve"
SEVERITIES = frozenset({"low", "medium", "high", "critical"})


class IncidentReport(Struct, kw_only=True, omit_defaults=True):
    """``POST /incidents`` body; ``severity`` outside :data:`SEVERITIES` is a 422."""

    site_id: str
    host_id: str
    incident_type: str
    severity: str
    check_type: str | None = None
    details: dict[str, Any] | None = None
    pre_state: dict[str, Any] | None = None
    hipaa_controls: list[str] | None = None


class IncidentReportResponse(Struct, kw_only=True):
    """200 body. ``status`` in received, deduplicated, reopened, exhausted, suppressed_maintenance."""

    status: str = ""
    incident_id: str | None = None
    resolution_tier: str | None = None
    order_id: str | None = None
    runbook_id: str | None = None
    timestamp: str | None = None
    maintenance_until: str | None = None


class IncidentResolve(Struct, kw_only=True):
    """``POST /incidents/resolve`` body (response ignored)."""

    site_id: str
    host_id: str
    check_type: str
    resolution_tier: str  # L1 | L2
    runbook_id: str
    status: str = "resolved"
