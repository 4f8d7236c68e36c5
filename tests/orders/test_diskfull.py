"""The order path on a full disk (a real 1 MiB tmpfs filled to the last byte at each write).

The disk reserve keeps what was promised writable: the inbox record of delivered orders, the
nonce records and the completion of an order that ran. New orders are refused cleanly (not run,
nothing half-written, no crash) and run once space returns; nothing runs twice."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
from tests.smalldisk import fill

from agent.orders.inbox import FILE_NAME as INBOX_FILE
from agent.orders.journal import Journal
from agent.orders.store import FILE_NAME as RECORDS_FILE
from agent.orders.store import INTERRUPTED
from agent.state.reserve import FILE_NAME as RESERVE_FILE
from agent.state.reserve import DiskReserve

from . import signer
from .test_worker import Server, _recorder, make, run

POINTS = ["received", "inboxed", "admitted", "executed", "queued"]
RESERVE = 96 * 1024


def _state(mnt: Path) -> Path:
    state = mnt / "state"
    state.mkdir(mode=0o700)
    return state


def _intact(state: Path) -> None:
    """No damaged or torn line in either journal."""
    for name in (RECORDS_FILE, INBOX_FILE):
        j = Journal(state / name)
        list(j.load())
        assert (j.damaged, j.lost) == (0, 0), name


@pytest.mark.parametrize("point", POINTS)
async def test_disk_fills_at_each_write_then_space_returns(tmpfs: Path, point: str) -> None:
    state = _state(tmpfs)
    reserve = DiskReserve(state, RESERVE)
    assert reserve.ensure()
    effects, effect = _recorder()
    server = Server()
    w = make(state, server, handlers={"nix_gc": effect}, reserve=reserve)
    fillers: list[Path] = []

    def full_disk_at(name: str) -> None:
        if name == point and not fillers:
            fillers.append(fill(tmpfs))

    w.crash_point = full_disk_at
    a = signer.admin("nix_gc", {"older_than_days": 1})
    b = signer.admin("nix_gc", {"older_than_days": 2})
    await run(w, a, b)  # never raises

    assert fillers, "the disk was never filled"
    _intact(state)
    assert len(set(effects)) == len(effects)
    for o in (a, b):  # whatever ran has its completion posted; the rest waits
        ran = o["nonce"] in effects
        assert bool(server.bodies(o["order_id"])) == ran, (o["order_id"], point)
    if point != "queued":
        # The reserve paid for a write that was already promised; new work is refused.
        assert reserve.in_use and not (state / RESERVE_FILE).exists()
        assert effects != [a["nonce"], b["nonce"]]
        assert w.paused() and w.queue
    # else: posting A's completion removed its queue file, which freed the room B needed.

    os.unlink(fillers[0])  # space returns
    w.paused_until = 0.0  # the wait is over
    await w.process_pending()
    assert effects == [a["nonce"], b["nonce"]]
    assert not reserve.in_use and (state / RESERVE_FILE).stat().st_size == RESERVE
    for o in (a, b):
        assert server.bodies(o["order_id"]) == [{"success": True, "result": {"status": "done"}}]
    _intact(state)

    w.close()
    w = make(state, server, handlers={"nix_gc": effect}, reserve=DiskReserve(state, RESERVE))
    assert w.queue == [] and w.inbox.pending() == []
    await run(w, a, b)  # re-delivered: duplicates, never run again
    assert Counter(effects) == {a["nonce"]: 1, b["nonce"]: 1}
    w.close()


async def test_restart_on_a_full_disk_without_a_reserve_reports_later(tmpfs: Path) -> None:
    """Killed mid-execution; the agent restarts on a full disk whose reserve is gone: it starts,
    runs nothing, and reports the interrupted order once space returns."""
    state = _state(tmpfs)
    effects, effect = _recorder()
    server = Server()
    first = DiskReserve(state, RESERVE)
    assert first.ensure()
    w = make(state, server, handlers={"nix_gc": effect}, reserve=first)
    o = signer.admin("nix_gc", {"older_than_days": 5})

    def die(name: str) -> None:
        if name == "executed":
            raise SystemExit  # the handler ran; its outcome is not recorded

    w.crash_point = die
    with pytest.raises(SystemExit):
        await run(w, o)
    w.close()
    (state / RESERVE_FILE).unlink()
    filler = fill(tmpfs)

    reserve = DiskReserve(state, RESERVE)
    assert not reserve.ensure() and reserve.in_use
    w = make(state, server, handlers={"nix_gc": effect}, reserve=reserve)  # does not raise
    assert await w.process_pending() == 0
    assert server.posted == [] and effects == [o["nonce"]]
    _intact(state)

    os.unlink(filler)
    await w.process_pending()
    assert server.bodies(o["order_id"]) == [{"success": False, "error_message": INTERRUPTED}]
    assert effects == [o["nonce"]]
    w.close()


def test_a_failed_append_leaves_no_partial_line(tmpfs: Path) -> None:
    state = _state(tmpfs)
    j = Journal(state / RECORDS_FILE)
    j.append({"n": 0})
    filler = fill(tmpfs)
    with pytest.raises(OSError):
        j.append({"n": 1, "pad": "x" * 20_000})
    os.unlink(filler)
    j.append({"n": 2})
    j.close()
    j = Journal(state / RECORDS_FILE)
    assert [r["n"] for r in j.load()] == [0, 2] and (j.damaged, j.lost) == (0, 0)
