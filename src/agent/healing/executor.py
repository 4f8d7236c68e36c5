"""Runs a runbook's phases under the journal (healing.md §3.3–3.5, §4.6)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agent.exec import ExecRequest, Privilege, Target
from agent.exec.types import Executor
from agent.healing.journal import HealingJournal
from agent.healing.privileged import PrivRunner, remediate_privileged
from agent.runbooks.model import PhaseResult, Runbook, params_for_exec, parse_phase_output

_SUMMARY_CAP = 2048


@dataclass
class HealOutcome:
    heal_id: str
    outcome: (
        str  # healed | failed | not_applicable | already_compliant | invalid_params | healed_after_restart
    )
    phase: str = ""
    error_category: str = ""
    error: str = ""
    started_at: float = 0.0
    finished_at: float = 0.0
    verify: dict[str, Any] | None = None

    @property
    def healed(self) -> bool:
        return self.outcome in ("healed", "healed_after_restart")


def mgmt_params(target: Target, credential: Any) -> dict[str, str | int]:
    """The implicit management-path parameters of healing.md §3.5 rule 4: how the agent reaches
    this host, so a runbook never removes that path."""
    default_port = {"ssh": 22, "winrm": 5985}.get(target.transport.value, 0)
    if getattr(credential, "private_key", None):
        auth = "key"
    elif getattr(credential, "password", None):
        auth = "password"
    else:
        auth = "none"
    return {"mgmt_transport": target.transport.value, "mgmt_port": target.port or default_port,
            "mgmt_auth": auth}


def _summary(result: Mapping[str, Any] | None) -> Any:
    if result is None:
        return None
    import json

    text = json.dumps(result, default=str)
    return result if len(text) <= _SUMMARY_CAP else {"truncated": True}


class RunbookRunner:
    """``priv``: the privileged helper's client, for runbooks whose remediate phase is a helper
    action (on the appliance only); None: such a remediate fails cleanly."""

    def __init__(self, journal: HealingJournal, priv: PrivRunner | None = None) -> None:
        self.journal = journal
        self.priv = priv

    async def _phase(
        self,
        executor: Executor,
        target: Target,
        credential: Any,
        rb: Runbook,
        phase: str,
        params: Mapping[str, Any],
    ) -> tuple[PhaseResult, str]:
        if phase == "remediate" and rb.privileged_action:
            return await remediate_privileged(self.priv, target, rb, params)
        req = ExecRequest(
            rb.scripts[phase],
            deadline_s=float(rb.timeout_for(phase)),
            privilege=Privilege(rb.privilege) if rb.privilege != "admin" else Privilege.ADMIN,
            params={**params_for_exec(params), **mgmt_params(target, credential)},
            idempotent=phase != "remediate",
            purpose=f"heal:{phase}",
        )
        res = await executor.run(target, credential, req)
        pr = parse_phase_output(
            phase,
            res.stdout,
            exit_code=res.exit_code,
            truncated=res.stdout_truncated,
            transport_ok=res.error is None or res.error.kind.value == "remote_nonzero_exit",
        )
        category = res.error.category if res.error is not None else ("script_error" if not pr.ok else "")
        return pr, category

    async def _journaled_phase(
        self,
        heal_id: str,
        phase: str,
        durable: bool,
        executor: Executor,
        target: Target,
        credential: Any,
        rb: Runbook,
        params: Mapping[str, Any],
    ) -> tuple[PhaseResult, str]:
        """One phase between its ``phase_begin`` and ``phase_end`` journal lines."""
        self.journal.append(heal_id, "phase_begin", durable=durable, phase=phase)
        pr, cat = await self._phase(executor, target, credential, rb, phase, params)
        self.journal.append(heal_id, "phase_end", durable=durable, phase=phase, ok=pr.ok,
                            exit_code=pr.exit_code, summary=_summary(pr.result))
        return pr, cat

    async def run(
        self,
        *,
        executor: Executor,
        target: Target,
        credential: Any,
        runbook: Runbook,
        params: Mapping[str, Any],
        phases: tuple[str, ...],
        level: str,
        incident_id: str,
        check_type: str,
        rule_id: str = "",
        reason: str = "",
        confidence: float = 1.0,
        trigger: str = "scan",
        heal_id: str | None = None,
    ) -> HealOutcome:
        hid = heal_id or secrets.token_hex(12)
        out = HealOutcome(hid, "failed", started_at=time.time())
        j = self.journal
        j.save_params(hid, params)  # sidecar for re-verify after a crash (not in the journal)
        j.append(
            hid,
            "begin",
            durable=True,
            level=level,
            incident_id=incident_id,
            rule_id=rule_id,
            runbook_id=runbook.id,
            runbook_version=runbook.version,
            script_sha256={p: runbook.script_sha256(p) for p in runbook.scripts},
            host=target.host,
            platform=target.platform,
            transport=target.transport.value,
            port=target.port,
            label=target.label,
            check_type=check_type,
            param_names=sorted(params),
            trigger=trigger,
            reason=reason,
            confidence=confidence,
        )

        def end(outcome: str, phase: str = "", category: str = "", error: str = "") -> HealOutcome:
            out.outcome, out.phase, out.error_category, out.error = outcome, phase, category, error
            out.finished_at = time.time()
            j.append(
                hid, "end", durable=True, outcome=outcome, phase=phase, error_category=category, error=error
            )
            j.drop_params(hid)
            return out

        if "detect" in phases and "detect" in runbook.scripts:
            pr, cat = await self._journaled_phase(
                hid, "detect", False, executor, target, credential, runbook, params
            )
            if not pr.ok:
                return end("failed", "detect", cat, pr.reason)
            assert pr.result is not None
            if pr.result.get("drifted") is False:
                return end("already_compliant", "detect")
        pr, cat = await self._journaled_phase(
            hid, "remediate", True, executor, target, credential, runbook, params
        )
        if not pr.ok:
            if pr.result is not None and pr.result.get("status") == "not_applicable" and pr.exit_code == 0:
                return end("not_applicable", "remediate", "", str(pr.result.get("reason", ""))[:500])
            return end("failed", "remediate", cat, pr.reason)
        return await self.verify_only(
            executor=executor,
            target=target,
            credential=credential,
            runbook=runbook,
            params=params,
            heal_id=hid,
            out=out,
            end_outcome="healed",
        )

    async def verify_only(
        self,
        *,
        executor: Executor,
        target: Target,
        credential: Any,
        runbook: Runbook,
        params: Mapping[str, Any],
        heal_id: str,
        out: HealOutcome | None = None,
        end_outcome: str = "healed_after_restart",
    ) -> HealOutcome:
        j = self.journal
        out = out or HealOutcome(heal_id, "failed", started_at=time.time())
        pr, cat = await self._journaled_phase(
            heal_id, "verify", False, executor, target, credential, runbook, params
        )
        out.verify = pr.result
        if not pr.ok:
            outcome, category, error = "failed", cat, pr.reason
        else:
            proved, why = runbook.verify_proves(pr.result, params)
            outcome, category, error = (
                (end_outcome, "", "") if proved else ("failed", "verification_failed", why)
            )
        out.outcome, out.phase, out.error_category, out.error = outcome, "verify", category, error
        out.finished_at = time.time()
        j.append(
            heal_id,
            "end",
            durable=True,
            outcome=outcome,
            phase="verify",
            error_category=category,
            error=error,
        )
        j.drop_params(heal_id)
        return out
