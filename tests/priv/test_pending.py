"""Deferred completions across the restart (agent.update.pending): who decides, and what."""

from __future__ import annotations

import json
from pathlib import Path

from agent.update import pending

T = 1_900_000_000.0


def update(state: Path) -> None:
    pending.write_update(state, order_id="o-1", nonce="n-1", version="1.1.0", previous="1.0.0",
                         timeout_s=600, now=T)


def test_the_process_that_switched_does_not_decide(tmp_path: Path) -> None:
    update(tmp_path)
    assert pending.in_flight(tmp_path) == "an agent update is already in flight"
    assert pending.resolve(tmp_path, version="1.0.0", current_system="/s", started_at=T - 50,
                           now=T + 5) == []


def test_the_new_release_confirms_and_writes_the_verified_marker(tmp_path: Path) -> None:
    update(tmp_path)
    [res] = pending.resolve(tmp_path, version="1.1.0", current_system="/s", started_at=T + 3,
                            now=T + 10)
    assert res.success and res.order_id == "o-1" and res.nonce == "n-1"
    assert res.result["status"] == "update_confirmed"
    assert (tmp_path / ".update-verified").read_text() == "1.1.0"
    assert (tmp_path / "pending-update.json").exists()  # until the completion is queued
    res.settle(tmp_path)
    assert pending.in_flight(tmp_path) is None


def test_the_previous_release_after_a_rollback_fails_it_with_the_reason(tmp_path: Path) -> None:
    update(tmp_path)
    [res] = pending.resolve(tmp_path, version="1.0.0", current_system="/s", started_at=T + 90,
                            rollback_reason="the agent unit failed on release 1.1.0", now=T + 95)
    assert not res.success and res.error == ("update to 1.1.0 failed: running 1.0.0: the agent "
                                             "unit failed on release 1.1.0")
    assert not (tmp_path / ".update-verified").exists()


def test_past_the_deadline_even_the_old_process_fails_it(tmp_path: Path) -> None:
    update(tmp_path)
    [res] = pending.resolve(tmp_path, version="1.0.0", current_system="/s", started_at=T - 50,
                            now=T + 601)
    assert not res.success and "before the deadline" in (res.error or "")


def test_rebuild_from_the_new_generation_or_back_on_the_old_one(tmp_path: Path) -> None:
    pending.write_rebuild(tmp_path, order_id="r-1", nonce="n-2", previous_system="/nix/old",
                          flake_ref="github:jbouey/msp-flake#x", timeout_s=600, now=T)
    assert (tmp_path / ".pending-rebuild-order").read_text() == "r-1"  # the Go daemon's format
    assert json.loads((tmp_path / ".rebuild-in-progress").read_text())["previous_system"] == \
        "/nix/old"
    assert pending.resolve(tmp_path, version="1.0.0", current_system="/nix/old",
                           started_at=T - 5, now=T + 1) == []
    [back] = pending.resolve(tmp_path, version="1.0.0", current_system="/nix/old",
                             started_at=T + 200, now=T + 201)
    assert not back.success and "rolled back" in (back.error or "")
    [new] = pending.resolve(tmp_path, version="1.0.0", current_system="/nix/new",
                            started_at=T - 5, now=T + 1)
    assert new.success and new.result["system"] == "/nix/new"
    assert (tmp_path / ".rebuild-verified").exists()
    new.settle(tmp_path)
    assert pending.in_flight(tmp_path) is None


def test_an_unreadable_marker_is_dropped(tmp_path: Path) -> None:
    (tmp_path / "pending-update.json").write_text("{garbled")
    assert pending.resolve(tmp_path, version="1.0.0", current_system="/s", started_at=T) == []
    assert pending.in_flight(tmp_path) is None
