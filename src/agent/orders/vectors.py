"""Running order-verification vector files (``shared/vectors/orders.json`` and any file shaped
like it) through the real verifier.

File shape: ``{"context": {...}, "cases": [{"name", "steps": [{"order", "expected_verdict",
"expected_completion"?}]}]}``. The context (``appliance_id``, ``site_id``, ``now``,
``trusted_keys``, ``clock_skew_allowance_seconds``) is the file's, overridden by a case's own
``context`` and then by a step's ``context``. Each case starts with an empty nonce store; its steps
share it, in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.orders.store import OrderRecords
from agent.orders.verify import CLOCK_SKEW_S, Context, Verdict, verify
from agent.protocol.errors import ProtocolError
from agent.protocol.timefmt import parse_timestamp


class VectorFileError(ValueError):
    """The file is not shaped like an order vector file."""


@dataclass(frozen=True, slots=True)
class StepResult:
    case: str
    step: int
    verdict: Verdict
    expected_verdict: str
    expected_completion: str | None

    @property
    def ok(self) -> bool:
        if self.verdict.text != self.expected_verdict:
            return False
        return self.expected_completion is None or \
            self.verdict.completion == self.expected_completion


def _context(raw: dict[str, Any], where: str) -> Context:
    try:
        appliance_id = raw["appliance_id"]
        now = parse_timestamp(raw["now"])
        keys = raw["trusted_keys"]
        if not isinstance(appliance_id, str) or not isinstance(keys, list) \
                or not all(isinstance(k, str) for k in keys):
            raise TypeError
        site_id = raw.get("site_id")
        skew = raw.get("clock_skew_allowance_seconds", CLOCK_SKEW_S)
        if site_id is not None and not isinstance(site_id, str):
            raise TypeError
        if isinstance(skew, bool) or not isinstance(skew, int | float):
            raise TypeError
        return Context.build(appliance_id, site_id, now, keys, float(skew))
    except KeyError as exc:
        raise VectorFileError(f"{where}: context lacks {exc.args[0]!r}") from None
    except (TypeError, ValueError, ProtocolError):
        raise VectorFileError(f"{where}: context has a field of the wrong type or format "
                              "(appliance_id, site_id, now, trusted_keys as 64-hex strings, "
                              "clock_skew_allowance_seconds)") from None


def run_vectors(doc: Any) -> list[StepResult]:
    """Verify every step of every case; raises :class:`VectorFileError` for a bad file."""
    if not isinstance(doc, dict) or not isinstance(doc.get("cases"), list):
        raise VectorFileError("expected a JSON object with a 'cases' array")
    base = doc.get("context") or {}
    if not isinstance(base, dict):
        raise VectorFileError("'context' must be an object")
    results: list[StepResult] = []
    for ci, case in enumerate(doc["cases"]):
        if not isinstance(case, dict) or not isinstance(case.get("steps"), list):
            raise VectorFileError(f"case #{ci}: expected an object with a 'steps' array")
        name = str(case.get("name", f"case-{ci}"))
        case_ctx = {**base, **(case.get("context") or {})}
        store = OrderRecords(None)
        for si, step in enumerate(case["steps"]):
            if not isinstance(step, dict) or "order" not in step \
                    or not isinstance(step.get("expected_verdict"), str):
                raise VectorFileError(f"{name} step {si + 1}: expected 'order' and "
                                      "'expected_verdict'")
            ctx = _context({**case_ctx, **(step.get("context") or {})}, f"{name} step {si + 1}")
            store.clock = ctx.now.timestamp
            verdict = verify(step["order"], ctx, store)
            if verdict.verdict == "accept" and verdict.order is not None:
                # The vectors model an order that ran: its completion is settled.
                store.finish(verdict.order.nonce, "succeeded", {"success": True})
            exp_c = step.get("expected_completion")
            results.append(StepResult(name, si + 1, verdict, step["expected_verdict"],
                                      exp_c if isinstance(exp_c, str) else None))
    return results
