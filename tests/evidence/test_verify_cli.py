"""``python -m agent evidence verify`` as a subprocess, on a state directory the agent really
produced (the demo with ``--keep``): the journal's own chain is verified with or without the
bundle bodies, bodies are checked against their journal entries, and the verdicts have distinct
exit codes (0 valid, 1 invalid with the first bad seq, 2 nothing to verify / unusable input)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import clean_env, run_agent

from agent.crypto import Ed25519Key
from agent.evidence.bundle import sign, summary


@pytest.fixture(scope="module")
def demo_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The state directory of one real demo run (kept), shared read-only by the tests."""
    root = tmp_path_factory.mktemp("demo")
    r = run_agent("demo", "--keep", "--json", env=clean_env(TMPDIR=str(root)), timeout=120)
    assert r.returncode == 0, r.stderr
    state = Path(json.loads(r.stdout)["state_dir"])
    assert state.is_relative_to(root)
    return state


@pytest.fixture
def state(demo_state: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "state"
    shutil.copytree(demo_state, copy, ignore=shutil.ignore_patterns("agent.lock", "run"))
    return copy


def journal_path(state: Path) -> Path:
    [seg] = sorted((state / "evidence_chain").glob("journal-*.jsonl"))
    return seg


def journal(state: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in journal_path(state).read_text().splitlines()]


def write_journal(state: Path, lines: list[dict[str, Any]]) -> None:
    journal_path(state).write_text(
        "".join(json.dumps(x, sort_keys=True, separators=(",", ":")) + "\n" for x in lines))


def created(state: Path) -> list[dict[str, Any]]:
    return [x for x in journal(state) if x["event"] == "created"]


def spool(state: Path) -> list[Path]:
    return sorted((state / "evidence_cache").glob("bundle-*.json"))


def verify(*args: str) -> tuple[int, str, dict[str, Any]]:
    text = run_agent("evidence", "verify", *args)
    js = run_agent("evidence", "verify", *args, "--json")
    assert js.returncode == text.returncode, (text.stdout, js.stdout)
    return text.returncode, text.stdout + text.stderr, json.loads(js.stdout) if js.stdout else {}


def test_a_state_the_agent_produced_is_valid_with_and_without_bodies(state: Path) -> None:
    made = created(state)
    bodies = spool(state)
    assert len(made) >= 3 and bodies  # some delivered (bodies gone), some still spooled
    code, out, doc = verify("--state-dir", str(state))
    assert code == 0, out
    head = made[-1]
    assert f"chain valid: {len(made)} bundles, head seq {head['seq']}, head hash " \
           f"{head['bundle_hash']}" in out
    summary_line = out.splitlines()[-1]
    assert summary_line.startswith(f"checked: {len(made)} journal entries linked; "
                                   f"{len(bodies)} bodies checked ({len(bodies)} spool)")
    gone = sorted({x["seq"] for x in made} - {json.loads(json.loads(p.read_text())["signed_data"])
                                               ["chain_seq"] for p in bodies})
    assert doc["valid"] is True and doc["verdict"] == "valid"
    assert doc["journal_entries_linked"] == len(made) and doc["bodies_checked"] == len(bodies)
    assert doc["body_not_available"] == gone and gone
    # the same state given as PATH (not through --state-dir)
    assert verify(str(state))[0] == 0
    # with every body gone the journal alone still proves the chain
    for p in bodies:
        p.unlink()
    code, out, doc = verify("--state-dir", str(state))
    assert code == 0 and doc["bodies_checked"] == 0
    assert doc["body_not_available"] == [x["seq"] for x in made]


def test_an_altered_journal_link_is_found_without_its_body(state: Path) -> None:
    lines = journal(state)
    target = [x for x in lines if x["event"] == "created"][1]
    assert not any(f"bundle-{target['seq']:012d}-" in p.name for p in spool(state))  # body gone
    target["prev_bundle_hash"] = "ab" * 32
    write_journal(state, lines)
    code, out, doc = verify("--state-dir", str(state))
    assert code == 1
    assert f"chain INVALID: first bad seq {target['seq']}: prev_hash_mismatch" in out
    assert doc["valid"] is False and doc["first_bad_seq"] == target["seq"]
    assert doc["error"] == "prev_hash_mismatch" and "abababab" in doc["why"]


def test_a_removed_journal_line_is_found(state: Path) -> None:
    lines = journal(state)
    target = [x for x in lines if x["event"] == "created"][1]
    write_journal(state, [x for x in lines if x is not target])
    code, out, doc = verify("--state-dir", str(state))
    assert code == 1 and doc["first_bad_seq"] == target["seq"] and doc["error"] == "missing_seq"
    assert "a journal line was removed" in out


def test_a_removed_last_journal_line_is_found_by_the_head_record(state: Path) -> None:
    lines = journal(state)
    last = [x for x in lines if x["event"] == "created"][-1]
    for p in spool(state):  # its body too, so nothing but the head record remembers it
        if f"bundle-{last['seq']:012d}-" in p.name:
            p.unlink()
    write_journal(state, [x for x in lines if x is not last])
    code, _, doc = verify("--state-dir", str(state))
    assert code == 1 and doc["first_bad_seq"] == last["seq"] and doc["error"] == "missing_seq"
    assert "head record names seq" in doc["why"]


def test_a_swapped_body_is_found(state: Path) -> None:
    """A body replaced by another one for the same seq, properly signed with the same key and
    correctly linked: only the journal entry tells it is not the bundle that was created."""
    target = spool(state)[0]
    doc = json.loads(target.read_text())
    obj = json.loads(doc["signed_data"])
    obj["checks"][0]["status"] = "pass" if obj["checks"][0]["status"] != "pass" else "fail"
    if obj["checks"][0]["status"] == "fail":
        obj["checks"][0].setdefault("expected", "x")
        obj["checks"][0].setdefault("actual", "y")
    obj["summary"] = summary(obj["checks"])
    key = Ed25519Key((state / "keys" / "signing.key").read_bytes())
    target.write_bytes(sign(obj, key).body)
    code, out, res = verify("--state-dir", str(state))
    assert code == 1 and res["first_bad_seq"] == obj["chain_seq"]
    assert res["error"] == "journal_mismatch" and "swapped" in res["why"]
    assert re.search(rf"BAD seq {obj['chain_seq']} .* journal_mismatch", out)


def test_a_key_change_without_a_key_changed_line_is_found(state: Path) -> None:
    lines = journal(state)
    target = [x for x in lines if x["event"] == "created"][2]
    target["public_key"] = Ed25519Key(bytes(range(1, 33))).public_hex
    write_journal(state, lines)
    code, _, doc = verify("--state-dir", str(state))
    assert code == 1 and doc["first_bad_seq"] == target["seq"]
    assert doc["error"] == "key_discontinuity"


def test_central_commands_copies_are_checked_against_the_journal(state: Path,
                                                                 tmp_path: Path) -> None:
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    bodies = spool(state)
    for p in bodies:
        doc = json.loads(p.read_text())
        (downloads / f"{doc['bundle_id']}.json").write_text(json.dumps(doc))
        p.unlink()
    code, out, doc = verify(str(downloads), "--state-dir", str(state))
    assert code == 0, out
    assert doc["bodies_by_source"] == {"path": len(bodies)}
    assert f"{len(bodies)} {'body' if len(bodies) == 1 else 'bodies'} checked " \
           f"({len(bodies)} path)" in out
    # the same copies as one JSON list (rows as Central Command stores them)
    rows = tmp_path / "rows"
    rows.mkdir()
    (rows / "copies.json").write_text(json.dumps(
        [json.loads(p.read_text()) for p in sorted(downloads.iterdir())]))
    code, out, doc = verify(str(rows), "--state-dir", str(state))
    assert code == 0 and doc["bodies_checked"] == len(bodies), out
    # a tampered copy is caught
    first = sorted(downloads.iterdir())[0]
    doc = json.loads(first.read_text())
    doc["signed_data"] = doc["signed_data"].replace('"linux"', '"LINUX"', 1) \
        .replace('"windows"', '"WINDOWS"', 1)
    first.write_text(json.dumps(doc))
    code, out, res = verify(str(downloads), "--state-dir", str(state))
    assert code == 1 and res["error"] == "bad_signature"


def test_nothing_to_verify_and_unusable_input_exit_2(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, doc = verify("--state-dir", str(empty))
    assert code == 2 and "nothing to verify" in out and doc["verdict"] == "nothing"
    code, out, _ = verify(str(empty), "--state-dir", str(tmp_path / "nowhere"))
    assert code == 2 and "nothing to verify" in out
    r = run_agent("evidence", "verify", str(tmp_path / "missing"))
    assert r.returncode == 2 and "no such file or directory" in r.stderr
    r = run_agent("evidence", "verify", "--state-dir", str(tmp_path / "missing"))
    assert r.returncode == 2 and "no such directory" in r.stderr
    not_evidence = tmp_path / "notes.jsonl"
    not_evidence.write_text('{"hello": 1}\n')
    code, out, _ = verify(str(not_evidence), "--state-dir", str(tmp_path / "nowhere"))
    assert code == 2 and "nothing to verify" in out


def test_signature_batch_gives_the_single_verdicts() -> None:
    """The chain's signatures go through the batch verifier: same verdict as one by one, for a
    chain of one key with one forged and one truncated signature among many."""
    import os

    from agent.crypto import Ed25519Key, verify_ed25519
    from agent.evidence.verify import verify_signatures

    key = Ed25519Key(os.urandom(32))
    batch = [(key.public_key, b"bundle %d" % i, key.sign(b"bundle %d" % i)) for i in range(40)]
    pk, msg, sig = batch[7]
    batch[7] = (pk, msg, sig[:63] + bytes([sig[63] ^ 1]))
    batch[20] = (batch[20][0], batch[20][1], batch[20][2][:40])
    got = verify_signatures(batch)
    assert got == [verify_ed25519(*item) for item in batch]
    assert got.count(False) == 2 and not got[7] and not got[20]
