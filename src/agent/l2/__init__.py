"""The L2 planner client (healing.md §5).

The names below are imported on first use (PEP 562): the daemon imports the client and the
budget; the request builder, validation and guardrails load at the first plan.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.l2.budget import L2Budget
    from agent.l2.client import L2Client, L2Outcome, L2Settings
    from agent.l2.decision import Decision, confidence_floor, guardrails, validate
    from agent.l2.patterns import dangerous_category, normalise
    from agent.l2.request import build_request

_WHERE = {"L2Budget": "budget", "L2Client": "client", "L2Outcome": "client",
          "L2Settings": "client", "Decision": "decision", "confidence_floor": "decision",
          "guardrails": "decision", "validate": "decision", "dangerous_category": "patterns",
          "normalise": "patterns", "build_request": "request"}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'agent.l2' has no attribute {name!r}")
    return getattr(importlib.import_module(f"agent.l2.{where}"), name)


__all__ = ["Decision", "L2Budget", "L2Client", "L2Outcome", "L2Settings", "build_request",
           "confidence_floor", "dangerous_category", "guardrails", "normalise", "validate"]
