"""Drift scanning (healing.md §2, §6): check catalogue, scanners, findings and incidents."""

from agent.scan.catalog import CATALOG, CHECKS, CheckSpec
from agent.scan.model import Finding, HostResult, Incident, aggregate

__all__ = ["CATALOG", "CHECKS", "CheckSpec", "Finding", "HostResult", "Incident", "aggregate"]
