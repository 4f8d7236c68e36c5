"""The chain head is kept twice (journal + ``evidence_head.json``): losing or damaging either one
recovers the head from the other (or from the spool); damaged files are quarantined, never
deleted; losing both restarts the chain only through a signed ``chain_restart`` record that the
offline verifier reports as a restart. Never a silent restart at seq 1."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.evidence.conftest import KEY, SITE, Env

from agent.cli import main as cli
from agent.evidence.bundle import ZERO_HASH, Bundle
from agent.evidence.head import HEAD_FILE, QUARANTINE_DIR
from agent.evidence.store import EvidenceStore, Limits
from agent.evidence.verify import BundleRecord, verify_chain

GARBAGE = b"\x00\x17\xfe not json at all \xff\n\x01\x02"


def reopen(env: Env) -> EvidenceStore:
    """A restart of the agent: a new store on the same state directory."""
    env.store = EvidenceStore(env.state, KEY, SITE, limits=Limits(min_free_bytes=0),
                              clock=env.clock)
    env.sub.store = env.store
    return env.store


def chain_dir(env: Env) -> Path:
    return env.state / "evidence_chain"


def segment(env: Env) -> Path:
    return chain_dir(env) / "journal-000001.jsonl"


def head_file(env: Env) -> Path:
    return chain_dir(env) / HEAD_FILE


def empty(p: Path) -> None:
    p.write_bytes(b"")


def garble(p: Path) -> None:
    p.write_bytes(GARBAGE)


def delete(p: Path) -> None:
    p.unlink()


DAMAGE: dict[str, Callable[[Path], None]] = {"emptied": empty, "garbled": garble,
                                              "deleted": delete}


def server_chain(env: Env) -> list[BundleRecord]:
    return [BundleRecord(e["signed_data"], e["agent_signature"], e["bundle_hash"],
                         e["agent_public_key"], "central") for e in env.cc.evidence(SITE)]


async def three_delivered(env: Env) -> Bundle:
    for i in range(3):
        env.store.record_scan(env.scan(host=f"192.168.88.{20 + i}"))
    assert await env.sub.drain(force=True) == 3  # the spool is empty: no bundle names the head
    bundles = [json.loads(e["signed_data"]) for e in env.cc.evidence(SITE)]
    assert [b["chain_seq"] for b in bundles] == [1, 2, 3]
    return Bundle(bundle_id=bundles[2]["bundle_id"], scan_type="linux", checked_at="",
                  chain_seq=3, prev_bundle_hash="", signed_data="",
                  bundle_hash=env.cc.evidence(SITE)[2]["bundle_hash"], agent_signature="",
                  public_key=KEY.public_hex, body=b"")


def quarantined(env: Env) -> list[Path]:
    q = chain_dir(env) / QUARANTINE_DIR
    return sorted(q.iterdir()) if q.is_dir() else []


@pytest.mark.parametrize("what", ["journal", "head"])
@pytest.mark.parametrize("how", list(DAMAGE))
async def test_one_copy_lost_head_recovered_from_the_other(
        env: Env, what: str, how: str, caplog: pytest.LogCaptureFixture) -> None:
    third = await three_delivered(env)
    target = segment(env) if what == "journal" else head_file(env)
    before = target.read_bytes()
    DAMAGE[how](target)
    store = reopen(env)
    assert (store.head_seq, store.head_hash) == (3, third.bundle_hash)
    assert store.chain_restarts == 0 and store.status()["chain_restarts"] == 0
    if how != "deleted":  # the damaged file is kept in quarantine, never deleted
        [q] = quarantined(env)
        assert q.read_bytes() == (GARBAGE if how == "garbled" else b"")
    if what == "journal":
        assert store.status()["head_source"] == "head_record"
        assert any(r.levelno == logging.ERROR for r in caplog.records)
    else:
        assert json.loads(head_file(env).read_text())["seq"] == 3  # rewritten from the journal
    assert before  # (the file existed)
    # the next bundle continues the chain, and survives another restart
    [b4] = store.record_scan(env.scan())
    assert (b4.chain_seq, b4.prev_bundle_hash) == (4, third.bundle_hash)
    store = reopen(env)
    assert (store.head_seq, store.head_hash) == (4, b4.bundle_hash)
    assert store.chain_restarts == 0
    assert await env.sub.drain(force=True) == 1
    res = verify_chain(server_chain(env))
    assert res.valid and res.head_seq == 4
    assert cli(["evidence", "verify", str(env.state), "-q"]) == 0


@pytest.mark.parametrize("how", list(DAMAGE))
async def test_both_lost_restarts_explicitly(env: Env, how: str,
                                             caplog: pytest.LogCaptureFixture,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    await three_delivered(env)
    DAMAGE[how](segment(env))
    DAMAGE[how](head_file(env))
    caplog.clear()
    store = reopen(env)
    assert store.chain_restarts == 1
    st = store.status()
    assert st["head_source"] == "chain_restart" and st["last_chain_restart"]["first_seq"] == 1
    assert st["last_chain_restart"]["last_known_head"] == "unknown"
    assert "restarted" in (st["last_error"] or "")
    assert [r for r in caplog.records
            if r.levelno == logging.ERROR and "chain_restart" in r.getMessage()]
    [restart] = [x for x in env.journal() if x["event"] == "chain_restart"]
    assert restart["last_known_head"] == "unknown" and restart["first_seq"] == 1
    [b] = store.record_scan(env.scan())
    assert b.chain_seq == 1 and b.prev_bundle_hash == restart["restart_hash"] != ZERO_HASH
    # another restart of the agent: no second chain_restart, the chain goes on
    store = reopen(env)
    assert store.chain_restarts == 1 and (store.head_seq, store.head_hash) == (1, b.bundle_hash)
    [b2] = store.record_scan(env.scan())
    assert (b2.chain_seq, b2.prev_bundle_hash) == (2, b.bundle_hash)
    assert await env.sub.drain(force=True) == 2
    # offline verification with the journal: a restart, neither valid nor corrupt
    assert cli(["evidence", "verify", str(env.state)]) == 1
    out = capsys.readouterr().out
    assert "RESTART before seq 1" in out and "chain RESTARTED" in out and "INVALID" not in out
    journal = env.journal()
    res = verify_chain(server_chain(env), journal=journal)  # old part 1-3, new part 1-2
    assert not res.valid and res.error == "chain_restart" and res.first_bad_seq == 1
    assert res.summary()["restarted"] is True and res.head_seq == 2
    assert all(v.status == "ok" for v in res.verdicts) and len(res.verdicts) == 5
    # a forged restart record is corruption
    forged = [dict(x, last_known_head={"seq": 9}) if x["event"] == "chain_restart" else x
              for x in journal]
    forged = [dict(x, signed_data=x["signed_data"].replace('"unknown"', '"9"'))
              if x["event"] == "chain_restart" else x for x in forged]
    bad = verify_chain(server_chain(env), journal=forged)
    assert not bad.valid and bad.error == "bad_restart_signature"


async def test_damaged_journal_names_the_last_head_it_still_shows(env: Env) -> None:
    third = await three_delivered(env)
    lines = segment(env).read_bytes().splitlines(keepends=True)
    first_created = next(i for i, x in enumerate(lines) if b'"created"' in x)
    lines[first_created] = GARBAGE  # one damaged line; the rest still reads
    segment(env).write_bytes(b"".join(lines))
    delete(head_file(env))
    store = reopen(env)
    assert store.chain_restarts == 1
    last = store.status()["last_chain_restart"]
    assert last["first_seq"] == 4 and last["last_known_head"]["seq"] == 3
    assert last["last_known_head"]["bundle_hash"] == third.bundle_hash
    assert quarantined(env) and store.status()["journal_damage"]
    [b4] = store.record_scan(env.scan())
    assert b4.chain_seq == 4 and b4.prev_bundle_hash != third.bundle_hash


async def test_both_lost_head_taken_from_the_spool(env: Env) -> None:
    env.down = True
    bundles = [b for _ in range(2) for b in env.store.record_scan(env.scan())]
    garble(segment(env))
    delete(head_file(env))
    store = reopen(env)
    assert store.chain_restarts == 0 and store.status()["head_source"] == "spool"
    assert (store.head_seq, store.head_hash) == (2, bundles[-1].bundle_hash)
    [b3] = store.record_scan(env.scan())
    assert (b3.chain_seq, b3.prev_bundle_hash) == (3, bundles[-1].bundle_hash)
    env.down = False
    assert await env.sub.drain(force=True) == 3
    assert verify_chain(server_chain(env)).valid


async def test_fresh_state_dir_starts_at_genesis_without_restart(env: Env) -> None:
    assert env.store.chain_restarts == 0 and env.store.head_seq == 0
    assert json.loads(head_file(env).read_text())["seq"] == 0
    store = reopen(env)
    assert store.chain_restarts == 0
    [b] = store.record_scan(env.scan())
    assert (b.chain_seq, b.prev_bundle_hash) == (1, ZERO_HASH)


async def test_empty_chain_dir_is_an_explicit_restart(env: Env) -> None:
    """Nothing tells an empty ``evidence_chain/`` from a deleted journal and head record."""
    fresh = env.state.parent / "older"
    (fresh / "evidence_chain").mkdir(parents=True)
    store = EvidenceStore(fresh, KEY, SITE, limits=Limits(min_free_bytes=0), clock=env.clock)
    assert store.chain_restarts == 1 and store.head_seq == 0
    assert store.status()["last_chain_restart"]["last_known_head"] == "unknown"


async def test_stale_head_record_after_a_crash_is_rewritten(env: Env) -> None:
    """A crash after the journal line and before the head record: the journal is ahead."""
    [b1] = env.store.record_scan(env.scan())
    stale = head_file(env).read_bytes()
    [b2] = env.store.record_scan(env.scan())
    head_file(env).write_bytes(stale)
    store = reopen(env)
    assert (store.head_seq, store.head_hash) == (2, b2.bundle_hash) and store.chain_restarts == 0
    assert json.loads(head_file(env).read_text())["bundle_hash"] == b2.bundle_hash
    assert not quarantined(env) and b1.chain_seq == 1


async def test_restart_seen_in_an_export_verified_elsewhere(
        env: Env, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env.down = True
    [b1] = env.store.record_scan(env.scan())
    delete(segment(env))
    delete(head_file(env))
    [spooled] = (env.state / "evidence_cache").glob(f"*{b1.bundle_id}*")
    spooled.rename(env.state / "moved-away.json")  # no spool either: nothing names the head
    store = reopen(env)
    assert store.chain_restarts == 1
    store.record_scan(env.scan())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert cli(["evidence", "export", str(elsewhere / "export.jsonl"),
                "--state-dir", str(env.state)]) == 0
    capsys.readouterr()
    assert cli(["evidence", "verify", str(elsewhere), "--json"]) == 1
    res = json.loads(capsys.readouterr().out)
    assert res["error"] == "chain_restart" and res["restarted"] is True
    assert res["restarts"][0]["last_known_head"] == "unknown"


async def test_corruption_after_a_restart_is_still_corruption(env: Env) -> None:
    await three_delivered(env)
    delete(segment(env))
    delete(head_file(env))
    store = reopen(env)
    store.record_scan(env.scan())
    store.record_scan(env.scan())
    assert await env.sub.drain(force=True) == 2
    records = server_chain(env)
    assert verify_chain(records, journal=env.journal()).error == "chain_restart"
    last = records[-1]
    tampered = BundleRecord(last.signed_data.replace('"pass"', '"fail"'), last.agent_signature,
                            last.bundle_hash, last.public_key, "tampered")
    res = verify_chain([*records[:-1], tampered], journal=env.journal())
    assert not res.valid and res.error == "bad_signature" and res.first_bad_seq == 2
