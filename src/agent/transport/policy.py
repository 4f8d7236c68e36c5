"""Retry policy: checkin backoff with full jitter, and the Central Command breaker.

central-api.md §6.5 / §10 c: after the k-th consecutive failure wait
``uniform(0, min(600 s, poll_interval × 2^(k−1)))``, at least 1 s; ``Retry-After`` raises the
floor. runtime.md §4.4: the breaker opens after 5 consecutive checkin failures for 5 minutes,
then lets one request through (half-open); a successful checkin closes it. Each transition is
logged once (``breaker.open``, ``breaker.half_open``, ``breaker.closed``), when it is first
observed.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from agent.backoff import Backoff, Rng
from agent.log import get_logger

log = get_logger("transport")

BACKOFF_CAP_S = 600.0
BACKOFF_FLOOR_S = 1.0
RETRY_AFTER_CAP_S = 3600.0
POLL_JITTER = 0.05


class CheckinBackoff:
    """The delay before the next checkin, from the outcome of the last one."""

    def __init__(self, poll_interval: float, rng: Rng | None = None) -> None:
        self.poll_interval = float(poll_interval)
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not crypto
        self.failures = 0
        self.delay = self.poll_interval

    def success(self) -> float:
        self.failures = 0
        self.delay = self.poll_interval * (1.0 + self.rng.uniform(-POLL_JITTER, POLL_JITTER))
        return self.delay

    @property
    def backoff(self) -> Backoff:
        """The failure backoff: base ``poll_interval`` (it may change on a config reload)."""
        return Backoff(self.poll_interval, BACKOFF_CAP_S, jitter="full", floor_s=BACKOFF_FLOOR_S,
                       retry_after_max_s=RETRY_AFTER_CAP_S)

    def failure(self, retry_after: float | None = None) -> float:
        self.failures += 1
        self.delay = self.backoff.delay(self.failures, retry_after, self.rng)
        return self.delay

    def ceiling(self) -> float:
        """The upper bound of the current delay (for the watchdog's overdue check)."""
        if not self.failures:
            return self.poll_interval * (1.0 + POLL_JITTER)
        return max(self.delay, self.backoff.ceiling(self.failures))


class Breaker:
    """Central Command circuit breaker, driven by checkin outcomes."""

    def __init__(self, threshold: int = 5, open_for: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = threshold
        self.open_for = open_for
        self.clock = clock
        self.consecutive_failures = 0
        self.opened_at: float | None = None
        self._probe_in_flight = False
        self._reported = "closed"  # the last state logged

    @property
    def state(self) -> str:
        if self.opened_at is None:
            state = "closed"
        elif self.clock() - self.opened_at >= self.open_for:
            state = "half_open"
        else:
            state = "open"
        if state != self._reported:
            self._transition(state)
        return state

    def _transition(self, state: str) -> None:
        """Log a state change once (the half-open one is noticed when the state is read)."""
        before, self._reported = self._reported, state
        n = self.consecutive_failures
        if state == "open":
            log.error("breaker.open", f"Central Command breaker open after {n} consecutive "
                      f"checkin failures; secondary traffic paused for {int(self.open_for)}s",
                      consecutive_failures=n, previous=before)
        elif state == "half_open":
            log.info("breaker.half_open", "Central Command breaker half-open: the next request is "
                     "a probe", consecutive_failures=n)
        else:
            log.info("breaker.closed", "Central Command breaker closed: a checkin succeeded",
                     previous=before)

    def allow(self) -> bool:
        """Whether a secondary request may go out now (one probe while half-open)."""
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._probe_in_flight:
            self._probe_in_flight = True
            return True
        return False

    def success(self) -> None:
        self.consecutive_failures = 0
        self.opened_at = None
        self._probe_in_flight = False
        _ = self.state  # log the transition to closed

    def failure(self) -> None:
        self.consecutive_failures += 1
        self._probe_in_flight = False
        if self.opened_at is not None and self.state == "half_open":
            self.opened_at = self.clock()  # the probe failed: open again
        elif self.consecutive_failures >= self.threshold and self.opened_at is None:
            self.opened_at = self.clock()
        _ = self.state  # log the transition to open
