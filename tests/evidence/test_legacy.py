"""The Go daemon's cache files in ``evidence_cache/`` (``bundle-<yyyymmdd>-<hhmmss.mmm>.json``,
not chained): drained first, oldest first, with the same outcome rules, journaled as ``legacy``
and never part of the chain (evidence.md §5) — against the local Central Command."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
from tests.evidence.conftest import KEY, SITE, Env

from agent.cli import main as cli
from agent.evidence.store import EvidenceStore, Limits
from agent.evidence.submit import EvidenceSubmitter
from agent.protocol.evidence import evidence_submit_path


def go_body(env: Env, *, bundle_id: str, host: str, age_s: float = 120,
            bad_signature: bool = False) -> bytes:
    """A body as the Go daemon cached it: signed ``{site_id, checked_at, checks, summary}``."""
    checked_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(env.clock() - age_s))
    checks = [{"check": "linux_firewall", "status": "pass", "hostname": host,
               "hipaa_control": "164.312(e)(1)"}]
    summary = {"total_checks": 1, "compliant": 1, "non_compliant": 0, "scanned_hosts": 1,
               "scan_method": "deterministic", "confidence": 1}
    signed = json.dumps({"site_id": SITE, "checked_at": checked_at, "checks": checks,
                         "summary": summary}, separators=(",", ":"))
    sig = KEY.sign(signed.encode()).hex()
    if bad_signature:
        sig = sig[:-2] + ("00" if sig[-2:] != "00" else "11")
    return json.dumps({"site_id": SITE, "bundle_id": bundle_id, "checked_at": checked_at,
                       "checks": checks, "summary": summary,
                       "bundle_hash": hashlib.sha256(signed.encode()).hexdigest(),
                       "agent_signature": sig, "agent_public_key": KEY.public_hex,
                       "signed_data": signed}).encode()


def put_legacy(env: Env, name: str, body: bytes) -> Path:
    """A Go bundle left in the cache; the Go daemon never runs beside the agent, so the agent
    finds them when it starts (:meth:`Env.reopen`)."""
    path = env.state / "evidence_cache" / name
    path.write_bytes(body)
    return path


async def test_legacy_bundles_drained_first_oldest_first_never_chained(
        env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    [chained] = env.store.record_scan(env.scan())
    newer = put_legacy(env, "bundle-20260520-145930.250.json",
                       go_body(env, bundle_id="go-newer", host="192.168.88.31"))
    refused = put_legacy(env, "bundle-20260520-145900.500.json",
                         go_body(env, bundle_id="go-refused", host="192.168.88.32",
                                 bad_signature=True))
    older = put_legacy(env, "bundle-20260520-145800.000.json",
                       go_body(env, bundle_id="go-older", host="192.168.88.30"))
    env.reopen()
    assert env.store.pending() == 4 and env.store.health()["evidence_spool_pending"] == 4
    assert await env.sub.drain(force=True) == 4
    stored = env.cc.evidence(SITE)
    # Oldest Go bundle first, then the newer one, then our chain; the refused one is kept.
    assert [e["bundle_id"] for e in stored] == ["go-older", "go-newer", chained.bundle_id]
    assert [e["chain_position"] for e in stored] == [1, 2, 3]
    assert not older.exists() and not newer.exists() and not refused.exists()
    dead = env.state / "evidence_dead_letter"
    assert (dead / refused.name).exists()
    reason = json.loads((dead / "bundle-20260520-145900.500.reason.json").read_text())
    assert reason["reason"] == "http_401"
    lines = env.journal()
    legacy = [x for x in lines if x["event"] == "legacy"]
    assert [(x["file"], x["outcome"]) for x in legacy] == [
        (older.name, "delivered"), (refused.name, "dead_lettered"), (newer.name, "delivered")]
    assert legacy[1]["reason"] == "http_401" and legacy[0]["via"] == "submit"
    # Never part of the chain: no created/delivered/dead_lettered lines for them.
    chain = [x for x in lines if x["event"] != "legacy"]
    assert [(x["event"], x["seq"]) for x in chain] == [("created", 1), ("delivered", 1)]
    assert env.store.head_seq == 1
    assert env.store.health() == {"evidence_spool_pending": 0, "evidence_spool_bytes": 0,
                                  "evidence_dead_letter": 1,
                                  "evidence_creation_refused_total": 0}
    # The chain still verifies with the Go bundle in the dead-letter folder (not chained).
    assert cli(["evidence", "verify", str(env.state), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["valid"]


async def test_legacy_ambiguous_stops_probe_settles_and_stale_dead_lettered(env: Env) -> None:
    stale = put_legacy(env, "bundle-20260520-130000.000.json",
                       go_body(env, bundle_id="go-stale", host="h1", age_s=7200))
    fresh = put_legacy(env, "bundle-20260520-145900.000.json",
                       go_body(env, bundle_id="go-fresh", host="h2"))
    env.reopen()
    env.store.record_scan(env.scan())
    path = evidence_submit_path(SITE)
    env.cc.inject_fault(path, status=502, count=1)
    # The stale one is dead-lettered unsent; the fresh one hits a 502: the drain stops there.
    assert await env.sub.drain(force=True) == 1
    assert not stale.exists() and fresh.exists() and env.store.queue.pending() == 1
    assert env.sub.status()["ambiguous_pending"] == 1
    # It was stored after all; the delivery probe settles it (no resend), then the chain goes.
    env.cc.evidence_duplicate_status = 500
    status, _, _ = await env.request("POST", path, fresh.read_bytes(), False)
    assert status == 200
    assert await env.sub.drain(force=True) == 2
    events = [(x.get("file"), x.get("outcome"), x.get("via"), x.get("reason"))
              for x in env.journal() if x["event"] == "legacy"]
    assert events == [(stale.name, "dead_lettered", None, "too_old"),
                      (fresh.name, "delivered", "probe", None)]
    assert env.cc.evidence(SITE)[0]["bundle_id"] == "go-fresh"
    assert len(env.cc.evidence(SITE)) == 2


async def test_legacy_delivered_but_not_unlinked_is_removed_at_restart(env: Env) -> None:
    f = put_legacy(env, "bundle-20260520-145900.000.json",
                   go_body(env, bundle_id="go-1", host="h1"))
    env.reopen()
    env.store.journal_legacy(env.store.legacy_items()[0], "delivered", via="submit")
    # A crash after the journal line, before the unlink: the restart finishes the job.
    restarted = EvidenceStore(env.state, KEY, SITE, limits=Limits(min_free_bytes=0),
                              clock=env.clock)
    assert not f.exists() and restarted.pending() == 0
    sub = EvidenceSubmitter(restarted, env.request, clock=env.clock)
    assert await sub.drain(force=True) == 0
    assert env.cc.evidence(SITE) == []


def test_legacy_names_are_not_spool_items(tmp_path: Path) -> None:
    cache = tmp_path / "evidence_cache"
    cache.mkdir(mode=0o700)
    (cache / "bundle-20260520-145900.000.json").write_text("{}")
    (cache / "bundle-2026052-145900.000.json").write_text("{}")  # neither: ignored
    store = EvidenceStore(tmp_path, KEY, SITE, limits=Limits(min_free_bytes=0))
    assert store.queue.items() == []
    assert [i.path.name for i in store.legacy_items()] == ["bundle-20260520-145900.000.json"]


def test_no_legacy_bundle_at_start_means_none_are_looked_for_again(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path, KEY, SITE, limits=Limits(min_free_bytes=0))
    assert store.legacy_items() == []
    (tmp_path / "evidence_cache" / "bundle-20260520-145900.000.json").write_text("{}")
    assert store.legacy_items() == []  # the Go daemon does not run beside the agent
    restarted = EvidenceStore(tmp_path, KEY, SITE, limits=Limits(min_free_bytes=0))
    assert len(restarted.legacy_items()) == 1
