"""The agent's outbound queues: one :class:`~agent.outbox.queue.DurableQueue` per kind, with the
directory, file names, bounds and overflow policy its spec fixes.

=============  =================================  ========  =====  ===============================
kind           directory (file names)              files     age    overflow (always logged)
=============  =================================  ========  =====  ===============================
completion     ``completion_outbox/`` (ns-key)      10,000    7 d    oldest → dead-letter
evidence       ``evidence_cache/`` (bundle-seq-id)  20,000    —      oldest → dead-letter
                                                   256 MiB          (``spool_overflow``)
telemetry      ``telemetry_queue/telem_<ns>.json``  200       24 h   oldest dropped (ERROR)
report         ``report_outbox/<ns>-<kind>.json``   5,000     7 d    coalesce superseded incident
                                                                    reports, then drop oldest
logs           ``log_outbox/<ns>-batch.json``       20        —      refuse: the shipper stops
                                                                    reading (journald keeps them)
=============  =================================  ========  =====  ===============================

Dead letters of a kind live in ``<directory>_dead_letter/`` (evidence: ``evidence_dead_letter/``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from agent.outbox.naming import NsNaming, SeqNaming
from agent.outbox.queue import DurableQueue, Item, Policy

DAY = 86400.0
MiB = 1024 * 1024

COMPLETION_DIR = "completion_outbox"
EVIDENCE_DIR = "evidence_cache"
EVIDENCE_DEAD_DIR = "evidence_dead_letter"
TELEMETRY_DIR = "telemetry_queue"
REPORT_DIR = "report_outbox"
LOG_DIR = "log_outbox"

COMPLETION = Policy("completion", max_files=10_000, max_age_s=7 * DAY,
                    overflow="dead_letter_oldest")
EVIDENCE = Policy("evidence", max_files=20_000, max_bytes=256 * MiB, overflow="dead_letter_oldest",
                  dead_letter_max_bytes=1024 * MiB)
TELEMETRY = Policy("telemetry", max_files=200, max_age_s=1 * DAY, overflow="drop_oldest",
                   expire_to="drop")
REPORT = Policy("report", max_files=5000, max_age_s=7 * DAY, overflow="drop_oldest")
LOGS = Policy("logs", max_files=20, overflow="refuse")

#: File names per queue (the default is NsNaming()).
EVIDENCE_NAMING = SeqNaming()
TELEMETRY_NAMING = NsNaming(prefix="telem_", width=0, keyed=False)

Clock = Callable[[], float]


def completion_queue(state_dir: Path, *, clock: Clock = time.time) -> DurableQueue:
    return DurableQueue(state_dir / COMPLETION_DIR, COMPLETION, clock=clock)


def evidence_queue(state_dir: Path, *, policy: Policy = EVIDENCE,
                   clock: Clock = time.time) -> DurableQueue:
    return DurableQueue(state_dir / EVIDENCE_DIR, policy, naming=EVIDENCE_NAMING,
                        dead_letter_dir=state_dir / EVIDENCE_DEAD_DIR, clock=clock)


def telemetry_queue(state_dir: Path, *, policy: Policy = TELEMETRY,
                    clock: Clock = time.time) -> DurableQueue:
    return DurableQueue(state_dir / TELEMETRY_DIR, policy,
                        naming=TELEMETRY_NAMING, clock=clock)


def report_queue(state_dir: Path, *, policy: Policy = REPORT,
                 clock: Clock = time.time) -> DurableQueue:
    return DurableQueue(state_dir / REPORT_DIR, policy, clock=clock, coalesce=coalesce_reports)


def log_queue(state_dir: Path, *, policy: Policy = LOGS, clock: Clock = time.time) -> DurableQueue:
    return DurableQueue(state_dir / LOG_DIR, policy, clock=clock)


def coalesce_reports(items: Sequence[Item]) -> list[Item]:
    """Incident reports that a newer incident report for the same ``(host_id, check_type)``
    supersedes, oldest first. An incident followed by a resolve for its pair is never chosen (a
    resolve must not be sent before the incident report it refers to)."""
    pairs: list[tuple[Item, str, tuple[str, str]]] = []
    for it in items:
        try:
            doc = it.json()
            pair = (str(doc["host_id"]), str(doc.get("check_type") or doc.get("incident_type")))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        pairs.append((it, it.key, pair))
    victims: list[Item] = []
    for i, (it, kind, pair) in enumerate(pairs):
        if kind != "incident":
            continue
        nxt = next(((k, p) for _, k, p in pairs[i + 1:] if p == pair), None)
        if nxt is not None and nxt[0] == "incident":
            victims.append(it)
    return victims


def dumps(obj: object) -> bytes:
    """Compact JSON bytes of a queued body."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
