"""Compiled conditions and operators (healing.md §1.3), shared by rules and runbook assertions."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from agent.rules.values import MISSING, go_text, is_numeric, lookup, values_equal

OPERATORS: Final = frozenset({"eq", "ne", "contains", "regex", "gt", "lt", "in", "not_in", "exists"})
MAX_PATTERN: Final = 512
MAX_SUBJECT: Final = 64 * 1024

try:  # pragma: no cover - depends on the environment
    import re2 as _re2  # type: ignore[import-not-found,unused-ignore]

    HAVE_RE2 = True
except ImportError:
    _re2 = None
    HAVE_RE2 = False


class ConditionError(ValueError):
    """A condition that can never be evaluated correctly: the rule is rejected at load."""


def _non_re2(pattern: str) -> str | None:
    """Why RE2 would refuse ``pattern`` (constructs Python ``re`` accepts but RE2 does not)."""
    i, n, in_class = 0, len(pattern), False
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if not in_class and nxt in "123456789":
                return "back-reference"
            if not in_class and nxt in "kZ":
                return f"unsupported escape \\{nxt}"
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
            i += 1
            continue
        if c == "[":
            in_class = True
            i += 1
            if i < n and pattern[i] == "^":
                i += 1
            if i < n and pattern[i] == "]":
                i += 1  # a literal ] first in the class
            continue
        if c == "(" and pattern.startswith("(?", i):
            rest = pattern[i + 2 : i + 5]
            if rest.startswith(("=", "!", "<=", "<!")):
                return "look-around"
            if rest.startswith(">"):
                return "atomic group"
            if rest.startswith("P="):
                return "back-reference"
            if rest.startswith("("):
                return "conditional group"
            if rest.startswith("#"):
                return "comment group"
        if c in "*+?}" and i + 1 < n and pattern[i + 1] == "+":
            return "possessive quantifier"
        i += 1
    return None


def compile_regex(pattern: str) -> Callable[[str], bool]:
    """Compile once at load (RE2 semantics); raises :class:`ConditionError`."""
    if len(pattern) > MAX_PATTERN:
        raise ConditionError(f"regex longer than {MAX_PATTERN} characters")
    if _re2 is not None:  # pragma: no cover
        try:
            rx2 = _re2.compile(pattern)
        except Exception as exc:  # noqa: BLE001
            raise ConditionError(f"invalid regex: {exc}") from None
        return lambda s: rx2.search(s) is not None
    why = _non_re2(pattern)
    if why:
        raise ConditionError(f"regex not accepted by RE2 ({why})")
    try:
        rx = re.compile(pattern, re.ASCII)
    except re.error as exc:
        raise ConditionError(f"invalid regex: {exc}") from None
    return lambda s: rx.search(s) is not None


@dataclass(frozen=True, slots=True)
class Condition:
    field: str
    operator: str
    value: Any
    _regex: Callable[[str], bool] | None = None

    def evaluate(self, data: Mapping[str, Any]) -> bool:
        actual = lookup(data, self.field)
        op = self.operator
        if op == "exists":
            present = actual is not MISSING
            return present == self.value if isinstance(self.value, bool) else present
        if actual is MISSING:
            return False
        if op == "eq":
            return values_equal(actual, self.value)
        if op == "ne":
            return not values_equal(actual, self.value)
        if op == "contains":
            return go_text(self.value) in go_text(actual)
        if op == "regex":
            if self._regex is None:
                return False
            return self._regex(go_text(actual)[:MAX_SUBJECT])
        if op in ("gt", "lt"):
            na, fa = is_numeric(actual)
            nb, fb = is_numeric(self.value)
            if not (na and nb):
                return False
            return fa > fb if op == "gt" else fa < fb
        if op == "in":
            return isinstance(self.value, list) and any(values_equal(actual, e) for e in self.value)
        if op == "not_in":
            if not isinstance(self.value, list):
                return True
            return not any(values_equal(actual, e) for e in self.value)
        return False


def compile_condition(raw: object, warnings: list[str] | None = None) -> Condition:
    """Build a :class:`Condition` from ``{field, operator, value}``; raises :class:`ConditionError`."""
    if not isinstance(raw, Mapping):
        raise ConditionError("condition is not a map")
    fld = raw.get("field")
    if not isinstance(fld, str) or not fld:
        raise ConditionError("condition with an empty field")
    op = raw.get("operator")
    op = "eq" if op is None else op
    if not isinstance(op, str) or op not in OPERATORS:
        raise ConditionError(f"unknown operator {op!r}")
    value = raw.get("value")
    rx = None
    if op == "regex":
        rx = compile_regex(go_text(value))
    if op == "not_in" and not isinstance(value, list) and warnings is not None:
        warnings.append(f"not_in on {fld!r} with a non-list value is always true")
    return Condition(fld, op, value, rx)


def compile_conditions(raws: Sequence[object], warnings: list[str] | None = None) -> tuple[Condition, ...]:
    return tuple(compile_condition(r, warnings) for r in raws)


def all_true(conditions: Sequence[Condition], data: Mapping[str, Any]) -> bool:
    return all(c.evaluate(data) for c in conditions)
