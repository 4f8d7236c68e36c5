"""The nonce store: durable before execution, torn tails, retention, retry, Go migration."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
from tests.fakeclock import FakeClock

from agent.orders.journal import encode_line
from agent.orders.store import FILE_NAME, OrderRecords, StoreFull
from agent.orders.verify import Context, VerifiedOrder, verify

from . import signer

T0 = signer.NOW.timestamp()
CTX = Context.build(signer.APPLIANCE, signer.SITE, signer.NOW, [signer.KEY.public_hex])


def _verified(order_type: str = "nix_gc", **kw: object) -> VerifiedOrder:
    v = verify(signer.admin(order_type, **kw), CTX)  # type: ignore[arg-type]
    assert v.order is not None
    return v.order


def test_accept_is_on_disk_before_admit_returns(tmp_path: Path) -> None:
    store = OrderRecords(tmp_path, clock=FakeClock(T0))
    o = _verified()
    assert store.admit(o, signer.NOW).verdict == "accept"
    # A second process (the restarted agent) sees it without any close/flush.
    again = OrderRecords(tmp_path, clock=FakeClock(T0))
    assert again.admit(o, signer.NOW).verdict == "duplicate"
    assert [r.state for r in again.recover()] == ["executing"]
    replay = VerifiedOrder(**{**{f: getattr(o, f) for f in o.__slots__}, "order_id": "ORD-x"})
    assert again.admit(replay, signer.NOW).verdict == "replay"


def test_torn_tail_is_dropped_and_damage_elsewhere_skipped(tmp_path: Path) -> None:
    store = OrderRecords(tmp_path, clock=FakeClock(T0))
    a, b = _verified(), _verified()
    store.admit(a, signer.NOW)
    store.admit(b, signer.NOW)
    store.close()
    path = tmp_path / FILE_NAME
    data = path.read_bytes()
    path.write_bytes(data + encode_line({"nonce": "c" * 32})[:20])  # a write cut by a crash
    store = OrderRecords(tmp_path, clock=FakeClock(T0))
    assert set(store.records) == {a.nonce, b.nonce}
    assert path.read_bytes() == data  # the torn tail was truncated away
    lines = data.split(b"\n")
    assert b"header" in lines[0]
    path.write_bytes(lines[0] + b"\n" + lines[1][:-3] + b"xyz\n" + lines[2] + b"\n")  # a's line
    store = OrderRecords(tmp_path, clock=FakeClock(T0))
    assert set(store.records) == {b.nonce} and store.epoch is None  # a fresh install


@pytest.mark.parametrize("damage", ["emptied", "garbled", "deleted", "damaged line"])
def test_lost_records_set_a_durable_epoch(tmp_path: Path, damage: str) -> None:
    clock = FakeClock(T0)
    OrderRecords(tmp_path, clock=clock).close()  # the first start of a fresh install
    store = OrderRecords(tmp_path, clock=clock, established=True)
    assert store.epoch is None
    a, b = _verified(), _verified()
    assert store.admit(a, signer.NOW).verdict == "accept"
    store.admit(b, signer.NOW)
    store.close()
    path = tmp_path / FILE_NAME
    lines = path.read_bytes().split(b"\n")
    if damage == "emptied":
        path.write_bytes(b"")
    elif damage == "garbled":
        path.write_bytes(os.urandom(4096).replace(b"\n", b"."))
    elif damage == "deleted":
        path.unlink()
    else:
        path.write_bytes(lines[0] + b"\n" + lines[1][:-3] + b"xyz\n" + lines[2] + b"\n")
    clock.t = T0 + 60
    store = OrderRecords(tmp_path, clock=clock, established=True)
    assert store.epoch == T0 + 60 and store.summary()["epoch"]
    # The executed order, still valid, comes again: refused, not run a second time.
    assert store.admit(a, signer.NOW).verdict == "before_epoch"
    # The epoch survives restarts; an order created after it runs.
    store.close()
    clock.t = T0 + 120
    store = OrderRecords(tmp_path, clock=clock, established=True)
    assert store.epoch == T0 + 60
    assert store.admit(a, signer.NOW).verdict == "before_epoch"
    later = _verified(now=signer.NOW + timedelta(seconds=90))
    assert store.admit(later, signer.NOW + timedelta(seconds=90)).verdict == "accept"


def test_epoch_refusal_is_a_logged_failure(tmp_path: Path) -> None:
    store = OrderRecords(tmp_path, clock=FakeClock(T0 + 60), established=True)  # "deleted"
    o = signer.admin("nix_gc")
    ctx = Context.build(signer.APPLIANCE, signer.SITE, signer.NOW, [signer.KEY.public_hex])
    v = verify(o, ctx, store)
    assert v.text == "reject:before_epoch" and v.completion == "failure"


def test_retention_until_expiry_plus_skew_and_ack(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    store = OrderRecords(tmp_path, clock=clock)
    o = _verified(ttl=timedelta(minutes=10))
    store.admit(o, signer.NOW)
    store.finish(o.nonce, "succeeded", {"success": True})
    clock.t += 3600
    store.compact(force=True)
    assert o.nonce in store.records  # expired but its completion is not acknowledged yet
    store.acknowledge(o.nonce)
    assert o.nonce not in store.records
    assert o.nonce not in OrderRecords(tmp_path, clock=clock).records


def test_failed_and_acknowledged_fleet_order_may_run_again_after_an_hour(tmp_path: Path) -> None:
    store = OrderRecords(tmp_path, clock=FakeClock(T0))
    v = verify(signer.fleet("nix_gc"), CTX)
    assert v.order is not None
    o = v.order
    store.admit(o, signer.NOW)
    store.finish(o.nonce, "failed", {"success": False, "error_message": "x"})
    assert store.admit(o, signer.NOW + timedelta(hours=2)).verdict == "duplicate"  # not acked
    store.acknowledge(o.nonce)
    assert store.admit(o, signer.NOW + timedelta(minutes=30)).verdict == "duplicate"
    adm = store.admit(o, signer.NOW + timedelta(hours=1))
    assert adm.verdict == "accept" and adm.retry
    assert store.records[o.nonce].state == "executing"


def test_bounded(tmp_path: Path) -> None:
    store = OrderRecords(tmp_path, clock=FakeClock(T0), max_records=2)
    store.admit(_verified(), signer.NOW)
    store.admit(_verified(), signer.NOW)
    with pytest.raises(StoreFull):
        store.admit(_verified(), signer.NOW)


def test_compaction_keeps_the_file_small(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    store = OrderRecords(tmp_path, clock=clock)
    for _ in range(150):
        o = _verified(ttl=timedelta(minutes=1))
        store.admit(o, signer.NOW)
        store.finish(o.nonce, "succeeded", {"success": True})
        store.acknowledge(o.nonce)
    clock.t += 7200
    store.acknowledge(_admitted_and_finished(store))
    assert store.journal is not None and store.journal.lines < 450
    assert len(OrderRecords(tmp_path, clock=clock).records) <= 1


def _admitted_and_finished(store: OrderRecords) -> str:
    o = _verified()
    store.admit(o, signer.NOW)
    store.finish(o.nonce, "succeeded", {"success": True})
    return o.nonce


def test_go_daemon_nonces_are_imported_once(tmp_path: Path) -> None:
    o = _verified()
    (tmp_path / "used_nonces.json").write_text(json.dumps(
        {"nonces": {o.nonce: "2026-05-20T14:00:00Z", "f" * 32: "garbage"}}))
    store = OrderRecords(tmp_path, clock=FakeClock(T0))
    assert store.admit(o, signer.NOW).verdict == "replay"  # unknown order id: never re-run
    assert store.records[o.nonce].expires_at > signer.NOW.timestamp() + 6 * 86400
