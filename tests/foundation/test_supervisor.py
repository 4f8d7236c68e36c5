"""Supervisor behaviour (runtime.md §4.3, §5.2) with a fake clock: no wall-time assertions."""

from __future__ import annotations

import asyncio

import pytest
from tests.fakeclock import FakeClock

from agent.jobs import Job
from agent.runtime.supervisor import Supervisor


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_job_never_overlaps_itself_and_skips_are_counted() -> None:
    clock = FakeClock(1000.0)
    sup = Supervisor(clock=clock)
    gate = asyncio.Event()
    runs = 0

    async def body() -> None:
        nonlocal runs
        runs += 1
        await gate.wait()

    sup.add_job(Job("j", body, delay=lambda: 10.0, deadline=100.0))
    sup.tick()
    await settle()
    for _ in range(3):
        clock.now += 10
        sup.tick()
        await settle()
    assert runs == 1 and sup.jobs["j"].skipped == 3
    gate.set()
    await settle()
    clock.now += 10
    sup.tick()
    await settle()
    assert runs == 2


async def test_stuck_job_is_cancelled_after_deadline_plus_30s() -> None:
    clock = FakeClock(1000.0)
    sup = Supervisor(clock=clock)
    cancelled = asyncio.Event()

    async def body() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    sup.add_job(Job("j", body, delay=lambda: 1000.0, deadline=20.0))
    sup.tick()
    await settle()
    clock.now += 49
    sup.tick()
    await settle()
    assert not cancelled.is_set()
    clock.now += 2
    sup.tick()
    await settle()
    assert cancelled.is_set() and sup.jobs["j"].stuck == 1


async def test_health_requires_checkin_progress() -> None:
    clock = FakeClock(1000.0)
    sup = Supervisor(clock=clock)
    fail = False

    async def checkin() -> None:
        if fail:
            raise ConnectionError("unreachable")

    sup.add_job(Job("checkin", checkin, delay=lambda: 60.0, deadline=30.0, progress=True))
    sup.tick()
    await settle()
    assert sup.health().ok
    # A failing checkin is still progress.
    fail = True
    clock.now += 60
    sup.tick()
    await settle()
    assert sup.jobs["checkin"].failures == 1 and sup.health().ok
    # A checkin that never runs again is not: stop starting jobs and let time pass.
    sup.stop_accepting()
    clock.now += 60 + 30 + 60 + 1
    health = sup.health()
    assert not health.ok and "checkin overdue" in health.reason


async def test_health_fails_on_event_loop_lag() -> None:
    sup = Supervisor(clock=FakeClock(1000.0))
    sup.tick(lag=6.0)
    assert not sup.health().ok and "lag" in sup.health().reason
    sup.tick(lag=0.1)
    assert sup.health().ok


async def test_health_fails_when_cancelled_job_does_not_end() -> None:
    clock = FakeClock(1000.0)
    sup = Supervisor(clock=clock)

    async def stubborn() -> None:
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                continue  # ignores cancellation

    sup.add_job(Job("stubborn", stubborn, delay=lambda: 1000.0, deadline=1.0))
    sup.tick()
    await settle()
    clock.now += 32
    sup.tick()
    await settle()
    assert sup.health().ok  # just cancelled
    clock.now += 11
    assert not sup.health().ok
    task = sup.jobs["stubborn"].task
    assert task is not None
    task.get_coro().close()  # type: ignore[union-attr]


async def test_crashing_periodic_job_logged_and_backed_off() -> None:
    clock = FakeClock(1000.0)
    sup = Supervisor(clock=clock)
    runs = 0

    async def crash() -> None:
        nonlocal runs
        runs += 1
        raise RuntimeError("bad")

    sup.add_job(Job("c", crash, delay=lambda: 0.0, deadline=10.0))
    for _ in range(4):
        sup.tick()
        await settle()
        clock.now += 0.5
    job = sup.jobs["c"]
    assert job.failures == runs and job.crash_streak == runs and job.last_error == "RuntimeError: bad"
    # With a zero delay, only the crash backoff (1, 2, 4 … s) spaces the runs out.
    assert runs == 2


async def test_long_task_restarted_with_doubling_backoff() -> None:
    clock = FakeClock(1000.0)
    sup = Supervisor(clock=clock)
    starts = 0

    async def dies() -> None:
        nonlocal starts
        starts += 1
        raise ValueError("x")

    lt = sup.spawn("t", dies)
    await settle()
    assert starts == 1 and lt.restart_at == pytest.approx(clock.now + 1.0)
    clock.now += 1.0
    sup.tick()
    await settle()
    assert starts == 2 and lt.restart_at == pytest.approx(clock.now + 2.0)
    clock.now += 1.5
    sup.tick()
    await settle()
    assert starts == 2
    clock.now += 0.5
    sup.tick()
    await settle()
    assert starts == 3 and lt.backoff == 8.0


async def test_backoff_caps_at_60s() -> None:
    clock = FakeClock(1000.0)
    sup = Supervisor(clock=clock)

    async def dies() -> None:
        raise ValueError("x")

    lt = sup.spawn("t", dies)
    for _ in range(10):
        await settle()
        clock.now += 100
        sup.tick()
    await settle()
    assert lt.backoff == 60.0


async def test_drain_cancels_and_lets_finish_jobs_finish() -> None:
    clock = FakeClock(1000.0)
    sup = Supervisor(clock=clock)
    finished = asyncio.Event()
    cancelled = asyncio.Event()

    async def graceful() -> None:
        await asyncio.sleep(0.05)
        finished.set()

    async def cancellable() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    sup.add_job(Job("g", graceful, delay=lambda: 100.0, deadline=10.0, on_shutdown="finish"))
    sup.add_job(Job("c", cancellable, delay=lambda: 100.0, deadline=10.0))
    sup.tick()
    await settle()
    assert await sup.drain(budget=5.0)
    assert finished.is_set() and cancelled.is_set()
    clock.now += 1000
    sup.tick()
    await settle()
    assert sup.jobs["g"].runs == 1  # nothing starts after shutdown began


def test_disabled_job_does_not_run() -> None:
    async def main() -> int:
        clock = FakeClock(1000.0)
        sup = Supervisor(clock=clock)
        runs = 0

        async def body() -> None:
            nonlocal runs
            runs += 1

        sup.add_job(Job("j", body, delay=lambda: 1.0, deadline=1.0, enabled=lambda: False))
        for _ in range(3):
            sup.tick()
            await settle()
            clock.now += 1
        return runs

    assert asyncio.run(main()) == 0
