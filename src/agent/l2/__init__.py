"""The L2 planner client (healing.md §5)."""

from agent.l2.budget import L2Budget
from agent.l2.client import L2Client, L2Outcome, L2Settings
from agent.l2.decision import Decision, confidence_floor, guardrails, validate
from agent.l2.patterns import dangerous_category, normalise
from agent.l2.request import build_request

__all__ = ["Decision", "L2Budget", "L2Client", "L2Outcome", "L2Settings", "build_request",
           "confidence_floor", "dangerous_category", "guardrails", "normalise", "validate"]
