"""First-match rule evaluation with per-(rule, host) cooldown (healing.md §1.5)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agent.rules.model import Rule

PRUNE_EVERY_S = 600.0


@dataclass(frozen=True, slots=True)
class Match:
    rule: Rule

    @property
    def action(self) -> str:
        return self.rule.action


@dataclass(frozen=True, slots=True)
class Deferred:
    rule: Rule
    remaining_s: float


@dataclass(frozen=True, slots=True)
class NoMatch:
    pass


MatchResult = Match | Deferred | NoMatch


def cooldown_key(rule: Rule, data: Mapping[str, Any]) -> str:
    host = data.get("host_id")
    return f"{rule.id}:{host if isinstance(host, str) and host else 'unknown'}"


class RuleEngine:
    """Holds the current immutable rule list and the cooldown table.

    ``clock`` is wall time (cooldowns survive restarts through :meth:`export_cooldowns`).
    """

    def __init__(self, rules: Sequence[Rule] = (), *, clock: Callable[[], float] = time.time) -> None:
        self._rules: tuple[Rule, ...] = tuple(sorted(rules, key=lambda r: r.sort_key))
        self._clock = clock
        self.cooldowns: dict[str, float] = {}
        self._last_prune = clock()

    @property
    def rules(self) -> tuple[Rule, ...]:
        return self._rules

    def swap(self, rules: Sequence[Rule]) -> None:
        """Install a new rule list in one assignment (reload)."""
        self._rules = tuple(sorted(rules, key=lambda r: r.sort_key))

    def first_match(self, data: Mapping[str, Any], severity: str) -> Rule | None:
        for rule in self._rules:
            if rule.matches(data, severity):
                return rule
        return None

    def match(self, data: Mapping[str, Any], severity: str, *, claim: bool = True) -> MatchResult:
        """``claim=False`` (dry run) matches without claiming the cooldown."""
        now = self._clock()
        self._maybe_prune(now)
        rule = self.first_match(data, severity)
        if rule is None:
            return NoMatch()
        key = cooldown_key(rule, data)
        if rule.cooldown_seconds > 0:
            claimed = self.cooldowns.get(key)
            if claimed is not None and now - claimed < rule.cooldown_seconds:
                return Deferred(rule, rule.cooldown_seconds - (now - claimed))
        if claim:
            self.cooldowns[key] = now
        return Match(rule)

    def _maybe_prune(self, now: float) -> None:
        if now - self._last_prune < PRUNE_EVERY_S:
            return
        self._last_prune = now
        longest = max((r.cooldown_seconds for r in self._rules), default=0)
        self.cooldowns = {k: t for k, t in self.cooldowns.items() if now - t < longest}

    def export_cooldowns(self) -> dict[str, float]:
        return dict(self.cooldowns)

    def restore_cooldowns(self, saved: Mapping[str, object]) -> None:
        for k, v in saved.items():
            if isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool):
                self.cooldowns[k] = float(v)
