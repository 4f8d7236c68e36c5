"""The supervisor loop wakes on deadlines, not on a tick (issue 20, runtime.md §4.2/§4.3).

Driven by the suite's fake clock: the pacer's sleep is replaced by one that moves the
:class:`FakeClock` to the moment asked for (plus a fixed late-firing lag), so every assertion is
about computed times, never about wall-clock timing.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from pathlib import Path

from tests.fakeclock import FakeClock

from agent.jobs import Job
from agent.runtime.pacer import Pacer
from agent.runtime.status import MIN_WRITE_INTERVAL_S, StatusBoard, problems
from agent.runtime.supervisor import Supervisor

POLL = 10.0
JITTER = 0.05


class FakeTimer:
    """The pacer's sleep on a fake clock: time jumps to the deadline plus ``late`` seconds
    unless woken early; records every sleep asked for."""

    def __init__(self, clock: FakeClock, late: float = 0.0) -> None:
        self.clock = clock
        self.late = late
        self.sleeps: list[float] = []
        self.early = False

    async def __call__(self, delay: float) -> bool:
        self.sleeps.append(delay)
        await asyncio.sleep(0)
        if self.early:
            self.early = False
            return False
        self.clock.advance(delay + self.late)
        return True


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def checkin_job(starts: list[float], clock: FakeClock) -> Job:
    async def run() -> bool:
        starts.append(clock())
        return True

    return Job("checkin", run, delay=lambda: POLL, deadline=35.0, jitter=JITTER,
               first_delay=POLL, progress=True, from_completion=True, reports_outcome=True)


async def drive(sup: Supervisor, pacer: Pacer, passes: int) -> list[float]:
    """Run the loop's pattern: wait, tick; returns the due time each job start was planned for."""
    planned: list[float] = []
    for _ in range(passes):
        due = sup.jobs["checkin"].next_due
        wake = await pacer.wait()
        before = sup.jobs["checkin"].runs
        sup.tick(wake.lag)
        await settle()
        if sup.jobs["checkin"].runs > before:
            planned.append(due)
    return planned


async def test_checkins_start_at_their_due_time_within_the_jitter() -> None:
    clock = FakeClock(5_000.0)
    sup = Supervisor(clock=clock, rng=random.Random(7))
    starts: list[float] = []
    sup.add_job(checkin_job(starts, clock))
    timer = FakeTimer(clock, late=0.004)  # every timer fires 4 ms late
    pacer = Pacer(sup, sleep=timer)
    planned = await drive(sup, pacer, 40)
    assert len(starts) >= 10
    # Each start is at its own due time (plus only the timer's lateness), never a tick later.
    for due, started in zip(planned, starts, strict=True):
        assert due <= started <= due + 0.1
    # The gap from one completion to the next start is the poll interval within ±5 %.
    for a, b in itertools.pairwise(starts):
        assert POLL * (1 - JITTER) <= b - a <= POLL * (1 + JITTER) + 0.1
    # No pass without work: one sleep per start, plus the wake-ups the completions cause.
    assert all(d > 1.0 for d in timer.sleeps if d)


def one_slow_job() -> tuple[Supervisor, FakeTimer]:
    """A supervisor with one job every 10 minutes, and a fake timer on its clock."""
    clock = FakeClock(5_000.0)
    sup = Supervisor(clock=clock)
    sup.add_job(Job("slow", lambda: asyncio.sleep(0), delay=lambda: 600.0, deadline=10.0,
                    first_delay=600.0))
    return sup, FakeTimer(clock)


async def test_without_a_watchdog_the_loop_sleeps_until_the_next_job() -> None:
    sup, timer = one_slow_job()
    pacer = Pacer(sup, sleep=timer)
    wake = await pacer.wait()
    assert timer.sleeps == [600.0] and not wake.ping_due


async def test_with_a_watchdog_the_loop_also_wakes_for_the_ping() -> None:
    sup, timer = one_slow_job()
    pacer = Pacer(sup, watchdog_every=15.0, sleep=timer)
    wake = await pacer.wait()
    assert timer.sleeps == [15.0] and wake.ping_due
    pacer.pinged(wake.now)
    wake = await pacer.wait()
    assert timer.sleeps[-1] == 15.0 and wake.ping_due


async def test_a_requested_checkin_wakes_the_loop_early_and_runs_at_once() -> None:
    clock = FakeClock(5_000.0)
    sup = Supervisor(clock=clock)
    starts: list[float] = []
    timer = FakeTimer(clock)
    pacer = Pacer(sup, sleep=timer)
    sup.add_job(checkin_job(starts, clock))
    # Adding a job moved the schedule: the first wait returns at once, to re-plan.
    wake = await pacer.wait()
    assert timer.sleeps == [] and wake.lag == 0.0
    clock.advance(3.0)
    sup.request_run("checkin")  # e.g. CheckinRequested after an order
    wake = await pacer.wait()
    assert timer.sleeps == []  # woken before sleeping: no timer
    sup.tick(wake.lag)
    await settle()
    assert starts == [5_003.0]


async def test_a_stuck_job_deadline_is_a_wake_up_moment() -> None:
    clock = FakeClock(1_000.0)
    sup = Supervisor(clock=clock)
    gate = asyncio.Event()
    sup.add_job(Job("j", gate.wait, delay=lambda: 1000.0, deadline=20.0))
    sup.tick()
    await settle()
    assert sup.next_wake() == 1_000.0 + 20.0 + 30.0
    gate.set()
    await settle()
    assert sup.next_wake() == sup.jobs["j"].next_due


def test_status_is_written_only_when_it_changed(tmp_path: Path) -> None:
    board = StatusBoard(tmp_path, "asyncio", metrics_textfile="")
    figures = {"successes": 1}
    board.add_section("checkin", lambda: {**figures, "last_success_s_ago": 3.0})
    board.state = "running"
    doc = board.build()
    assert board.changed(doc)
    board.write(doc)
    path = board.path
    first = path.stat().st_mtime_ns
    # Only ageing figures (written_at, *_s_ago, the process figures) moved: not a change.
    later = board.build()
    later["checkin"]["last_success_s_ago"] = 99.0
    assert not board.changed(later)
    figures["successes"] = 2
    assert board.changed(board.build())
    assert board.writes == 1 and path.stat().st_mtime_ns == first
    # The rate bound: the next write waits MIN_WRITE_INTERVAL_S after the last, unless the
    # daemon's state changed.
    assert board.last_write is not None
    assert board.next_write_at(board.last_write) == board.last_write + MIN_WRITE_INTERVAL_S
    board.state = "stopping"
    assert board.next_write_at(board.last_write) == board.last_write


def test_a_status_file_is_stale_only_after_the_age_the_daemon_announced() -> None:
    doc = {"state": "running", "stale_after_s": 700.0}
    assert problems(doc, age_s=300.0) == []
    assert problems(doc, age_s=800.0) == ["status file is 800s old"]
    assert problems({"state": "running"}, age_s=61.0) == ["status file is 61s old"]
