"""A full disk (a real 1 MiB tmpfs): a clear error, nothing corrupted, recovery when space returns."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from tests.smalldisk import fill

from agent.crypto import Ed25519Key
from agent.evidence.bundle import CheckResult, ScanResult
from agent.evidence.store import EvidenceStore, Limits
from agent.evidence.verify import load_dir, verify_chain
from agent.outbox import QueueWriteError, kinds
from agent.outbox.queue import Policy

KEY = Ed25519Key(bytes(range(64, 96)))


def test_queue_disk_full_then_recovers(tmpfs: Path) -> None:
    q = kinds.log_queue(tmpfs / "state", policy=Policy("logs", max_files=10_000, overflow="refuse"))
    first = q.put(b'{"n": 0}', key="batch")
    filler = fill(tmpfs)
    payload = json.dumps({"n": 1, "pad": "x" * 50_000}).encode()
    with pytest.raises(QueueWriteError, match="no space left"):
        q.put(payload, key="batch")
    assert [i.path for i in q.items()] == [first.path]  # nothing half-written became an item
    assert not [p for p in q.dir.iterdir() if p.name.startswith(".")]  # temp file removed
    assert json.loads(first.read()) == {"n": 0}
    os.unlink(filler)
    second = q.put(payload, key="batch")
    assert [i.path for i in q.items()] == [first.path, second.path]
    assert json.loads(second.read())["n"] == 1


def test_evidence_disk_full_refuses_cleanly_then_recovers(tmpfs: Path) -> None:
    state = tmpfs / "state"
    store = EvidenceStore(state, KEY, "site", limits=Limits(min_free_bytes=0))
    host = "192.168.88.20"

    def scan() -> ScanResult:
        return ScanResult("linux", "2026-05-20T14:57:00Z", [host],
                          [CheckResult("linux_firewall", host, "pass")])

    assert len(store.record_scan(scan())) == 1
    filler = fill(tmpfs)
    assert store.record_scan(scan()) == []
    assert store.last_error is not None and "no space left" in store.last_error
    assert store.head_seq == 1 and store.queue.pending() == 1
    os.unlink(filler)
    assert [b.chain_seq for b in store.record_scan(scan())] == [2]
    restarted = EvidenceStore(state, KEY, "site", limits=Limits(min_free_bytes=0))
    assert restarted.head_seq == 2
    records, _, bad = load_dir(state / "evidence_cache")
    result = verify_chain(records, journal=load_dir(state / "evidence_chain")[1])
    assert not bad and result.valid and result.head_seq == 2


def test_free_space_floor_refuses_creation(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path, KEY, "site", free_bytes=lambda: 10)
    scan = ScanResult("linux", "2026-05-20T14:57:00Z", ["h"], [])
    assert store.record_scan(scan) == [] and store.creation_refused == 1
    lines = [json.loads(x) for x in (tmp_path / "evidence_chain/journal-000001.jsonl")
             .read_text().splitlines()]
    assert lines[-1]["event"] == "creation_refused" and lines[-1]["reason"] == "disk_floor"
