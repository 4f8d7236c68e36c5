"""The L2 planner client (healing.md §5): preconditions, budget, one request, validation, guardrails.

:meth:`L2Client.plan` never raises for server or transport problems: it returns an
:class:`L2Outcome` whose ``decision`` is set only for an executable plan; otherwise ``reason`` says
why the incident goes to L3. A plan is only ever a *choice of a registered runbook*: nothing in the
response is executed except that runbook (§5.6).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from agent.l2.budget import L2Budget
from agent.log import get_logger
from agent.phi.egress import EgressError
from agent.runbooks.registry import RunbookRegistry
from agent.scan.model import Incident

if TYPE_CHECKING:
    from agent.l2.decision import Decision

log = get_logger("l2")

PLAN_PATH: Final = "/api/agent/l2/plan"

#: ``post(path, body, timeout_s) -> (status, response body)``; raises on transport errors.
Post = Callable[[str, bytes, float], Awaitable[tuple[int, bytes]]]


@dataclass
class L2Outcome:
    reason: str  # "" when decision is executable
    decision: Decision | None = None
    called: bool = False
    cost_usd: float | None = None
    detail: str = ""

    @property
    def executable(self) -> bool:
        return self.decision is not None and not self.reason


@dataclass
class L2Settings:
    """Sources of truth for §5.1 and §5.5 (read at every call)."""

    enabled: Callable[[], bool] = lambda: True
    mode: Callable[[], str | None] = lambda: None  # server-provided l2_mode; None = auto
    api_key_configured: Callable[[], bool] = lambda: True
    server_breaker_open: Callable[[], bool] = lambda: False
    server_threshold: Callable[[], float | None] = lambda: None
    allowed_actions: Callable[[], Iterable[str] | None] = lambda: None
    known_secrets: Callable[[], Iterable[str | None]] = lambda: ()
    timeout_s: float = 30.0
    queue_wait_s: float = 5.0
    max_concurrent: int = 3


class L2Client:
    def __init__(
        self,
        *,
        site_id: str,
        post: Post,
        budget: L2Budget,
        registry: RunbookRegistry,
        settings: L2Settings | None = None,
    ) -> None:
        self.site_id = site_id
        self.post = post
        self.budget = budget
        self.registry = registry
        self.settings = settings or L2Settings()
        s = self.settings
        self._sem = asyncio.Semaphore(s.max_concurrent if s.max_concurrent > 0 else 3)
        self.counts: dict[str, int] = {}

    def mode(self) -> str:
        m = (self.settings.mode() or "auto").lower()
        return m

    def unavailable(self) -> str | None:
        """§5.1's agent-side preconditions (gate, exhaustion, NoMatch and credentials are the
        pipeline's): the L3 reason, or None when L2 may be called."""
        s = self.settings
        if not s.enabled():
            return "l2_disabled"
        if self.mode() not in ("auto", "manual"):
            return "l2_disabled"
        if not s.api_key_configured():
            return "l2_no_api_key"
        if s.server_breaker_open():
            return "l2_server_unreachable"
        return None

    def _count(self, reason: str) -> None:
        key = reason.split(":", 1)[0] if reason else "executable"
        self.counts[key] = self.counts.get(key, 0) + 1

    async def plan(self, incident: Incident) -> L2Outcome:
        out = await self._plan(incident)
        self._count(out.reason)
        return out

    async def _plan(self, incident: Incident) -> L2Outcome:
        # The request builder, validation and guardrails: imported at the first plan (an
        # appliance that never escalates to L2 never loads them).
        from agent.l2.decision import confidence_floor, guardrails, validate
        from agent.l2.request import build_request, encode_request

        why = self.unavailable()
        if why:
            return L2Outcome(why)
        s = self.settings
        try:
            req = build_request(incident, site_id=self.site_id, secrets=s.known_secrets())
        except EgressError:
            return L2Outcome("l2_unscrubbable")
        body = encode_request(req)
        try:
            await asyncio.wait_for(self._sem.acquire(), timeout=max(0.0, s.queue_wait_s))
        except TimeoutError:
            return L2Outcome("l2_busy")
        try:
            refused = self.budget.reserve()
            if refused:
                return L2Outcome(refused)
            started = time.monotonic()
            try:
                status, reply = await asyncio.wait_for(
                    self.post(PLAN_PATH, body, s.timeout_s), timeout=s.timeout_s)
            except TimeoutError:
                self.budget.charge(self.budget.cost_per_call)
                return L2Outcome("l2_timeout", called=True, cost_usd=self.budget.cost_per_call)
            except Exception as exc:  # noqa: BLE001 - every transport failure is L3, never a retry
                self.budget.charge(self.budget.cost_per_call)
                return L2Outcome("l2_transport_error", called=True, cost_usd=self.budget.cost_per_call,
                                 detail=type(exc).__name__)
            log.info("l2.answered", "L2 planner answered", incident_id=incident.incident_id,
                     status=status, duration_ms=int((time.monotonic() - started) * 1000))
        finally:
            self._sem.release()
        doc: Any = None
        if status == 200:
            try:
                doc = json.loads(reply)
            except ValueError:
                doc = None
        ctx = doc.get("context_used") if isinstance(doc, dict) else None
        tokens = (ctx.get("input_tokens"), ctx.get("output_tokens")) if isinstance(ctx, dict) \
            else (None, None)
        tin, tout = (t if isinstance(t, int) and not isinstance(t, bool) else None for t in tokens)
        cost = self.budget.cost_of(tin, tout)
        self.budget.charge(cost)
        if status != 200:
            return L2Outcome("l2_unavailable" if status == 503 else f"l2_http_{status}", called=True,
                             cost_usd=cost)
        res = validate(doc, host=incident.host, platform=incident.platform,
                       check_type=incident.check_type, registry=self.registry,
                       label=incident.label)
        if isinstance(res, str):
            return L2Outcome(res, called=True, cost_usd=cost)
        bad = guardrails(res, floor=confidence_floor(s.server_threshold()),
                         allowed_actions=s.allowed_actions())
        if bad is not None:
            category, detail = bad
            if category == "dangerous_pattern":
                log.warning("l2.dangerous_pattern", "L2 plan refused: destructive pattern",
                            incident_id=incident.incident_id, category=detail)
            return L2Outcome(category, res, called=True, cost_usd=cost, detail=detail)
        if self.mode() == "manual":
            log.info("l2.approval_required", "L2 plan needs approval (l2_mode manual)",
                     incident_id=incident.incident_id, action=res.action, runbook_id=res.runbook_id,
                     confidence=res.confidence)
            return L2Outcome("approval_required", res, called=True, cost_usd=cost)
        return L2Outcome("", res, called=True, cost_usd=cost)

    def status(self) -> dict[str, Any]:
        return {"budget": self.budget.status(), "outcomes": dict(self.counts), "mode": self.mode()}
