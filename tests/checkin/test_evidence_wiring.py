"""The checkin's evidence wiring against the local Central Command over TLS: peer bundle hashes
in a response become witness attestations in the next checkin (kept on disk across a restart
until a 200), a successful checkin triggers the spool drain, and ``daemon_health`` carries the
evidence and completion-outbox figures (central-api.md §6.3, §6.4; evidence.md §6, §8)."""

from __future__ import annotations

import time

import pytest
from tests.checkin.conftest import SITE, Env

from agent.bus import Figures
from agent.crypto import verify_ed25519
from agent.evidence.bundle import CheckResult, ScanResult
from agent.evidence.store import Limits
from agent.protocol import CHECKIN_PATH
from agent.runtime.supervisor import Supervisor
from agent.wiring import Options

pytestmark = pytest.mark.asyncio

PEERS = [{"bundle_id": f"peer-{i}", "bundle_hash": f"{i:064x}", "source_appliance": "sib-1",
          "source_public_key": "ab" * 32} for i in range(1, 4)]


def scan(host: str) -> ScanResult:
    checked = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
    return ScanResult("linux", checked, [host],
                      [CheckResult("linux_firewall", host, "pass", hipaa_control="164.312(e)(1)")])


async def test_peer_hashes_become_attestations_in_the_next_checkin(env: Env) -> None:
    env.cc.set_directives(SITE, peer_bundle_hashes=PEERS)
    w = env.wired()
    comp = w.checkin
    try:
        assert await comp.run_once()  # the response carries the peers: counter-signed, queued
        assert len(comp.witness.queue) == 3
        assert env.cc.witness_attestations() == []
    finally:
        await w.close()
    env.cc.set_directives(SITE, peer_bundle_hashes=[])
    # A restart before the next checkin: the queue is on disk.
    w = env.wired()
    comp = w.checkin
    try:
        assert [a.bundle_id for a in comp.witness.queue] == ["peer-1", "peer-2", "peer-3"]
        # The next checkin fails (5xx): the attestations stay queued.
        env.cc.inject_fault(CHECKIN_PATH, status=503, count=1)
        assert not await comp.run_once()
        assert len(comp.witness.queue) == 3
        assert await comp.run_once()
        assert comp.witness.queue == []
    finally:
        await w.close()
    got = env.cc.witness_attestations()
    assert sorted(w["bundle_id"] for w in got) == ["peer-1", "peer-2", "peer-3"]
    appliance = env.cc.checkins(SITE)[0]["appliance_id"]
    for w in got:
        assert w["witness_appliance"] == appliance
        assert w["witness_public_key"] == comp.evidence.public_hex
        assert w["source_appliance"] == "sib-1"
        assert verify_ed25519(comp.evidence.public_key, w["bundle_hash"].encode("ascii"),
                              bytes.fromhex(w["witness_signature"]))
    # Once confirmed, a restart does not send them again.
    w = env.wired()
    comp = w.checkin
    try:
        assert comp.witness.queue == []
    finally:
        await w.close()


async def test_successful_checkin_drains_the_spool_and_reports_health(env: Env) -> None:
    w = env.wired(Options(own_mac="", evidence_limits=Limits(min_free_bytes=0)))
    comp, evidence = w.checkin, w.evidence
    sup = Supervisor()
    evidence.install(sup)
    try:
        # Created while nothing triggers a drain (the store directly: no submit-at-once).
        [bundle] = evidence.store.record_scan(scan("192.168.88.20"))
        assert evidence.store.pending() == 1
        assert await comp.run_once()
        task = sup.jobs["evidence"].task
        assert task is not None  # the checkin's success started the drain job
        await task
        assert evidence.store.pending() == 0
        [stored] = env.cc.evidence(SITE)
        assert stored["bundle_id"] == bundle.bundle_id and stored["chain_position"] == 1
        health = env.cc.checkins(SITE)[0]["daemon_health"]
        assert health["evidence_spool_pending"] == 1  # sent before the drain ran
        assert health["evidence_spool_bytes"] == len(bundle.body)
        assert health["evidence_dead_letter"] == 0
        assert health["evidence_creation_refused_total"] == 0
        assert health["completion_outbox_pending"] == 0
        # The next checkin reports the drained spool.
        assert await comp.run_once()
        if sup.jobs["evidence"].task is not None:
            await sup.jobs["evidence"].task
        health = env.cc.checkins(SITE)[1]["daemon_health"]
        assert health["evidence_spool_pending"] == 0 and health["evidence_spool_bytes"] == 0
    finally:
        await w.close()


async def test_a_failing_health_provider_does_not_fail_the_checkin(env: Env) -> None:
    def broken() -> dict[str, int]:
        raise RuntimeError("boom")

    figures = Figures()
    figures.add(broken)
    figures.add(lambda: {"evidence_dead_letter": 7, "not_a_field": 1})
    comp = env.component(figures=figures)
    try:
        assert await comp.run_once()
    finally:
        await comp.close()
    health = env.cc.checkins(SITE)[0]["daemon_health"]
    assert health["evidence_dead_letter"] == 7 and "not_a_field" not in health
