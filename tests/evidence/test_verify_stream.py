"""``evidence verify`` streams: bodies are read lazily and checked in chunks (one signature batch
per chunk), with the same report as checking them all at once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import agent.evidence.verify as ev
from agent.crypto import Ed25519Key
from agent.evidence.bundle import CheckResult, ScanResult
from agent.evidence.store import EvidenceStore, Limits
from agent.evidence.verify import Body, iter_bodies, load_bodies, read_journal, verify_evidence

KEY = Ed25519Key(bytes(range(64, 96)))


@pytest.fixture
def state(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    t = [1_779_289_200.0]
    store = EvidenceStore(state, KEY, "site-a", limits=Limits(min_free_bytes=0),
                          clock=lambda: t[0])
    for i in range(11):
        t[0] += 60
        host = f"10.0.0.{i + 1}"
        store.record_scan(ScanResult("linux", "2026-05-20T14:59:00Z", [host],
                                     [CheckResult("linux_firewall", host, "pass")]))
    return state


def report(state: Path, bodies: Any) -> dict[str, Any]:
    journal, _ = read_journal(state / "evidence_chain")
    rep = verify_evidence(bodies, journal)
    return {**rep.summary(), "line": rep.summary_line(),
            "verdicts": [(v.seq, v.status, v.source) for v in rep.verdicts]}


def tamper(state: Path, seq: int) -> None:
    [path] = (state / "evidence_cache").glob(f"bundle-{seq:012d}-*.json")
    doc = json.loads(path.read_text())
    sig = bytearray(bytes.fromhex(doc["agent_signature"]))
    sig[5] ^= 1
    doc["agent_signature"] = sig.hex()
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize("bad_seq", [None, 5])
def test_chunks_give_the_report_of_one_batch(state: Path, bad_seq: int | None,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    if bad_seq is not None:
        tamper(state, bad_seq)
    whole = report(state, load_bodies(state / "evidence_cache", "spool")[0])
    batches: list[int] = []
    real = ev.verify_signatures

    def counting(batch: Any) -> list[bool]:
        batches.append(len(batch))
        return real(batch)

    monkeypatch.setattr(ev, "verify_signatures", counting)
    monkeypatch.setattr(ev, "CHUNK", 3)
    unreadable: list[str] = []
    chunked = report(state, iter_bodies(state / "evidence_cache", "spool", unreadable))
    assert chunked == whole and batches == [3, 3, 3, 2]
    if bad_seq is None:
        assert whole["verdict"] == "valid" and whole["head_seq"] == 11
    else:
        assert whole["verdict"] == "invalid" and whole["first_bad_seq"] == bad_seq
        assert whole["error"] == "bad_signature"


def test_bodies_are_read_as_they_are_checked(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pulled = [0]
    pulled_at_batch: list[int] = []

    def source() -> Iterator[Body]:
        for body in iter_bodies(state / "evidence_cache", "spool", []):
            pulled[0] += 1
            yield body

    real = ev.verify_signatures

    def watching(batch: Any) -> list[bool]:
        pulled_at_batch.append(pulled[0])
        return real(batch)

    monkeypatch.setattr(ev, "verify_signatures", watching)
    monkeypatch.setattr(ev, "CHUNK", 4)
    assert report(state, source())["verdict"] == "valid"
    assert pulled_at_batch == [4, 8, 11]  # never more than a chunk ahead


def test_a_bundle_from_two_sources_is_checked_once(state: Path, tmp_path: Path) -> None:
    export = tmp_path / "copies"
    export.mkdir()
    for p in sorted((state / "evidence_cache").glob("bundle-*.json"))[:4]:
        (export / p.name).write_bytes(p.read_bytes())
    unreadable: list[str] = []
    both = report(state, [*iter_bodies(state / "evidence_cache", "spool", unreadable),
                          *iter_bodies(export, "path", unreadable)])
    assert both["verdict"] == "valid" and len(both["verdicts"]) == 11
    assert "11 bodies checked (11 spool)" in both["line"]


def test_an_unreadable_file_met_while_streaming_is_reported(state: Path) -> None:
    [first, *_] = sorted((state / "evidence_cache").glob("bundle-*.json"))
    first.write_bytes(b"{not json")
    unreadable: list[str] = []
    journal, _ = read_journal(state / "evidence_chain")
    rep = verify_evidence(iter_bodies(state / "evidence_cache", "spool", unreadable), journal,
                          unreadable=unreadable)
    assert unreadable == [f"evidence_cache/{first.name}"]
    assert rep.verdict == "invalid" and rep.error == "unreadable" and rep.first_bad_seq == 1
    assert rep.not_checked[0] == f"evidence_cache/{first.name} (unreadable)"
