"""The healing pipeline (healing.md §4.2–4.5, §4.7–4.9) for every incident, whatever its source.

Reports and telemetry go to a :class:`ReportSink` (connect it to the shared durable outbox with
:func:`outbox_sink`, or to :class:`agent.outbox.reports.ReportQueues` with
:func:`agent.healing.sink.queues_sink`). A ``NoMatch`` goes to the L2 client (§5) when one is
given, else to L3 ``l2_unavailable``.
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from agent.exec import Target
from agent.exec.types import Executor
from agent.healing.executor import HealOutcome, RunbookRunner
from agent.healing.journal import HealingJournal, OpenHeal
from agent.l2.client import L2Client, L2Outcome
from agent.log import get_logger
from agent.phi.egress import EgressError, egress
from agent.rules.engine import Deferred, Match, RuleEngine
from agent.runbooks.aliases import for_target
from agent.runbooks.model import Runbook, RunbookError
from agent.runbooks.registry import RunbookRegistry
from agent.scan.model import Incident
from agent.state.daemon_state import DEDUP_IDLE_S, DedupEntry, HealingCounters
from agent.state.healing_switch import healing_switch
from agent.timefmt import format_rfc3339

log = get_logger("healing")

DEDUP_WINDOW_S = 600.0
FLAP_WINDOW_S = 3600.0
EXHAUST_AFTER = 3
DAY_S = 86400.0
#: How long a workstation agent's "healed" waits for its incident to be reported here.
AGENT_HEAL_WAIT_S = 600.0


class ReportSink(Protocol):
    """Durable outbox for ``incident``, ``resolve`` and ``execution`` payloads (already scrubbed)."""

    def put(self, kind: str, payload: dict[str, Any]) -> None: ...


def outbox_sink(outbox: Any) -> ReportSink:
    """ADAPTER FOR THE SHARED OUTBOX (agent.outbox): connect when both land. ``outbox`` must offer
    ``put(kind, payload)`` or ``enqueue(kind, payload)``; payloads are already through egress."""
    put = getattr(outbox, "put", None) or outbox.enqueue

    class _Sink:
        def put(self, kind: str, payload: dict[str, Any]) -> None:
            put(kind, payload)

    return _Sink()


@dataclass
class GateState:
    """Sources of truth for §4.3 (read at every incident)."""

    healing_enabled: bool = True
    dry_run: bool = False
    disabled_checks: Callable[[], frozenset[str]] = frozenset
    paused: Callable[[], str | None] = lambda: None  # "maintenance window" / "billing hold"
    subscription_ok: Callable[[], bool] = lambda: True
    state_dir: Path | None = None

    def server_disabled(self) -> bool:
        """The server's switch (a damaged file reads as off: :mod:`agent.state.healing_switch`)."""
        return self.state_dir is not None and not healing_switch(self.state_dir)


@dataclass
class _Dedup:
    last_seen: float
    count: int
    window: float
    discriminators: set[str] = field(default_factory=set)


@dataclass
class PipelineResult:
    incident_id: str
    stage: str  # dropped | suppressed | report_only | dry_run | deferred | escalated | healed | failed | ...
    reason: str = ""
    rule_id: str = ""
    outcome: HealOutcome | None = None


CredentialLookup = Callable[[str], tuple[Target, Any] | None]
ExecutorFor = Callable[[Target], Executor]


class HealingPipeline:
    def __init__(
        self,
        *,
        site_id: str,
        appliance_id: Callable[[], str | None],
        engine: RuleEngine,
        registry: RunbookRegistry,
        journal: HealingJournal,
        sink: ReportSink,
        gates: GateState,
        credentials: CredentialLookup,
        executor_for: ExecutorFor,
        clock: Callable[[], float] = time.time,
        max_per_host_per_hour: int = 6,
        max_per_hour: int = 60,
        on_healed: Callable[[str], None] | None = None,
        l2: L2Client | None = None,
        l2_dry_run_plans: bool = False,
    ) -> None:
        self.site_id = site_id
        self.appliance_id = appliance_id
        self.engine = engine
        self.registry = registry
        self.journal = journal
        self.runner = RunbookRunner(journal)
        self.sink = sink
        self.gates = gates
        self.credentials = credentials
        self.executor_for = executor_for
        self.clock = clock
        self.max_host = max_per_host_per_hour
        self.max_global = max_per_hour
        self.on_healed = on_healed
        self.l2 = l2
        self.l2_dry_run_plans = l2_dry_run_plans
        #: (host, check_type) -> (incident id, reported at): the orders' incident lookup.
        self.reported: dict[tuple[str, str], tuple[str, float]] = {}
        #: (host, check_type) -> when it was last healed here: an incident reported before that
        #: is no longer open (healing orders only select open incidents).
        self.healed_at: dict[tuple[str, str], float] = {}
        #: The incident last reported per (host, check_type): a healing order heals from its
        #: findings (the runbook's parameters bind from them).
        self.last_reported: dict[tuple[str, str], Incident] = {}
        #: (host, check_type) -> when a workstation agent reported healing it before its
        #: incident was reported here (the incident is resolved right after its report).
        self.agent_heals: dict[tuple[str, str], float] = {}
        self.dedup: dict[str, _Dedup] = {}
        self.failures: dict[str, list[float]] = {}
        self.suspended: dict[str, tuple[float, str]] = {}
        self.heals_ok: dict[str, list[float]] = {}
        self.host_execs: dict[str, deque[float]] = {}
        self.global_execs: deque[float] = deque()
        self.host_breaker: dict[str, tuple[int, float]] = {}  # consecutive transport fails, open until
        self.recent: deque[bool] = deque(maxlen=20)
        self.global_open_until = 0.0

    def is_open(self, host: str, check_type: str) -> bool:
        """Reported by this agent and not healed here since."""
        rec = self.reported.get((host, check_type))
        return rec is not None and self.healed_at.get((host, check_type), -1.0) < rec[1]

    # --- heals done by workstation agents (the hub) ------------------------------------------------
    def agent_healed(self, host: str, check_type: str, source: str) -> bool:
        """A workstation agent healed ``check_type`` on ``host`` at the hub's command: resolve
        the incident now if this agent reported it, else right after it is reported (a resolve
        never goes before its report: both share one queue in creation order). True when
        resolved now."""
        now = self.clock()
        self.agent_heals = {k: t for k, t in self.agent_heals.items()
                            if now - t < AGENT_HEAL_WAIT_S}
        if self.is_open(host, check_type):
            self._resolve_by_agent(host, check_type, source)
            return True
        self.agent_heals[(host, check_type)] = now
        return False

    def _resolve_by_agent(self, host: str, check_type: str, source: str) -> None:
        self.healed_at[(host, check_type)] = self.clock()
        log.info("healing.agent_resolved", "incident resolved: the workstation agent healed it",
                 host=host, check_type=check_type, source=source)
        self._put("resolve", {"site_id": self.site_id, "host_id": host, "check_type": check_type,
                              "resolution_tier": "L1", "runbook_id": f"workstation-agent:{check_type}",
                              "status": "resolved"})

    def _healed_by_agent(self, inc: Incident) -> bool:
        at = self.agent_heals.pop((inc.host, inc.check_type), None)
        if at is None or self.clock() - at >= AGENT_HEAL_WAIT_S:
            return False
        self._resolve_by_agent(inc.host, inc.check_type, inc.source)
        return True

    # --- §4.3 gates --------------------------------------------------------------------------------
    def gate(self, inc: Incident) -> tuple[str, str]:
        g = self.gates
        if inc.check_type in g.disabled_checks():
            return "drop", "check_disabled"
        if not g.healing_enabled or g.server_disabled():
            return "report_only", "healing_disabled"
        paused = g.paused()
        if paused:
            return "report_only", "maintenance" if "maint" in paused else "billing_hold"
        if not g.subscription_ok():
            return "report_only", "subscription"
        if self.clock() < self.global_open_until:
            return "report_only", "breaker"
        if g.dry_run:
            return "dry_run", ""
        return "heal", ""

    # --- §4.4 dedup --------------------------------------------------------------------------------
    def dedup_pass(self, inc: Incident) -> bool:
        now = self.clock()
        key = f"{inc.host}:{inc.check_type}"
        disc = set(inc.discriminators)
        e = self.dedup.get(key)
        if e is None or now - e.last_seen >= e.window:
            self.dedup[key] = _Dedup(now, 1, DEDUP_WINDOW_S, disc)
            return True
        if disc - e.discriminators:
            e.discriminators |= disc
            return True
        if now - e.last_seen <= 1800:
            e.count += 1
            if e.count >= 3:
                e.window = FLAP_WINDOW_S
        return False

    def prune(self) -> None:
        now = self.clock()
        self.dedup = {k: v for k, v in self.dedup.items() if now - v.last_seen < DEDUP_IDLE_S}

    # --- persistence (runtime.md §3.2: daemon_state.json) --------------------------------------------
    def export_state(self) -> HealingCounters:
        return HealingCounters(
            dedup={k: DedupEntry(v.last_seen, v.count, v.window, frozenset(v.discriminators))
                   for k, v in self.dedup.items()},
            failures={k: list(v) for k, v in self.failures.items()},
            heals_ok={k: list(v) for k, v in self.heals_ok.items()},
            suspended=dict(self.suspended),
        )

    def restore_state(self, saved: HealingCounters) -> None:
        """Load persisted state; what has expired is pruned on load (§4.4, §4.5)."""
        now = self.clock()
        for k, e in saved.dedup.items():
            if now - e.last_seen < DEDUP_IDLE_S:
                self.dedup[k] = _Dedup(e.last_seen, e.count, e.window_s, set(e.discriminators))
        for k, ts in saved.failures.items():
            if kept := [t for t in ts if now - t < DAY_S]:
                self.failures[k] = kept
        for k, ts in saved.heals_ok.items():
            if kept := [t for t in ts if now - t < DAY_S]:
                self.heals_ok[k] = kept
        for k, (until, reason) in saved.suspended.items():
            if until > now:
                self.suspended[k] = (until, reason)

    def report_crashed(self, heal_id: str, incident_id: str, host: str, platform: str, check_type: str,
                       runbook_id: str, level: str) -> None:
        """Telemetry failure for a heal whose outcome was lost (§4.6: replay, Go journal adoption)."""
        now = self.clock()
        o = HealOutcome(heal_id, "crashed", error_category="unknown", started_at=now, finished_at=now)
        self._telemetry(incident_id, host, platform, check_type, runbook_id, level, o)

    # --- reports -----------------------------------------------------------------------------------
    def _put(self, kind: str, payload: dict[str, Any]) -> None:
        try:
            self.sink.put(kind, egress(payload, kind=kind))
        except EgressError:
            log.error("healing.report_unscrubbable", "report not queued: scrubbing failed", kind=kind)

    def _report_incident(self, inc: Incident) -> None:
        self.reported[(inc.host, inc.check_type)] = (inc.incident_id, self.clock())
        self.last_reported[(inc.host, inc.check_type)] = inc
        self._put(
            "incident",
            {
                "site_id": self.site_id,
                "host_id": inc.host,
                "incident_type": inc.check_type,
                "check_type": inc.check_type,
                "severity": inc.severity,
                "details": {
                    "drift_detected": True,
                    "expected": inc.expected,
                    "actual": inc.actual,
                    "platform": inc.platform,
                    "source": inc.source,
                    "message": f"{inc.check_type} drift on host",
                },
                "pre_state": {"expected": inc.expected, "actual": inc.actual},
                "hipaa_controls": [inc.hipaa_control] if inc.hipaa_control else [],
            },
        )

    def _telemetry(
        self,
        inc_id: str,
        host: str,
        platform: str,
        check_type: str,
        runbook_id: str,
        level: str,
        o: HealOutcome,
        l2: L2Outcome | None = None,
    ) -> None:
        extra: dict[str, Any] = {}
        if l2 is not None and l2.decision is not None:
            d = l2.decision
            extra = {"confidence": d.confidence, "reasoning": d.reasoning[:2000] or None,
                     "cost_usd": l2.cost_usd, "input_tokens": d.input_tokens,
                     "output_tokens": d.output_tokens}
            extra = {k: v for k, v in extra.items() if v is not None}
        self._put(
            "execution",
            {
                "site_id": self.site_id,
                "reported_at": format_rfc3339(),
                "execution": {
                    "execution_id": f"{level.lower()}-{o.heal_id}",
                    "incident_id": inc_id,
                    "appliance_id": self.appliance_id(),
                    "runbook_id": runbook_id,
                    "hostname": host,
                    "platform": platform,
                    "incident_type": check_type,
                    "duration_seconds": round(max(0.0, o.finished_at - o.started_at), 3),
                    "success": o.healed,
                    "status": "success" if o.healed else "failure",
                    "verification_passed": o.healed,
                    "confidence": 1.0,
                    "resolution_level": "L1" if level == "L1" else "L2",
                    "error_message": o.error[:500] or None,
                    "error_category": o.error_category or None,
                    "error_step": o.phase or None,
                    "pattern_signature": f"{check_type}:{runbook_id}:{host}",
                    **extra,
                },
            },
        )

    def _note(self, event: str, inc: Incident, **fields: Any) -> None:
        """A non-durable journal record about an incident that did not start a heal."""
        self.journal.append(secrets.token_hex(12), event, durable=False,
                            incident_id=inc.incident_id, **fields)

    def _escalate(self, inc: Incident, reason: str, level_from: str = "L1") -> PipelineResult:
        self._note("escalated", inc, check_type=inc.check_type, reason=reason)
        log.warning(
            "heal.escalated",
            f"incident escalated to L3: {reason}",
            incident_id=inc.incident_id,
            host=inc.host,
            check_type=inc.check_type,
            reason=reason,
            level_from=level_from,
        )
        return PipelineResult(inc.incident_id, "escalated", reason)

    # --- §4.5 limits -------------------------------------------------------------------------------
    def _blocked(self, key: str, host: str) -> str | None:
        now = self.clock()
        fails = [t for t in self.failures.get(key, []) if now - t < DAY_S]
        self.failures[key] = fails
        if len(fails) >= EXHAUST_AFTER:
            return "exhausted"
        sus = self.suspended.get(key)
        if sus and now < sus[0]:
            return sus[1]
        return None

    def _rate_limited(self, host: str) -> str | None:
        now = self.clock()
        hq = self.host_execs.setdefault(host, deque())
        for q in (hq, self.global_execs):
            while q and now - q[0] >= 3600:
                q.popleft()
        _n, open_until = self.host_breaker.get(host, (0, 0.0))
        if now < open_until:
            return "host_breaker"
        if len(hq) >= self.max_host:
            return "host_rate"
        if len(self.global_execs) >= self.max_global:
            return "global_rate"
        return None

    def _record(self, key: str, host: str, o: HealOutcome) -> None:
        now = self.clock()
        self.host_execs.setdefault(host, deque()).append(now)
        self.global_execs.append(now)
        self.recent.append(o.healed)
        if o.healed:
            self.failures.pop(key, None)
            oks = [t for t in self.heals_ok.get(key, []) if now - t < DAY_S] + [now]
            self.heals_ok[key] = oks
            if len(oks) >= 3:
                self.suspended[key] = (now + DAY_S, "recurring_drift")
            self.host_breaker.pop(host, None)
        elif o.outcome == "failed":
            self.failures.setdefault(key, []).append(now)
            if o.error_category in ("network_error", "timeout", "auth_failure", "security_error"):
                n, _ = self.host_breaker.get(host, (0, 0.0))
                n += 1
                self.host_breaker[host] = (n, now + 900 if n >= 3 else 0.0)
        elif o.outcome == "not_applicable":
            self.suspended[key] = (now + DAY_S, "not_applicable")
        if sum(1 for ok in self.recent if not ok) >= 10:
            self.global_open_until = now + 1800

    # --- §4.2 ----------------------------------------------------------------------------------------
    async def handle(self, inc: Incident) -> PipelineResult:
        decision, reason = self.gate(inc)
        if decision == "drop":
            return PipelineResult(inc.incident_id, "dropped", reason)
        if not self.dedup_pass(inc):
            return PipelineResult(inc.incident_id, "suppressed", "dedup")
        self._report_incident(inc)
        if self._healed_by_agent(inc):  # its agent already healed it (after the hub's command)
            return PipelineResult(inc.incident_id, "healed", "workstation_agent")
        if decision == "report_only":
            self._note("suppressed", inc, check_type=inc.check_type, reason=reason)
            return PipelineResult(inc.incident_id, "report_only", reason)
        key = f"{inc.host}:{inc.check_type}"
        why = self._blocked(key, inc.host)
        if why:
            return self._escalate(inc, why)
        limited = self._rate_limited(inc.host)
        if limited:
            self._note("deferred", inc, reason=limited)
            return PipelineResult(inc.incident_id, "deferred", limited)
        data = inc.data_map()
        res = self.engine.match(data, inc.severity, claim=decision != "dry_run")
        if isinstance(res, Deferred):
            self._note("deferred", inc, rule_id=res.rule.id, reason="deferred_cooldown")
            return PipelineResult(inc.incident_id, "deferred", "deferred_cooldown", res.rule.id)
        if not isinstance(res, Match):
            return await self._l2(inc, decision)
        rule = res.rule
        rb = for_target(self.registry, rule.runbook_id, inc.check_type, inc.label) \
            if rule.runbook_id else None
        if decision == "dry_run":
            self._note("dry_run", inc, rule_id=rule.id, runbook_id=rule.runbook_id or "")
            return PipelineResult(inc.incident_id, "dry_run", "", rule.id)
        if rule.kind == "escalate" or rb is None:
            return self._escalate(inc, rule.reason or rule.id)
        if rb.disruptive and not rule.allow_disruptive:
            return self._escalate(inc, "disruptive_not_allowed")
        phases = rule.phases
        if self.clock() - inc.observed_at > 600 and "detect" not in phases:
            phases = ("detect", *phases)
        return await self.execute(
            inc, rb, rule.params, phases=phases, level="L1", rule_id=rule.id, reason=rule.description
        )

    async def _l2(self, inc: Incident, decision: str) -> PipelineResult:
        """Step 13: L2 when allowed (§4.7, §5); a decision naming a runbook runs through steps 11–12."""
        if self.l2 is None:
            return self._escalate(inc, "l2_unavailable")
        if decision == "dry_run" and not self.l2_dry_run_plans:
            self._note("dry_run", inc, reason="no_l1_match")
            return PipelineResult(inc.incident_id, "dry_run", "no_l1_match")
        why = self.l2.unavailable()
        if why:
            return self._escalate(inc, why)
        if self.credentials(inc.host) is None:
            return self._escalate(inc, "no_credentials")  # a plan could not run: spend no budget
        out = await self.l2.plan(inc)
        d = out.decision
        if decision == "dry_run":
            agent_rb = d.runbook.id if d is not None and d.runbook is not None else ""
            self._note("dry_run", inc, runbook_id=d.runbook_id if d else "",
                       agent_runbook_id=agent_rb, reason=out.reason or "l2_plan")
            why = out.reason or (f"l2_plan {d.runbook_id} -> {agent_rb}" if d and agent_rb
                                 else "l2_plan")
            return PipelineResult(inc.incident_id, "dry_run", why)
        if not out.executable or d is None or d.runbook is None:
            if d is not None:
                log.info("l2.refused", "L2 plan not executed", incident_id=inc.incident_id,
                         reason=out.reason, action=d.action, confidence=d.confidence)
            return self._escalate(inc, out.reason or "no_runbook", "L2")
        return await self.execute(
            inc,
            d.runbook,
            d.params,
            phases=("detect", "remediate", "verify"),
            level="L2",
            reason=d.reasoning,
            confidence=d.confidence,
            l2=out,
        )

    async def execute(
        self,
        inc: Incident,
        rb: Runbook,
        supplied: Mapping[str, Any],
        *,
        phases: tuple[str, ...],
        level: str,
        rule_id: str = "",
        reason: str = "",
        confidence: float = 1.0,
        trigger: str = "scan",
        l2: L2Outcome | None = None,
    ) -> PipelineResult:
        """Steps 11–12 for L1, L2 and orders: credentials, parameters, journal, runbook, reports."""
        if rb.platform != inc.platform or (rb.check_types and inc.check_type not in rb.check_types):
            return self._escalate(inc, "runbook_mismatch", level)
        found = self.credentials(inc.host)
        if found is None:
            return self._escalate(inc, "no_credentials", level)
        target, cred = found
        try:
            params = rb.bind(supplied, inc.data_map())
        except RunbookError as exc:
            log.warning("heal.invalid_params", "runbook parameters invalid", runbook_id=rb.id, error=str(exc))
            return self._escalate(inc, "invalid_params", level)
        key = f"{inc.host}:{inc.check_type}"
        o = await self.runner.run(
            executor=self.executor_for(target),
            target=target,
            credential=cred,
            runbook=rb,
            params=params,
            phases=phases,
            level=level,
            incident_id=inc.incident_id,
            check_type=inc.check_type,
            rule_id=rule_id,
            reason=reason,
            confidence=confidence,
            trigger=trigger,
        )
        self._record(key, inc.host, o)
        if o.outcome != "already_compliant":
            self._telemetry(inc.incident_id, inc.host, inc.platform, inc.check_type, rb.id, level, o, l2)
        if o.healed:
            self.healed_at[(inc.host, inc.check_type)] = self.clock()
            log.info("heal.healed", f"{inc.check_type} on {inc.host} healed by {rb.id}",
                     incident_id=inc.incident_id, host=inc.host, check_type=inc.check_type,
                     runbook_id=rb.id, level=level, outcome=o.outcome)
            self._put(
                "resolve",
                {
                    "site_id": self.site_id,
                    "host_id": inc.host,
                    "check_type": inc.check_type,
                    "resolution_tier": "L1" if level == "L1" else "L2",
                    "runbook_id": rule_id or rb.id,
                    "status": "resolved",
                },
            )
            if self.on_healed:
                self.on_healed(inc.host)
            return PipelineResult(inc.incident_id, "healed", "", rule_id, o)
        if o.outcome in ("already_compliant",):
            return PipelineResult(inc.incident_id, o.outcome, "", rule_id, o)
        self._escalate(inc, o.outcome if o.outcome != "failed" else f"heal_failed:{o.error}", level)
        return PipelineResult(inc.incident_id, o.outcome, o.error, rule_id, o)

    # --- §4.6 replay ---------------------------------------------------------------------------------
    async def replay(self, open_heals: list[OpenHeal]) -> list[HealOutcome]:
        """Run before any scan or heal: interrupted heals are verified or reported, never forgotten."""
        out = []
        for h in open_heals:
            b = h.begin
            if not h.remediate_started:
                self.journal.append(h.heal_id, "end", durable=True, outcome="interrupted")
                self.journal.drop_params(h.heal_id)
                out.append(HealOutcome(h.heal_id, "interrupted"))
                continue
            rb = self.registry.get(str(b.get("runbook_id", "")))
            host = str(b.get("host", ""))
            found = self.credentials(host) if host else None
            params = self.journal.load_params(h.heal_id)
            if rb is None or found is None or params is None:
                self.journal.append(
                    h.heal_id,
                    "end",
                    durable=True,
                    outcome="crashed",
                    error="runbook, host, credential or parameters no longer known",
                )
                o = HealOutcome(
                    h.heal_id,
                    "crashed",
                    error_category="unknown",
                    started_at=self.clock(),
                    finished_at=self.clock(),
                )
                self._telemetry(
                    str(b.get("incident_id", "")),
                    host,
                    str(b.get("platform", "")),
                    str(b.get("check_type", "")),
                    str(b.get("runbook_id", "")),
                    str(b.get("level", "L1")),
                    o,
                )
                out.append(o)
                continue
            target, cred = found
            o = await self.runner.verify_only(
                executor=self.executor_for(target),
                target=target,
                credential=cred,
                runbook=rb,
                params=params,
                heal_id=h.heal_id,
            )
            ct = str(b.get("check_type", ""))
            level = str(b.get("level", "L1"))
            self._telemetry(str(b.get("incident_id", "")), host, target.platform, ct, rb.id, level, o)
            if o.healed:
                self._put(
                    "resolve",
                    {
                        "site_id": self.site_id,
                        "host_id": host,
                        "check_type": ct,
                        "resolution_tier": level if level in ("L1", "L2") else "L1",
                        "runbook_id": str(b.get("rule_id") or rb.id),
                        "status": "resolved",
                    },
                )
            else:
                self.failures.setdefault(f"{host}:{ct}", []).append(self.clock())
            out.append(o)
        return out
