"""Fail closed without blocking: a payload that cannot be scrubbed is not sent, stays queued, is
dead-lettered after a bounded number of tries, and the items behind it still drain — for each
kind of queued payload. A signed payload whose re-scrub would change a byte is refused."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

import msgspec
import pytest
from tests.checkin.conftest import SITE, Env

from agent.central.faults import CapturedRequest
from agent.crypto.keys import Ed25519Key
from agent.evidence.bundle import CheckResult, ScanResult
from agent.logship.source import FileSource
from agent.outbox.queue import UNSENDABLE_TRIES
from agent.phi import egress as egress_mod
from agent.phi.egress import EgressError, VerbatimChanged, egress
from agent.phi.scrubber import Scrubber
from agent.protocol.evidence import EvidenceSubmit
from agent.protocol.incidents import IncidentReport
from agent.scan.threats import SecEvent
from agent.timefmt import format_rfc3339
from agent.uplink import UplinkRefused, routes
from agent.wiring import Options

POISON = "POISON-PILL"


@pytest.fixture
def poison_scrubber(monkeypatch: pytest.MonkeyPatch) -> None:
    """Scrubbing fails for any payload holding the poison marker (as a broken scanner would)."""
    real = egress_mod.scrub_strings

    def scrub_strings(strings: Sequence[str], scrubber: Scrubber) -> list[str]:
        if any(POISON in s for s in strings):
            raise RuntimeError("scanner failure")
        return real(strings, scrubber)

    monkeypatch.setattr(egress_mod, "scrub_strings", scrub_strings)


def _poison_file(path: Path) -> None:
    """Plant the marker in a queued file (it was scrubbed when queued; it breaks at send time)."""
    data = path.read_bytes().replace(b"MARK", POISON.encode())
    assert POISON.encode() in data
    path.write_bytes(data)


def _sent(captured: list[CapturedRequest], path: str) -> list[bytes]:
    return [c.body for c in captured if c.path_qs.split("?")[0] == path]


async def test_reports_queue_item_that_cannot_be_scrubbed(env: Env, poison_scrubber: None) -> None:
    captured = env.cc.capture_requests()
    w = env.wired()
    try:
        reports = w.reports
        q = reports.queues.reports.queue
        bad = reports.queues.enqueue_incident(IncidentReport(
            site_id=SITE, host_id="h1", incident_type="linux_firewall", severity="high",
            details={"note": "MARK"}))
        _poison_file(bad.path)
        reports.queues.enqueue_incident(IncidentReport(
            site_id=SITE, host_id="h2", incident_type="linux_firewall", severity="high"))
        for attempt in range(1, UNSENDABLE_TRIES + 1):
            reports.after_checkin()
            await reports.run_once()
            assert all(POISON.encode() not in b for b in _sent(captured, "/incidents"))
            if attempt < UNSENDABLE_TRIES:
                assert [i.path.name for i in q.items()] == [bad.path.name]  # kept
        assert len(_sent(captured, "/incidents")) == 1  # the one behind it went, once
        assert q.pending() == 0 and [p.name for p in q.dead_letters()] == [bad.path.name]
        reason = json.loads((q.dead_dir / f"{bad.path.name[:-5]}.reason.json").read_text())
        assert reason["reason"] == "unsendable" and reason["attempts"] == UNSENDABLE_TRIES
        st = reports.status()["reports"]
        assert st["dead_letter_pending"] == 1 and st["dead_letter_by_reason"] == {"unsendable": 1}
    finally:
        await w.close()


async def test_order_completion_that_cannot_be_scrubbed(env: Env, poison_scrubber: None) -> None:
    captured = env.cc.capture_requests()
    w = env.wired()
    try:
        orders = w.orders
        outbox = orders.worker.outbox
        outbox.put("ORD-bad", {"success": False, "error_message": POISON})
        outbox.put("ORD-good", {"success": True, "result": {"ok": 1}})
        for _ in range(UNSENDABLE_TRIES):
            await outbox.drain(orders._post, force=True)
        paths = [c.path_qs for c in captured]
        assert paths == ["/api/orders/ORD-good/complete"]  # (an order this server never issued)
        assert outbox.pending() == 0
        reasons = sorted(json.loads(p.read_text())["reason"]
                         for p in outbox.queue.dead_dir.glob("*.reason.json"))
        assert reasons == ["http_404", "unsendable"]
    finally:
        await w.close()


async def test_security_events_that_cannot_be_scrubbed(env: Env, poison_scrubber: None) -> None:
    captured = env.cc.capture_requests()
    w = env.wired()
    comp = w.checkin
    try:
        archive = w.scan.security_archive
        now = int(time.time())
        archive.enqueue("dc01", [SecEvent(4625, 1, now, "10.0.0.5", "MARK")])
        _poison_file(archive.drainer.queue.items()[0].path)
        archive.enqueue("dc01", [SecEvent(4625, 2, now, "10.0.0.5", "ok")])
        post = comp.uplink.poster(routes.SECURITY_EVENTS)
        for _ in range(UNSENDABLE_TRIES):
            await archive.drain(post, force=True)
        assert len(_sent(captured, "/api/security-events/archive")) == 1
        assert archive.pending() == 0 and len(archive.drainer.queue.dead_letters()) == 1
    finally:
        await w.close()


async def test_log_batch_that_cannot_be_scrubbed(env: Env, tmp_path: Path,
                                                 poison_scrubber: None) -> None:
    captured = env.cc.capture_requests()
    journal = tmp_path / "journal.json"
    journal.touch()
    w = env.wired(Options(own_mac="", log_source=FileSource(journal)))
    try:
        ship = w.logship
        ship.shipper.batch_size = 1
        now = int(time.time() * 1e6)
        journal.write_text("\n".join(json.dumps(
            {"__REALTIME_TIMESTAMP": str(now + i), "_SYSTEMD_UNIT": "x.service", "PRIORITY": "6",
             "MESSAGE": msg, "__CURSOR": f"c{i}"}) for i, msg in enumerate(["MARK", "fine"])) + "\n")
        # the first batch is queued but not accepted (the server is "down" for this first tick)
        env.cc.inject_fault("/api/logs/ingest", status=503, count=1)
        await ship.run_once()
        queued = ship.shipper.queue.items()
        assert len(queued) == 1
        _poison_file(queued[0].path)
        for _ in range(UNSENDABLE_TRIES):
            ship.shipper.next_try = 0.0
            await ship.run_once()
        ingested = _sent(captured, "/api/logs/ingest")
        assert all(POISON.encode() not in b for b in ingested)
        assert any(b'"fine"' in b for b in ingested)
        assert ship.shipper.queue.pending() == 0 and len(ship.shipper.queue.dead_letters()) == 1
    finally:
        await w.close()


async def test_evidence_whose_signed_bytes_would_change_is_refused(env: Env) -> None:
    """A bundle signed over unscrubbed PHI (built by something that forgot to scrub first): the
    Uplink's re-scrub would change ``signed_data``, so it is never sent and never rewritten; the
    next bundle is delivered; after the bound the bad one is dead-lettered."""
    captured = env.cc.capture_requests()
    w = env.wired()
    try:
        evidence = w.evidence
        store = evidence.store
        scan = ScanResult(scan_type="linux", checked_at=format_rfc3339(time.time() - 60), hosts=["srv01"],
                          results=[CheckResult("linux_firewall", "srv01", "fail", actual="x")])
        await evidence.record_scan_async(scan)
        first = store.queue.items()[0]
        doc = msgspec.json.decode(first.read(), type=EvidenceSubmit)
        tampered_signed = doc.signed_data.replace('"x"', '"SSN 123-45-6789"')
        assert tampered_signed != doc.signed_data
        bad = msgspec.structs.replace(doc, signed_data=tampered_signed)
        first.path.write_bytes(msgspec.json.encode(bad))
        await evidence.record_scan_async(scan)
        for _ in range(UNSENDABLE_TRIES):
            evidence.trigger(force=True)
            await evidence.run_once()
        submits = [c for c in captured if c.path_qs.endswith("/submit")]
        assert len(submits) == 1 and b"123-45-6789" not in submits[0].body
        assert store.pending() == 0 and len(store.queue.dead_letters()) == 1
    finally:
        await w.close()


def test_verbatim_fields_are_checked_never_rewritten() -> None:
    key = Ed25519Key(bytes(range(32)))
    clean = EvidenceSubmit(site_id=SITE, bundle_id="b1", checked_at="t", checks=[], summary=None,  # type: ignore[arg-type]
                           bundle_hash="ab" * 32, agent_signature="cd" * 64,
                           agent_public_key=key.public_hex, signed_data='{"a":"clean"}')
    assert egress(clean, kind="evidence") is clean  # nothing to change: the same object
    dirty = msgspec.structs.replace(clean, signed_data='{"note":"SSN 123-45-6789"}')
    with pytest.raises(VerbatimChanged) as exc:
        egress(dirty, kind="evidence")
    assert exc.value.field == "signed_data" and isinstance(exc.value, EgressError)
    assert "123-45-6789" not in str(exc.value)


@pytest.mark.parametrize("pure", [False, True], ids=["native", "reference"])
def test_key_material_that_looks_like_phi_by_chance_is_sent_unchanged(pure: bool) -> None:
    """Key encodings that match the HOSTNAME rule by chance (a hex key starting ``bed4``, a base64
    one starting ``rm1620n/``): a checkin carrying one was refused, so ~1 appliance key in 4,000
    could never check in. Hex runs of 16+ digits are not hostnames (both scanners); a verbatim
    field holding key material is sent unchanged; one holding text is still refused."""
    from agent.phi import default_scrubber
    from agent.phi.scrubber import ReferenceScanner, Scrubber

    base = default_scrubber()
    scrubber = Scrubber(ReferenceScanner(), base.tokenizer) if pure else base
    hex_key = "bed4" + "0123456789abcdef" * 3 + "0123456789ab"
    assert scrubber.scrub(hex_key) == hex_key and scrubber.scrub(f"id {hex_key}.") == f"id {hex_key}."
    assert scrubber.scrub("BED4") != "BED4" and scrubber.scrub("bed-12") != "bed-12"
    b64 = "rm1620n/fGGtWtsOiZif3NkjSeN2rOJotb3F8Cyodxw="
    assert scrubber.scrub(b64) != b64  # the chance match the verbatim rule must tolerate
    clean = EvidenceSubmit(site_id=SITE, bundle_id="b1", checked_at="t", checks=[], summary=None,  # type: ignore[arg-type]
                           bundle_hash=hex_key, agent_signature="cd" * 64,
                           agent_public_key=b64, signed_data='{"a":"clean"}')
    sent = egress(clean, kind="evidence", scrubber=scrubber)
    assert sent.agent_public_key == b64 and sent.bundle_hash == hex_key
    named = msgspec.structs.replace(clean, agent_public_key="BED-4 John Smith")
    with pytest.raises(VerbatimChanged):
        egress(named, kind="evidence", scrubber=scrubber)


async def test_uplink_refuses_a_body_that_is_not_its_routes_type(env: Env) -> None:
    captured = env.cc.capture_requests()
    w = env.wired()
    comp = w.checkin
    try:
        with pytest.raises(UplinkRefused):
            await comp.uplink.send_encoded(routes.INCIDENTS, b'{"not": "an incident"}')
        with pytest.raises(UplinkRefused):
            await comp.uplink.send(routes.INCIDENTS, {"site_id": SITE})  # a dict, not a Struct
        assert captured == []
    finally:
        await w.close()


def test_scrubbing_is_idempotent_on_the_corpus(shared: Path) -> None:
    from agent.phi import default_scrubber

    lines = [json.loads(ln)["text"] for ln in (shared / "corpus" / "phi-dev.jsonl").open()]
    once = egress(lines, kind="test", scrubber=default_scrubber())
    assert egress(once, kind="test", scrubber=default_scrubber()) == once
    assert once == default_scrubber().scrub_many(lines)  # the first pass is the plain scrubber's
