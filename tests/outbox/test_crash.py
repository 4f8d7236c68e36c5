"""kill -9 at random points while a child appends to every outbox: after each restart every item
acknowledged before the kill is present exactly once (queue or dead-letter folder), every file
parses, and the evidence chain verifies end to end."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from agent.evidence.store import EvidenceStore
from agent.evidence.verify import load_dir, verify_chain
from agent.orders.outbox import Outbox
from agent.outbox import kinds
from agent.outbox.reports import ReportQueues

from .crashchild import KEY, LIMITS, LOG_POLICY, SITE

ROOT = Path(__file__).resolve().parents[2]
KILLS = 24


def _spawn(state: Path, seed: int) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTIFY_", "WATCHDOG_"))}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.Popen([sys.executable, "-m", "tests.outbox.crashchild", str(state), str(seed)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=env)


def _collect(child: subprocess.Popen[str], acks: list[tuple[str, str]]) -> None:
    assert child.stdout is not None
    for line in child.stdout:
        if line.endswith("\n") and line.startswith("ACK "):
            _, kind, ident = line.split()
            acks.append((kind, ident))


def _files(d: Path) -> list[Path]:
    return sorted(p for p in d.iterdir() if p.suffix in (".json", ".jsonl")) if d.is_dir() else []


def _present(state: Path) -> dict[str, Counter[str]]:
    """Restart (recovery runs in the constructors), then read every item back."""
    Outbox(state)
    ReportQueues(state)
    kinds.log_queue(state, policy=LOG_POLICY)
    EvidenceStore(state, KEY, SITE, limits=LIMITS)
    seen: dict[str, Counter[str]] = {k: Counter() for k in
                                     ("completion", "telemetry", "report", "logs", "evidence")}
    dirs = {"completion": ("completion_outbox", "completion_outbox_dead_letter"),
            "telemetry": ("telemetry_queue", "telemetry_queue_dead_letter"),
            "report": ("report_outbox", "report_outbox_dead_letter"),
            "logs": ("log_outbox", "log_outbox_dead_letter"),
            "evidence": ("evidence_cache", "evidence_dead_letter")}
    for kind, names in dirs.items():
        for name in names:
            for p in _files(state / name):
                doc = json.loads(p.read_bytes())  # every file parses
                if p.name.endswith(".reason.json"):
                    assert doc["reason"]
                    continue
                if kind == "completion":
                    seen[kind][doc["order_id"].removeprefix("order-")] += 1
                elif kind == "telemetry":
                    seen[kind][str(doc["execution"]["input_tokens"])] += 1
                elif kind == "report":
                    seen[kind][str(doc["details"]["n"])] += 1
                elif kind == "logs":
                    seen[kind][doc["cursor"]] += 1
                else:
                    seen[kind][doc["bundle_id"]] += 1
    for p in (state / "evidence_chain").glob("journal-*.jsonl"):
        for line in p.read_text().splitlines():
            json.loads(line)  # no torn line survives a restart
    return seen


def test_kill9_loses_no_acknowledged_item(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    acked: list[tuple[str, str]] = []
    for n in range(KILLS):
        child = _spawn(state, n + 1)
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "READY"
        acks: list[tuple[str, str]] = []
        reader = threading.Thread(target=_collect, args=(child, acks))
        reader.start()
        time.sleep(rng.uniform(0.02, 0.4))
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        reader.join()
        assert child.returncode == -signal.SIGKILL
        acked += acks
        seen = _present(state)
        for kind, ident in acked:
            assert seen[kind][ident] == 1, (kind, ident, seen[kind][ident])
        for kind, counter in seen.items():
            assert all(c == 1 for c in counter.values()), kind  # nothing duplicated
    assert {k for k, _ in acked} == {"completion", "telemetry", "report", "logs", "evidence"}
    records, _, unreadable = load_dir(state / "evidence_cache")
    dead, _, bad2 = load_dir(state / "evidence_dead_letter")
    jl = load_dir(state / "evidence_chain")[1]
    result = verify_chain(records + dead, journal=jl)
    assert not unreadable and not bad2
    assert result.valid, result.summary()
    assert result.head_seq == EvidenceStore(state, KEY, SITE, limits=LIMITS).head_seq
    assert sum(1 for k, _ in acked if k == "evidence") <= result.head_seq
