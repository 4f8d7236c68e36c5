"""The L1 rule engine (healing.md §1)."""

from agent.rules.engine import Deferred, Match, MatchResult, NoMatch, RuleEngine, cooldown_key
from agent.rules.loader import (
    BundleError,
    LoadReport,
    canonical_rules_text,
    load_all,
    store_bundle,
    verify_bundle,
)
from agent.rules.model import Rule, RuleError, parse_rule

__all__ = [
    "BundleError",
    "Deferred",
    "LoadReport",
    "Match",
    "MatchResult",
    "NoMatch",
    "Rule",
    "RuleEngine",
    "RuleError",
    "canonical_rules_text",
    "cooldown_key",
    "load_all",
    "parse_rule",
    "store_bundle",
    "verify_bundle",
]
