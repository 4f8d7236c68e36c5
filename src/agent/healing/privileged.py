"""A runbook's remediate phase through the privileged helper (runtime.md §10.4, issue 22).

Only on the appliance itself (the local target): the action and its parameters come from the
runbook (fixed ones checked against the helper's schema at load, bound ones when sent); the wait
is the action's own deadline (the client's), not the runbook's script timeout. The helper's answer becomes an
ordinary remediate :class:`PhaseResult`; no answer, a refusal or a failed action is a failed
phase with the reason, never an exception out of the heal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from agent.exec import Target
from agent.exec.types import Transport
from agent.priv.client import PrivError, PrivResult
from agent.runbooks.model import PhaseResult, Runbook

_TAIL = 400


class PrivRunner(Protocol):
    async def run(self, action: str, params: dict[str, object] | None = None, *,
                  deadline_s: float | None = None) -> PrivResult: ...


async def remediate_privileged(priv: PrivRunner | None, target: Target, rb: Runbook,
                               params: Mapping[str, Any]) -> tuple[PhaseResult, str]:
    """(phase result, error category) of ``rb``'s privileged remediate on ``target`` (``params``:
    the heal's bound runbook parameters, for the action's bound parameters)."""
    action = rb.privileged_action or ""
    if target.transport is not Transport.LOCAL:
        return _failed(action, "privileged_action_not_local"), "privilege_failed"
    if priv is None:
        return _failed(action, "privileged_helper_unavailable"), "privilege_failed"
    try:
        res = await priv.run(action, rb.privileged_args(params))
    except PrivError as exc:
        return _failed(action, f"privileged_helper: {str(exc)[:_TAIL]}"), "privilege_failed"
    if not res.ok:
        why = res.error or f"exit_code_{res.exit_code}"
        detail = (res.stderr or res.stdout)[-_TAIL:]
        return _failed(action, f"privileged_helper: {why[:_TAIL]}", res.exit_code,
                       detail), "script_error"
    result = {"phase": "remediate", "status": "ok", "changed": True, "actions": [action],
              "helper_exit_code": res.exit_code}
    return PhaseResult("remediate", True, result, "", res.exit_code), ""


def _failed(action: str, reason: str, exit_code: int | None = None,
            output_tail: str = "") -> PhaseResult:
    result = {"phase": "remediate", "status": "failed", "actions": [action], "reason": reason,
              "output_tail": output_tail}
    return PhaseResult("remediate", False, result, reason, exit_code)
