"""Child process for the kill -9 journal test: starts a heal and hangs inside a phase."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from agent.exec import LocalExecutor, Target
from agent.healing.executor import RunbookRunner
from agent.healing.journal import HealingJournal
from agent.runbooks.registry import RunbookRegistry


async def main(state: str, runbooks: str, marker: str, phases: str) -> None:
    reg = RunbookRegistry.load(Path(runbooks))
    journal = HealingJournal(Path(state))
    journal.open()
    runner = RunbookRunner(journal)
    ex = LocalExecutor(Path(state) / "run")
    await runner.run(
        executor=ex,
        target=Target.local(),
        credential=None,
        runbook=reg.get("TST-CRASH-001"),  # type: ignore[arg-type]
        params={"marker": marker},
        phases=tuple(phases.split(",")),
        level="L1",
        incident_id="drift-" + "0" * 32,
        check_type="linux_file_permissions",
        rule_id="R-CRASH",
    )


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
