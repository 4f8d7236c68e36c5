"""When the supervisor loop wakes (runtime.md §4.3 as changed by issue 20): never on a fixed tick.

The loop sleeps until the earliest of the supervisor's own next moment (a job due, a stuck
deadline, a task restart: :meth:`~agent.runtime.supervisor.Supervisor.next_wake`), the next
systemd watchdog ping (only when ``WATCHDOG_USEC`` is set) and a status write the rate bound
held back; :meth:`Pacer.wake` cuts the sleep short when a schedule moved (a checkin requested, a
job finished). An idle daemon with no watchdog and nothing due sleeps until its next job.

The sleep itself is injectable (``sleep``): tests drive the loop with the suite's fake clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from agent.runtime.supervisor import Supervisor

#: ``sleep(seconds) -> fired``: True when the full time passed, False when woken early.
Sleep = Callable[[float], Awaitable[bool]]
#: The longest single sleep (a guard against a clock jump; not a tick: nothing runs on it).
MAX_SLEEP_S = 3600.0


@dataclass(slots=True)
class Wake:
    """One wake-up of the loop."""

    now: float
    lag: float  # how late the timer fired (0 when woken early)
    ping_due: bool  # the watchdog ping is due on this pass


class Pacer:
    def __init__(self, supervisor: Supervisor, *, watchdog_every: float | None = None,
                 sleep: Sleep | None = None) -> None:
        """``watchdog_every``: the ping interval (a quarter of ``WATCHDOG_USEC``), None without
        a watchdog."""
        self.supervisor = supervisor
        self.clock = supervisor.clock
        self.watchdog_every = watchdog_every
        self.next_ping = self.clock() + watchdog_every if watchdog_every else None
        self._sleep = sleep or self._timer
        self._future: asyncio.Future[bool] | None = None
        self._woken = False
        self.wakes = 0  # passes, for status and tests
        supervisor.on_change = self.wake

    def wake(self) -> None:
        """Cut the current (or the next) sleep short."""
        fut = self._future
        if fut is not None and not fut.done():
            fut.set_result(False)
        else:
            self._woken = True

    def deadline(self, extra: float | None = None) -> float | None:
        """The next moment the loop must be awake (``extra``: e.g. a held-back status write)."""
        points = [t for t in (self.supervisor.next_wake(), self.next_ping, extra) if t is not None]
        return min(points) if points else None

    async def wait(self, extra: float | None = None) -> Wake:
        """Sleep until :meth:`deadline` or a :meth:`wake`; then say how late it is and whether
        the watchdog ping is due."""
        target = self.deadline(extra)
        now = self.clock()
        delay = MAX_SLEEP_S if target is None else min(MAX_SLEEP_S, max(0.0, target - now))
        if self._woken:
            self._woken = False
            fired = False
        else:
            fired = await self._sleep(delay)
        now = self.clock()
        self.wakes += 1
        lag = max(0.0, now - target) if fired and target is not None else 0.0
        ping = self.next_ping is not None and now + 0.002 >= self.next_ping
        return Wake(now, lag, ping)

    def pinged(self, now: float) -> None:
        """The watchdog was pinged at ``now``: the next ping is one interval later."""
        if self.watchdog_every:
            self.next_ping = now + self.watchdog_every

    async def _timer(self, delay: float) -> bool:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[bool] = loop.create_future()
        self._future = fut
        handle = loop.call_later(delay, _fire, fut)
        try:
            return await fut
        finally:
            handle.cancel()
            self._future = None


def _fire(fut: asyncio.Future[bool]) -> None:
    if not fut.done():
        fut.set_result(True)
