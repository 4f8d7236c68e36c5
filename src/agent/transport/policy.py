"""Retry policy: checkin backoff with full jitter, and the Central Command breaker.

central-api.md §6.5 / §10 c: after the k-th consecutive failure wait
``uniform(0, min(600 s, poll_interval × 2^(k−1)))``, at least 1 s; ``Retry-After`` raises the
floor. runtime.md §4.4: the breaker opens after 5 consecutive checkin failures for 5 minutes,
then lets one request through (half-open); a successful checkin closes it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from agent.backoff import Backoff, Rng

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

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        if self.clock() - self.opened_at >= self.open_for:
            return "half_open"
        return "open"

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

    def failure(self) -> None:
        self.consecutive_failures += 1
        self._probe_in_flight = False
        if self.opened_at is not None and self.state == "half_open":
            self.opened_at = self.clock()  # the probe failed: open again
        elif self.consecutive_failures >= self.threshold and self.opened_at is None:
            self.opened_at = self.clock()
