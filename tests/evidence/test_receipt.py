"""A 2xx from the submit endpoint counts as delivery only when its body is a receipt naming the
bundle (evidence.md §4.3, §6): a broken proxy's 200 (garbage, ``{}``, an HTML page) or a receipt
for another bundle is a failed delivery — kept, retried with backoff, visible in ``status``."""

from __future__ import annotations

import json

import pytest
from tests.evidence.conftest import SITE, Env

from agent.protocol.evidence import evidence_submit_path, evidence_verify_path

OTHER = json.dumps({"bundle_id": "0190c8a4-0000-7000-8000-000000000000",
                    "bundle_hash": "ab" * 32, "chain_position": 7, "prev_hash": "",
                    "current_hash": "", "ots_status": "pending", "ots_submitted": False}).encode()
HTML = b"<html><body><h1>200 OK</h1>Welcome to nginx!</body></html>"


@pytest.mark.parametrize("body", [b"\x00\xffgarbage", b"{}", HTML, OTHER, b"",
                                  b'{"bundle_id": null}'],
                         ids=["garbage", "empty_object", "html", "other_bundle", "empty", "null"])
async def test_bad_200_is_not_delivery(env: Env, body: bytes) -> None:
    [bundle] = env.store.record_scan(env.scan())
    env.cc.inject_fault(evidence_submit_path(SITE), status=200, body=body,
                        content_type="text/html" if body is HTML else "application/json")
    assert await env.sub.drain(force=True) == 0
    assert env.store.queue.pending() == 1  # the spool file is kept
    assert not [x for x in env.journal() if x["event"] == "delivered"]
    st = env.sub.status()
    assert st["bad_receipts"] == 1 and st["last_error"] == "bad_receipt"
    assert st["last_bad_receipt"]
    assert env.sub.next_drain > env.clock()  # backing off like any transient failure
    assert await env.sub.drain() == 0  # not due yet
    env.clock.t = env.sub.next_drain
    assert await env.sub.drain() == 1  # the server answers properly now
    [line] = [x for x in env.journal() if x["event"] == "delivered"]
    assert line["bundle_id"] == bundle.bundle_id and line["chain_position"] == 1
    assert env.store.queue.pending() == 0 and env.sub.status()["last_error"] is None
    assert [e["bundle_id"] for e in env.cc.evidence(SITE)] == [bundle.bundle_id]


async def test_receipt_naming_the_bundle_by_hash_only_is_delivery(env: Env) -> None:
    [bundle] = env.store.record_scan(env.scan())
    env.cc.inject_fault(evidence_submit_path(SITE), status=201,
                        body=json.dumps({"bundle_hash": bundle.bundle_hash}).encode())
    assert await env.sub.drain(force=True) == 1
    assert env.sub.status()["bad_receipts"] == 0


async def test_bad_probe_200_is_not_delivery(env: Env) -> None:
    """The delivery probe's 200 must name the bundle too; a proxy's page means 'unknown'."""
    [bundle] = env.store.record_scan(env.scan())
    env.cc.inject_fault(evidence_submit_path(SITE), status=502)
    assert await env.sub.drain(force=True) == 0  # ambiguous: the probe runs next time
    env.cc.inject_fault(evidence_verify_path(SITE, bundle.bundle_id), status=200, body=HTML)
    env.cc.inject_fault(evidence_submit_path(SITE), status=200, body=b"{}")
    assert await env.sub.drain(force=True) == 0
    assert env.store.queue.pending() == 1 and env.sub.status()["bad_receipts"] == 2  # both
    assert await env.sub.drain(force=True) == 1
    assert [x["via"] for x in env.journal() if x["event"] == "delivered"] == ["submit"]


async def test_bad_receipts_count_toward_poison(env: Env) -> None:
    """A head that only ever gets unusable 200s is dead-lettered by the poison rule once the
    bundle behind it is delivered."""
    env.store.record_scan(env.scan())
    env.store.record_scan(env.scan(host="192.168.88.21"))
    path = evidence_submit_path(SITE)
    for _ in range(3):
        env.cc.inject_fault(path, status=200, body=HTML, content_type="text/html")
    assert await env.sub.drain(force=True) == 0
    assert await env.sub.drain(force=True) == 0
    assert await env.sub.drain(force=True) == 2
    [reason] = (env.state / "evidence_dead_letter").glob("*.reason.json")
    assert json.loads(reason.read_text())["reason"] == "poison_5xx"
    assert env.sub.status()["bad_receipts"] == 3
