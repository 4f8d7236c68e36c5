"""Witness counter-signatures queued for the next checkin (evidence.md §8)."""

from __future__ import annotations

from pathlib import Path

from agent.crypto import Ed25519Key, verify_ed25519
from agent.evidence.witness import MAX_QUEUE, PER_CHECKIN, WitnessQueue
from agent.protocol import PeerBundleHash

KEY = Ed25519Key(bytes(range(64, 96)))


def peer(i: int, h: str | None = None) -> PeerBundleHash:
    return PeerBundleHash(bundle_id=f"b{i}", bundle_hash=h or f"{i:064x}", source_appliance="s-1")


def test_sign_queue_confirm() -> None:
    t = [1000.0]
    w = WitnessQueue(KEY, clock=lambda: t[0])
    assert w.offer([peer(1), peer(2, "XYZ"), peer(3, "ab" * 32)]) == 2  # bad hash skipped
    assert w.offer([peer(1)]) == 0  # attested within the hour
    batch = w.batch()
    a = batch[0]
    assert verify_ed25519(KEY.public_key, a.bundle_hash.encode(), bytes.fromhex(a.witness_signature))
    assert a.witness_public_key == KEY.public_hex
    w.offer([peer(9)])  # arrives while the checkin is in flight: stays queued
    w.confirm(batch)
    assert [x.bundle_id for x in w.queue] == ["b9"]
    t[0] += 3601
    assert w.offer([peer(1)]) == 1


def test_bounds() -> None:
    w = WitnessQueue(KEY)
    w.offer([peer(i) for i in range(MAX_QUEUE + 20)])
    assert len(w.queue) == MAX_QUEUE and w.dropped == 20 and w.queue[0].bundle_id == "b20"
    assert len(w.batch()) == PER_CHECKIN


def test_queue_survives_a_restart_until_confirmed(tmp_path: Path) -> None:
    t = [1000.0]
    w = WitnessQueue(KEY, clock=lambda: t[0], state_dir=tmp_path)
    w.offer([peer(i) for i in range(3)])
    path = tmp_path / "evidence_chain" / "witness_queue.json"
    assert path.stat().st_mode & 0o777 == 0o600
    batch = w.batch()  # carried by a checkin that never got its 200 (crash)
    restarted = WitnessQueue(KEY, clock=lambda: t[0], state_dir=tmp_path)
    assert [a.bundle_id for a in restarted.queue] == ["b0", "b1", "b2"]
    assert restarted.queue[0].witness_signature == batch[0].witness_signature
    assert restarted.offer([peer(1)]) == 0  # the attested-ids memory survived too
    sent = restarted.batch()
    restarted.offer([peer(7)])
    restarted.confirm(sent)  # the checkin returned 200
    again = WitnessQueue(KEY, clock=lambda: t[0], state_dir=tmp_path)
    assert [a.bundle_id for a in again.queue] == ["b7"]


def test_unreadable_queue_file_starts_empty(tmp_path: Path) -> None:
    (tmp_path / "evidence_chain").mkdir()
    (tmp_path / "evidence_chain" / "witness_queue.json").write_text("{not json")
    w = WitnessQueue(KEY, state_dir=tmp_path)
    assert w.queue == [] and w.offer([peer(1)]) == 1
    assert len(WitnessQueue(KEY, state_dir=tmp_path).queue) == 1
