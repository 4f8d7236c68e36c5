"""Creation, spool drain and chain against the local Central Command (real HTTP): delivery with
chain positions, 409 and the live server's 500 duplicate quirk (settled by the probe), permanent
refusals dead-lettered, stale bundles, poison head, recovery, and ``evidence verify``."""

from __future__ import annotations

import json

import pytest
from tests.evidence.conftest import KEY, SITE, Env

from agent.cli import main as cli
from agent.crypto import Ed25519Key
from agent.evidence.bundle import ScanResult
from agent.evidence.head import Head, write_head
from agent.evidence.store import EvidenceStore, Limits
from agent.evidence.submit import EvidenceSubmitter
from agent.protocol.evidence import evidence_submit_path


async def test_chain_delivered_in_order_with_positions(env: Env) -> None:
    env.down = True
    for i in range(5):
        env.store.record_scan(env.scan(fail=i % 2 == 0))
        assert await env.sub.drain(force=True) == 0  # server down: all kept
    assert env.store.queue.pending() == 5
    env.down = False
    assert await env.sub.drain(force=True) == 5
    stored = env.cc.evidence(SITE)
    assert [e["chain_position"] for e in stored] == [1, 2, 3, 4, 5]
    assert all(e["hash_matches"] for e in stored)
    seqs = [json.loads(e["signed_data"])["chain_seq"] for e in stored]
    assert seqs == [1, 2, 3, 4, 5]
    delivered = [x for x in env.journal() if x["event"] == "delivered"]
    assert [x["chain_position"] for x in delivered] == [1, 2, 3, 4, 5]
    assert env.store.queue.pending() == 0


async def test_duplicate_409_and_500_quirk_settled(env: Env) -> None:
    [b1] = env.store.record_scan(env.scan())
    status, _, _ = await env.request("POST", evidence_submit_path(SITE), b1.body, False)
    assert status == 200  # delivered, but the agent crashed before recording it
    assert await env.sub.drain(force=True) == 1  # 409: accepted as delivered
    assert env.journal()[-1]["via"] == "409"
    env.cc.evidence_duplicate_status = 500
    [b2] = env.store.record_scan(env.scan())
    await env.request("POST", evidence_submit_path(SITE), b2.body, False)
    assert await env.sub.drain(force=True) == 0  # 500: ambiguous, kept
    assert env.store.queue.pending() == 1
    assert await env.sub.drain(force=True) == 1  # the probe says it is stored
    assert env.journal()[-1]["via"] == "probe"
    assert len(env.cc.evidence(SITE)) == 2


async def test_refusals_dead_lettered_and_stale_not_sent(env: Env) -> None:
    env.store.record_scan(env.scan())
    env.cc.inject_fault(evidence_submit_path(SITE), status=422, body=b'{"detail":"bad"}')
    env.store.record_scan(env.scan())
    assert await env.sub.drain(force=True) == 2
    env.clock.t += 3600  # checked_at now too old for the server
    env.store.record_scan(ScanResult("linux", "2026-05-20T14:00:00Z", ["h"], []))
    assert await env.sub.drain(force=True) == 1
    reasons = sorted(json.loads(p.read_text())["reason"]
                     for p in (env.state / "evidence_dead_letter").glob("*.reason.json"))
    assert reasons == ["http_422", "too_old"]
    assert len(env.cc.evidence(SITE)) == 1
    events = [x["event"] for x in env.journal()]
    assert events.count("dead_lettered") == 2


async def test_poison_head_is_dead_lettered_after_three_drains(env: Env) -> None:
    env.store.record_scan(env.scan())
    env.store.record_scan(env.scan(host="192.168.88.21"))
    path = evidence_submit_path(SITE)
    env.cc.inject_fault(path, status=502, count=1)
    assert await env.sub.drain(force=True) == 0
    env.cc.inject_fault(path, status=502, count=1)
    assert await env.sub.drain(force=True) == 0
    env.cc.inject_fault(path, status=502, count=1)
    assert await env.sub.drain(force=True) == 2  # head poisoned, next one delivered
    assert [e["chain_position"] for e in env.cc.evidence(SITE)] == [1]
    [reason] = (env.state / "evidence_dead_letter").glob("*.reason.json")
    assert json.loads(reason.read_text())["reason"] == "poison_5xx"


async def test_bearer_401_stops_and_keeps(env: Env) -> None:
    env.store.record_scan(env.scan())
    env.key = "wrong"
    assert await env.sub.drain(force=True) == 0 and env.store.queue.pending() == 1
    assert not (env.state / "evidence_dead_letter").exists() or not list(
        (env.state / "evidence_dead_letter").iterdir())


async def test_recovery_adopts_unjournaled_spool_file_and_verify_cli(
        env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    for _ in range(3):
        env.store.record_scan(env.scan())
    # A crash between the spool write and the journal line: drop the last "created" line.
    seg = env.state / "evidence_chain/journal-000001.jsonl"
    lines = seg.read_text().splitlines()
    seg.write_text("\n".join(lines[:-1]) + '\n{"event":"crea')  # and a torn line
    # ... so the head record, written after the journal line, still names seq 2
    second = json.loads(lines[-2])
    assert second["seq"] == 2
    write_head(seg.parent, Head(2, second["bundle_hash"], KEY.public_hex))
    restarted = EvidenceStore(env.state, KEY, SITE, limits=Limits(min_free_bytes=0),
                              clock=env.clock)
    assert restarted.head_seq == 3 and restarted.recovered == 1
    assert cli(["evidence", "verify", str(env.state)]) == 0
    out = capsys.readouterr().out
    assert "chain valid: 3 bundles, head seq 3" in out
    # Tamper with the middle bundle's signed bytes: the verifier names it.
    [mid] = (env.state / "evidence_cache").glob("bundle-000000000002-*.json")
    doc = json.loads(mid.read_text())
    doc["signed_data"] = doc["signed_data"].replace('"pass"', '"fail"')
    mid.write_text(json.dumps(doc))
    assert cli(["evidence", "verify", str(env.state), "--json"]) == 1
    res = json.loads(capsys.readouterr().out)
    assert res["valid"] is False and res["first_bad_seq"] == 2 and res["error"] == "bad_signature"


async def test_key_change_is_journaled_and_verifies(env: Env) -> None:
    env.store.record_scan(env.scan())
    other = Ed25519Key(bytes(range(1, 33)))
    store2 = EvidenceStore(env.state, other, SITE, limits=Limits(min_free_bytes=0),
                           clock=env.clock)
    store2.record_scan(env.scan())
    assert [x["event"] for x in env.journal()] == ["created", "key_changed", "created"]
    assert cli(["evidence", "verify", str(env.state), "-q"]) == 0


async def test_backoff_429_honours_retry_after_and_ambiguous_doubles(env: Env) -> None:
    env.store.record_scan(env.scan())
    answers = [(429, b"", 120.0), (503, b"", None), (503, b"", None)]
    calls: list[str] = []

    async def request(method: str, path: str, body: bytes | None,
                      probe: bool) -> tuple[int, bytes, float | None]:
        calls.append(method)
        return (404, b"", None) if probe else answers.pop(0)

    sub = EvidenceSubmitter(env.store, request, clock=env.clock)
    assert await sub.drain() == 0 and sub.last_error == "http_429"
    assert sub.next_drain == env.clock() + 120 and sub.status()["ambiguous_pending"] == 0
    env.clock.t = sub.next_drain
    assert await sub.drain() == 0 and sub.next_drain == env.clock() + 10
    assert sub.status()["ambiguous_pending"] == 1
    assert await sub.drain() == 0 and calls == ["POST", "POST"]  # backing off
    env.clock.t = sub.next_drain
    assert await sub.drain() == 0 and sub.failures == 3 and sub.next_drain == env.clock() + 20
    assert calls == ["POST", "POST", "GET", "POST"]  # the probe first, then the POST
    assert env.store.queue.pending() == 1
