"""Runbooks (healing.md §3): packaged detect/remediate/verify scripts with parameters."""

from agent.runbooks.model import PhaseResult, Runbook, RunbookError, parse_phase_output
from agent.runbooks.registry import RunbookRegistry, default_registry

__all__ = [
    "PhaseResult",
    "Runbook",
    "RunbookError",
    "RunbookRegistry",
    "default_registry",
    "parse_phase_output",
]
