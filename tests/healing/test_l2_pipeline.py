"""NoMatch → L2 → a registered runbook through the normal engine, or L3 (healing.md §4.2 step 13)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.fakeclock import FakeClock

from agent.exec import ExecRequest, ExecResult, Target, Transport
from agent.healing.journal import HealingJournal
from agent.healing.pipeline import GateState, HealingPipeline
from agent.l2 import L2Budget, L2Client, L2Settings
from agent.rules import RuleEngine
from agent.runbooks import default_registry
from agent.scan.model import Incident

from .fakes import MemorySink

REG = default_registry()
TARGET = Target(Transport.SSH, "10.0.0.5", 22, "linux", "linux")
PLAN = {
    "recommended_action": "execute_runbook",
    "runbook_id": "LIN-PERM-001",
    "confidence": 0.9,
    "reasoning": "account database is world-writable",
    "action_params": {"files": ["/etc/passwd"]},
    "l2_decision_recorded": True,
    "context_used": {"input_tokens": 2000, "output_tokens": 100},
}


class RunbookHost:
    """Answers runbook phases like a drifted host that the remediation fixes; records scripts."""

    def __init__(self) -> None:
        self.fixed = False
        self.phases: list[str] = []
        self.params: list[dict[str, Any]] = []

    async def run(self, target: Target, credential: Any, request: ExecRequest) -> ExecResult:
        phase = request.purpose.split(":", 1)[1]
        self.phases.append(phase)
        self.params.append(dict(request.params))
        if phase == "detect":
            doc: dict[str, Any] = {"phase": "detect", "drifted": not self.fixed, "observed": {}}
        elif phase == "remediate":
            self.fixed = True
            doc = {"phase": "remediate", "status": "ok", "changed": True, "actions": [], "reason": ""}
        else:
            ok = self.fixed
            doc = {"phase": "verify", "verified": ok, "observed": {"checked": 1, "unsafe": 0 if ok else 1}}
        out = "MSP_RESULT " + json.dumps(doc) + "\n"
        return ExecResult(Transport.SSH, target.host, target.port, exit_code=0, stdout=out)

    async def close(self) -> None:
        pass


class Server:
    def __init__(self, doc: dict[str, Any], status: int = 200) -> None:
        self.doc, self.status, self.calls = doc, status, 0

    async def post(self, path: str, body: bytes, timeout_s: float) -> tuple[int, bytes]:
        self.calls += 1
        return self.status, json.dumps(self.doc).encode()


def _incident(ct: str = "linux_file_permissions", host: str = "10.0.0.5") -> Incident:
    return Incident(
        "drift-" + "b" * 32,
        host,
        ct,
        "high",
        "164.312(a)(1)",
        "safe",
        "unsafe",
        {"files": ["/etc/passwd"]},
        "linux",
        "linuxscan",
        "linux",
        (),
        FakeClock()(),
    )


def _pipeline(
    tmp_path: Path, server: Server, host: RunbookHost, sink: MemorySink, **kw: Any
) -> HealingPipeline:
    journal = HealingJournal(tmp_path)
    journal.open()
    budget = L2Budget(tmp_path, clock=FakeClock())
    l2 = L2Client(
        site_id="site-1",
        post=server.post,
        budget=budget,
        registry=REG,
        settings=L2Settings(**kw.pop("settings", {})),
    )
    return HealingPipeline(
        site_id="site-1",
        appliance_id=lambda: "app-1",
        engine=RuleEngine([]),
        registry=REG,
        journal=journal,
        sink=sink,
        gates=GateState(**kw.pop("gates", {})),
        credentials=lambda h: (TARGET, object()) if h == TARGET.host else None,
        executor_for=lambda _t: host,
        clock=FakeClock(),
        l2=l2,
        **kw,
    )


async def test_l2_decision_runs_the_registered_runbook(tmp_path: Path) -> None:
    sink, host, server = MemorySink(), RunbookHost(), Server(PLAN)
    res = await _pipeline(tmp_path, server, host, sink).handle(_incident())
    assert res.stage == "healed" and server.calls == 1
    assert host.phases == ["detect", "remediate", "verify"]  # detect first for L2 (§5.6)
    assert host.params[1] == {  # the bound parameter plus the implicit management path (§3.5 rule 4)
        "files": ["/etc/passwd"],
        "mgmt_transport": "ssh",
        "mgmt_port": 22,
        "mgmt_auth": "none",
    }
    kinds = sink.kinds()
    assert kinds == ["incident", "execution", "resolve"]
    resolve = sink.items[2][1]
    assert resolve["resolution_tier"] == "L2" and resolve["runbook_id"] == "LIN-PERM-001"
    ex = sink.items[1][1]["execution"]
    assert ex["resolution_level"] == "L2" and ex["execution_id"].startswith("l2-")
    assert ex["confidence"] == 0.9 and ex["runbook_id"] == "LIN-PERM-001" and ex["appliance_id"] == "app-1"
    assert ex["input_tokens"] == 2000 and ex["cost_usd"] > 0 and "world-writable" in ex["reasoning"]
    begin = [json.loads(line) for line in (tmp_path / "healing_journal.jsonl").read_text().splitlines()]
    assert any(e["event"] == "begin" and e["level"] == "L2" and e["confidence"] == 0.9 for e in begin)


async def test_refused_plan_escalates_and_never_executes(tmp_path: Path) -> None:
    for n, doc in enumerate(
        (
            {**PLAN, "requires_approval": True},
            {**PLAN, "confidence": 0.2},
            {**PLAN, "recommended_action": "execute_runbook", "action_params": {"script": "rm -rf /"}},
            {**PLAN, "runbook_id": "RB-WIN-SEC-001"},
            {**PLAN, "action_params": {"host_id": "10.0.0.6"}},
            {**PLAN, "l2_decision_recorded": False},
        )
    ):
        sink, host = MemorySink(), RunbookHost()
        res = await _pipeline(tmp_path / str(n), Server(doc), host, sink).handle(_incident())
        assert res.stage == "escalated", doc
        assert host.phases == [] and sink.kinds() == ["incident"]  # no resolve, no telemetry


async def test_manual_mode_and_unavailable_server(tmp_path: Path) -> None:
    sink, host = MemorySink(), RunbookHost()
    p = _pipeline(tmp_path / "a", Server(PLAN), host, sink, settings={"mode": lambda: "manual"})
    res = await p.handle(_incident())
    assert (res.stage, res.reason) == ("escalated", "approval_required") and host.phases == []
    res = await _pipeline(tmp_path / "b", Server({}, 503), host, MemorySink()).handle(_incident())
    assert (res.stage, res.reason) == ("escalated", "l2_unavailable")


async def test_no_credentials_spends_no_budget(tmp_path: Path) -> None:
    server = Server(PLAN)
    p = _pipeline(tmp_path, server, RunbookHost(), MemorySink())
    res = await p.handle(_incident(host="10.0.0.77"))
    assert (res.stage, res.reason) == ("escalated", "no_credentials") and server.calls == 0
    assert p.l2 is not None and p.l2.budget.attempts_total == 0


async def test_dry_run_never_calls_l2_unless_asked(tmp_path: Path) -> None:
    server = Server(PLAN)
    res = await _pipeline(
        tmp_path / "a", server, RunbookHost(), MemorySink(), gates={"dry_run": True}
    ).handle(_incident())
    assert res.stage == "dry_run" and server.calls == 0
    host = RunbookHost()
    p = _pipeline(tmp_path / "b", server, host, MemorySink(), gates={"dry_run": True}, l2_dry_run_plans=True)
    res = await p.handle(_incident())
    assert res.stage == "dry_run" and server.calls == 1 and host.phases == []


async def test_report_only_gate_blocks_l2(tmp_path: Path) -> None:
    server = Server(PLAN)
    res = await _pipeline(
        tmp_path, server, RunbookHost(), MemorySink(), gates={"healing_enabled": False}
    ).handle(_incident())
    assert res.stage == "report_only" and server.calls == 0
