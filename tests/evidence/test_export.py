"""Operator tools (evidence.md §5.3): ``evidence export DEST``, ``evidence purge-exported`` and
``evidence verify EXPORT``, on real files under the state-directory lock."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main as cli
from agent.crypto import Ed25519Key
from agent.evidence.bundle import CheckResult, ScanResult
from agent.evidence.store import EvidenceStore, Limits
from agent.state import StateDir

KEY = Ed25519Key(bytes(range(64, 96)))
SITE = "lakeside-pediatrics"
NOW = 1_779_289_200.0
BUNDLE_KEYS = {"seq", "bundle_id", "state", "reason", "signed_data", "agent_signature",
               "agent_public_key", "bundle_hash"}


def make_store(state: Path) -> EvidenceStore:
    return EvidenceStore(state, KEY, SITE, limits=Limits(min_free_bytes=0), clock=lambda: NOW)


def scan(host: str) -> ScanResult:
    return ScanResult("linux", "2026-05-20T14:59:00Z", [host],
                      [CheckResult("linux_firewall", host, "pass", hipaa_control="164.312(e)(1)")])


def journal(state: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for p in sorted((state / "evidence_chain").glob("journal-*"))
            for x in p.read_text().splitlines()]


def dead_letter(store: EvidenceStore, seq: int, reason: str) -> None:
    [item] = [i for i in store.queue.items() if i.order == seq]
    store.queue.dead_letter(item, reason=reason, http_status=422, detail="refused")


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """Four bundles: seqs 1 and 2 dead-lettered, 3 and 4 in the spool."""
    state = tmp_path / "state"
    store = make_store(state)
    for i in range(4):
        store.record_scan(scan(f"192.168.88.{20 + i}"))
    dead_letter(store, 1, "http_422")
    dead_letter(store, 2, "too_old")
    return state


def test_export_writes_every_entry_and_the_journal(state: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "export.jsonl"
    before = journal(state)
    assert cli(["evidence", "export", str(dest), "--state-dir", str(state)]) == 0
    assert "exported 4 bundles (2 dead-letter, 2 spool)" in capsys.readouterr().out
    assert dest.stat().st_mode & 0o777 == 0o600
    lines = [json.loads(x) for x in dest.read_text().splitlines()]
    header, entries, copied = lines[0], lines[1:5], lines[5:]
    assert header["export"] == "msp-evidence-export/1" and header["bundles"] == 4
    assert all(set(e) == BUNDLE_KEYS for e in entries)
    assert [(e["seq"], e["state"], e["reason"]) for e in entries] == [
        (1, "dead_letter", "http_422"), (2, "dead_letter", "too_old"), (3, "spool", None),
        (4, "spool", None)]
    for e in entries:  # the exact bytes of the stored bodies
        [src] = [p for p in state.glob(f"evidence_*/bundle-{e['seq']:012d}-*.json")
                 if not p.name.endswith(".reason.json")]
        body = json.loads(src.read_text())
        assert e["signed_data"] == body["signed_data"] and e["bundle_id"] == body["bundle_id"]
        assert e["agent_signature"] == body["agent_signature"]
        assert e["bundle_hash"] == body["bundle_hash"]
        assert e["agent_public_key"] == KEY.public_hex
    assert copied == before  # a verbatim copy of the journal
    last = journal(state)[-1]
    assert last["event"] == "exported" and last["seqs"] == [1, 2, 3, 4]
    assert last["destination"] == str(dest)
    # Nothing was removed by the export.
    assert len(list((state / "evidence_dead_letter").glob("*.reason.json"))) == 2
    assert len(list((state / "evidence_cache").glob("bundle-*.json"))) == 2


def test_verify_accepts_an_export(state: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "export.jsonl"
    assert cli(["evidence", "export", str(dest), "--state-dir", str(state)]) == 0
    capsys.readouterr()
    # The export with the local data.
    assert cli(["evidence", "verify", str(dest), "--state-dir", str(state), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["valid"] and res["head_seq"] == 4
    # The export alone (another machine: no local state), with its copy of the journal.
    assert cli(["evidence", "verify", str(dest), "--state-dir", str(tmp_path / "nowhere"),
                "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["valid"] and res["head_seq"] == 4 and len(res["bundles"]) == 4
    # A tampered export is caught.
    lines = dest.read_text().splitlines()
    doc = json.loads(lines[3])
    doc["signed_data"] = doc["signed_data"].replace('"pass"', '"fail"')
    lines[3] = json.dumps(doc)
    dest.write_text("\n".join(lines) + "\n")
    assert cli(["evidence", "verify", str(dest), "--state-dir", str(tmp_path / "nowhere"),
                "--json"]) == 1
    res = json.loads(capsys.readouterr().out)
    assert res["first_bad_seq"] == 3 and res["error"] == "bad_signature"


def test_purge_deletes_only_exported_dead_letters(state: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "export.jsonl"
    assert cli(["evidence", "export", str(dest), "--state-dir", str(state)]) == 0
    # Dead-lettered after the export: must survive the purge.
    store = make_store(state)
    store.record_scan(scan("192.168.88.30"))
    dead_letter(store, 5, "http_403")
    assert cli(["evidence", "purge-exported", "--state-dir", str(state)]) == 0
    assert "purged 2 dead-letter entries (seqs 1, 2)" in capsys.readouterr().out
    dead = sorted(p.name for p in (state / "evidence_dead_letter").iterdir())
    assert len(dead) == 2 and all(n.startswith("bundle-000000000005-") for n in dead)
    assert len(list((state / "evidence_cache").glob("bundle-*.json"))) == 2  # spool untouched
    purged = journal(state)[-1]
    assert purged["event"] == "purged" and purged["seqs"] == [1, 2] and purged["operator"]
    # Only once per export.
    assert cli(["evidence", "purge-exported", "--state-dir", str(state)]) == 1
    assert "already purged" in capsys.readouterr().err
    # The local chain still verifies: 1 and 2 are "body not available" (journal only).
    assert cli(["evidence", "verify", "--state-dir", str(state), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["valid"] and res["head_seq"] == 5 and res["body_not_available"] == [1, 2]
    # With the export the whole chain is there again.
    assert cli(["evidence", "verify", str(dest), "--state-dir", str(state), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["valid"] and res["body_not_available"] == [] and len(res["bundles"]) == 5


def test_purge_refuses_when_the_export_changed_or_is_missing(
        state: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["evidence", "purge-exported", "--state-dir", str(state)]) == 1
    assert "no export recorded" in capsys.readouterr().err
    dest = tmp_path / "export.jsonl"
    assert cli(["evidence", "export", str(dest), "--state-dir", str(state)]) == 0
    dest.write_text(dest.read_text() + "{}\n")
    assert cli(["evidence", "purge-exported", "--state-dir", str(state)]) == 1
    assert "changed since it was exported" in capsys.readouterr().err
    assert len(list((state / "evidence_dead_letter").glob("*.reason.json"))) == 2
    # Moved off the appliance: the record of the last export decides.
    dest.unlink()
    assert cli(["evidence", "purge-exported", "--state-dir", str(state)]) == 0
    assert "no longer at its destination" in capsys.readouterr().out
    assert list((state / "evidence_dead_letter").iterdir()) == []


def test_tools_refuse_while_the_daemon_holds_the_lock(state: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "export.jsonl"
    held = StateDir(state)
    held.open()
    try:
        events = len(journal(state))
        assert cli(["evidence", "export", str(dest), "--state-dir", str(state)]) == 3
        assert cli(["evidence", "purge-exported", "--state-dir", str(state)]) == 3
        assert "stop the service" in capsys.readouterr().err
        assert not dest.exists() and len(journal(state)) == events
    finally:
        held.close()
    assert cli(["evidence", "export", str(dest), "--state-dir", str(state)]) == 0


def test_unparseable_dead_letter_is_exported_raw(state: Path, tmp_path: Path) -> None:
    dead = state / "evidence_dead_letter"
    (dead / "bundle-000000000009-junk.json").write_bytes(b"\x00not json")
    dest = tmp_path / "export.jsonl"
    assert cli(["evidence", "export", str(dest), "--state-dir", str(state)]) == 0
    entries = [json.loads(x) for x in dest.read_text().splitlines()[1:] if '"state"' in x]
    [junk] = [e for e in entries if e["seq"] == 9]
    assert junk["signed_data"] is None and junk["raw_base64"] == "AG5vdCBqc29u"
