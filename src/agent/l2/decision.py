"""Response validation (healing.md §5.4) and guardrails (§5.5) of an L2 plan.

Both are pure functions: :func:`validate` turns the decoded JSON into a :class:`Decision` or a
refusal reason ``l2_invalid:<check>`` (or ``l2_decision_not_recorded``); :func:`guardrails`
returns the first failing category or ``None``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from agent.l2.patterns import dangerous_category
from agent.runbooks.aliases import Refusal, resolve
from agent.runbooks.model import Runbook
from agent.runbooks.registry import RunbookRegistry

CONFIDENCE_FLOOR: Final = 0.6
REASONING_CAP: Final = 2000
#: Keys of ``action_params`` that are not runbook parameters.
RESERVED_PARAMS: Final = frozenset({"host_id", "runbook_id", "script", "reason", "hostname", "check_type"})


@dataclass(frozen=True, slots=True)
class Decision:
    action: str
    confidence: float
    runbook_id: str
    params: dict[str, Any]  # declared runbook parameters only (reserved keys removed)
    action_params: dict[str, Any]
    reasoning: str
    escalate_to_l3: bool = False
    requires_approval: bool = False
    input_tokens: int | None = None
    output_tokens: int | None = None
    runbook: Runbook | None = field(default=None, compare=False)

    @property
    def executes_runbook(self) -> bool:
        a = self.action.lower()
        return a == "execute_runbook" or a.startswith("run_")


def _int_or_none(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


def validate(
    doc: Any, *, host: str, platform: str, check_type: str, registry: RunbookRegistry,
    label: str = "",
) -> Decision | str:
    """§5.4 in order; the first failure is returned as ``l2_invalid:<check>``. A runbook id from
    the server's catalogue resolves through :mod:`agent.runbooks.aliases` (by check type)."""
    if not isinstance(doc, dict):
        return "l2_invalid:not_an_object"
    action = doc.get("recommended_action")
    if not isinstance(action, str) or not action.strip():
        return "l2_invalid:recommended_action"
    conf = doc.get("confidence", 0)
    if isinstance(conf, bool) or not isinstance(conf, int | float) or not 0.0 <= float(conf) <= 1.0:
        return "l2_invalid:confidence"
    flags = {}
    for name in ("escalate_to_l3", "requires_approval"):
        v = doc.get(name, False)
        if v is None:
            v = False
        if not isinstance(v, bool):
            return f"l2_invalid:{name}"
        flags[name] = v
    rid = doc.get("runbook_id")
    if rid is not None and not isinstance(rid, str):
        return "l2_invalid:runbook_id"
    ap = doc.get("action_params")
    if ap is None:
        ap = {}
    if not isinstance(ap, dict):
        return "l2_invalid:action_params"
    reasoning = doc.get("reasoning", "")
    if reasoning is None:
        reasoning = ""
    if not isinstance(reasoning, str):
        return "l2_invalid:reasoning"
    if doc.get("l2_decision_recorded") is False:
        return "l2_decision_not_recorded"
    rid = (rid or "").strip()
    rb = None
    a = action.strip().lower()
    if (a == "execute_runbook" or a.startswith("run_")) and not rid:
        return "l2_invalid:no_runbook"
    if rid:
        found = registry.get(rid) or resolve(registry, rid, check_type, label)
        if isinstance(found, Refusal):  # a server catalogue id without a reviewed mapping
            return f"l2_invalid:{found.code}"
        rb = found
        if rb.platform != platform:
            return "l2_invalid:platform_mismatch"
        if rb.check_types and check_type not in rb.check_types:
            return "l2_invalid:check_type_mismatch"
    target = ap.get("host_id")
    if isinstance(target, str) and target and target.lower() != host.lower():
        return "l2_invalid:host_redirect"
    params = {k: v for k, v in ap.items() if k not in RESERVED_PARAMS}
    if rb is not None and rb.param_errors(params):
        return "l2_invalid:params"
    ctx = doc.get("context_used")
    ctx = ctx if isinstance(ctx, dict) else {}
    return Decision(
        action=action.strip(),
        confidence=float(conf),
        runbook_id=rid,
        params=params if rb is not None else {},
        action_params=ap,
        reasoning=reasoning[:REASONING_CAP],
        escalate_to_l3=flags["escalate_to_l3"],
        requires_approval=flags["requires_approval"],
        input_tokens=_int_or_none(ctx.get("input_tokens")),
        output_tokens=_int_or_none(ctx.get("output_tokens")),
        runbook=rb,
    )


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def confidence_floor(server_threshold: float | None) -> float:
    """max(0.6, the server's ``l2_confidence_threshold`` when > 0)."""
    if server_threshold is not None and server_threshold > 0:
        return max(CONFIDENCE_FLOOR, server_threshold)
    return CONFIDENCE_FLOOR


def guardrails(
    d: Decision, *, floor: float, allowed_actions: Iterable[str] | None
) -> tuple[str, str] | None:
    """§5.5 in order: ``(category, detail)`` of the first failure, else None."""
    if d.confidence < floor:
        return "low_confidence", f"{d.confidence:.2f} < {floor:.2f}"
    from agent.config.schema import DEFAULT_L2_ALLOWED_ACTIONS

    allow = DEFAULT_L2_ALLOWED_ACTIONS if allowed_actions is None else tuple(allowed_actions)
    if d.action.lower() not in {a.lower() for a in allow}:
        return "unknown_action", d.action
    texts = [d.action, *list(_strings(d.action_params))]
    for text in texts:
        cat = dangerous_category(text)
        if cat is not None:
            return "dangerous_pattern", cat
    if d.escalate_to_l3:
        return "escalate", ""
    if d.requires_approval:
        return "approval_required", ""
    if not d.runbook_id or d.runbook is None:
        return "no_runbook", ""
    return None
