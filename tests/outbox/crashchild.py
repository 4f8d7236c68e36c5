"""Child of the crash-consistency test: appends to every outbox as fast as it can and prints
``ACK <kind> <id>`` after each append returned (the item "counts as created"). Killed with
SIGKILL at random points by the parent.

    python -m tests.outbox.crashchild STATE SEED
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

from agent.crypto import Ed25519Key
from agent.evidence.bundle import CheckResult, ScanResult
from agent.evidence.store import EvidenceStore, Limits
from agent.orders.outbox import Outbox
from agent.outbox import kinds
from agent.outbox.queue import Policy
from agent.outbox.reports import ReportQueues
from agent.protocol.incidents import IncidentReport
from agent.protocol.telemetry import Execution, ExecutionReport

KEY = Ed25519Key(bytes(range(64, 96)))
SITE = "crash-site"
#: A small spool so that overflow (oldest → dead letter) happens under the kills too.
LIMITS = Limits(spool_max_files=6, min_free_bytes=0)
LOG_POLICY = Policy("logs", max_files=1_000_000, overflow="refuse")


def main(state: Path, seed: int) -> None:
    completions = Outbox(state)
    reports = ReportQueues(state)
    # Durability, not the drop policies, is under test here: those kinds get room enough.
    # (Evidence keeps its small spool: its overflow moves items to the dead-letter folder.)
    reports.telemetry.queue.policy = Policy("telemetry", max_files=1_000_000)
    reports.reports.queue.policy = Policy("report", max_files=1_000_000)
    logs = kinds.log_queue(state, policy=LOG_POLICY)
    evidence = EvidenceStore(state, KEY, SITE, limits=LIMITS)
    print("READY", flush=True)
    n = 0
    while True:
        n += 1
        ident = seed * 1_000_000 + n
        kind = n % 5
        if kind == 0:
            completions.put(f"order-{ident}", {"success": True}, nonce=f"nonce-{ident}")
            print(f"ACK completion {ident}", flush=True)
        elif kind == 1:
            reports.enqueue_execution(ExecutionReport(
                site_id=SITE, reported_at="2026-05-20T15:00:00Z", execution=Execution(
                    execution_id="x", incident_id="i", runbook_id="r", hostname="h",
                    incident_type="t", duration_seconds=1.0, success=True, status="success",
                    confidence=1.0, resolution_level="L1", input_tokens=ident)))
            print(f"ACK telemetry {ident}", flush=True)
        elif kind == 2:
            reports.enqueue_incident(IncidentReport(
                site_id=SITE, host_id="h", incident_type="t", severity="low",
                details={"n": ident}))
            print(f"ACK report {ident}", flush=True)
        elif kind == 3:
            logs.put(kinds.dumps({"cursor": str(ident), "lines": 1, "body": {}}), key="batch")
            print(f"ACK logs {ident}", flush=True)
        else:
            host = "192.168.88.20"
            scan = ScanResult("linux", datetime.now(UTC), [host],
                              [CheckResult("linux_firewall", host, "pass")])
            [bundle] = evidence.record_scan(scan)
            print(f"ACK evidence {bundle.bundle_id}", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
