"""The one backoff value object, and the numbers each retry loop gives it."""

from __future__ import annotations

import random

import pytest

from agent.backoff import Backoff
from agent.exec.common import RETRY_BACKOFF, backoff_s
from agent.runtime.supervisor import CRASH_BACKOFF
from agent.transport.policy import CheckinBackoff


class Fixed:
    """``uniform`` at a fixed fraction of the interval."""

    def __init__(self, value: float) -> None:
        self.value = value

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.value


def test_doubling_up_to_the_cap_without_jitter() -> None:
    b = Backoff(5.0, 600.0)
    assert [b.delay(k) for k in range(1, 10)] == [5, 10, 20, 40, 80, 160, 320, 600, 600]
    assert b.delay(0) == 5.0  # no failure yet: the first step
    assert [b.ceiling(k) for k in (1, 2, 3)] == [5, 10, 20]
    assert Backoff(1.0, 100.0, factor=3.0).delay(3) == 9.0


def test_full_jitter_floor_and_injected_rng() -> None:
    b = Backoff(60.0, 600.0, jitter="full", floor_s=1.0)
    assert b.delay(1, rng=Fixed(0.0)) == 1.0  # the floor
    assert [b.delay(k, rng=Fixed(1.0)) for k in range(1, 7)] == [60, 120, 240, 480, 600, 600]
    assert b.delay(2, rng=Fixed(0.5)) == 60.0
    rng = random.Random(3)
    samples = [b.delay(4, rng=rng) for _ in range(500)]
    assert all(1.0 <= s <= 480.0 for s in samples)
    assert min(samples) < 50 and max(samples) > 430
    assert Backoff(2.0, 10.0, jitter="full").delay(1, rng=Fixed(0.0)) == 0.0  # no floor


def test_retry_after_raises_the_delay_up_to_its_cap() -> None:
    b = Backoff(30.0, 600.0)
    assert b.delay(1, retry_after=90) == 90
    assert b.delay(1, retry_after=5) == 30
    assert b.delay(1, retry_after=0) == 30
    assert b.delay(1, retry_after=7200) == 600  # capped at max_s by default
    assert Backoff(60.0, 600.0, retry_after_max_s=3600.0).delay(1, retry_after=7200) == 3600


def test_after_steps_from_a_kept_delay() -> None:
    b = Backoff(1.0, 60.0)
    steps = [1.0]
    for _ in range(7):
        steps.append(b.after(steps[-1]))
    assert steps == [1, 2, 4, 8, 16, 32, 60, 60]
    assert all(b.after(b.ceiling(k)) == b.ceiling(k + 1) for k in range(1, 10))


def test_the_numbers_of_each_retry_loop() -> None:
    from agent.logship.shipper import BACKOFF as LOGSHIP
    from agent.outbox.drain import DEFAULT_BACKOFF

    assert Backoff(30.0, 600.0) == LOGSHIP
    assert Backoff(5.0, 600.0) == DEFAULT_BACKOFF  # outbox drains, evidence spool
    assert Backoff(1.0, 60.0) == CRASH_BACKOFF  # supervisor: jobs and long-lived tasks
    assert Backoff(2.0, 10.0, jitter="full") == RETRY_BACKOFF  # exec connect retry
    assert all(0.0 <= backoff_s(n) <= min(10.0, 2.0 * 2**n) for n in range(5) for _ in range(50))
    checkin = CheckinBackoff(60, Fixed(1.0))
    assert checkin.backoff == Backoff(60.0, 600.0, jitter="full", floor_s=1.0,
                                      retry_after_max_s=3600.0)
    checkin.poll_interval = 10.0  # a config reload changes the base
    assert checkin.failure() == 10.0 and checkin.ceiling() == 10.0
    assert checkin.failure(retry_after=7200) == 3600.0


@pytest.mark.parametrize("jitter", ["none", "full"])
def test_never_above_the_cap(jitter: str) -> None:
    b = Backoff(0.5, 7.0, jitter=jitter)  # type: ignore[arg-type]
    rng = random.Random(1)
    assert all(0.0 <= b.delay(k, rng=rng) <= 7.0 for k in range(1, 200))
