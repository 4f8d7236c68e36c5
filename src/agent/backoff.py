"""Backoff: how long to wait after the k-th consecutive failure, written once.

Every retry loop of the agent (checkin, outbox drains, the log shipper, the evidence spool, the
executors' connect retry, the supervisor's crash restarts) asks a :class:`Backoff` for its delay::

    ceiling(k) = min(max_s, min_s × factor^(k−1))          k = consecutive failures, k ≥ 1
    delay(k)   = ceiling(k)                                jitter="none"
               = uniform(0, ceiling(k))                    jitter="full"
    then at least ``floor_s``, and at least ``Retry-After`` (capped at ``retry_after_max_s``,
    by default ``max_s``) when the server sent one.

The random source is injectable (``rng``: anything with ``uniform(a, b)``), so jittered delays
are deterministic where a test needs them. This module is at the bottom of the import layers: it
imports nothing from the agent.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal, Protocol


class Rng(Protocol):
    """A random source (``random.Random``, the ``random`` module, a test double)."""

    def uniform(self, a: float, b: float, /) -> float: ...


@dataclass(frozen=True, slots=True)
class Backoff:
    min_s: float
    max_s: float
    factor: float = 2.0
    jitter: Literal["none", "full"] = "none"
    #: The least delay after jitter (full jitter may otherwise pick ~0).
    floor_s: float = 0.0
    #: The cap on a honoured ``Retry-After`` (None: ``max_s``).
    retry_after_max_s: float | None = None

    def ceiling(self, failures: int) -> float:
        """The un-jittered delay after ``failures`` (≥ 1) consecutive failures."""
        return min(self.max_s, self.min_s * self.factor ** (max(1, failures) - 1))

    def delay(self, failures: int, retry_after: float | None = None,
              rng: Rng | None = None) -> float:
        """The delay after ``failures`` (≥ 1) consecutive failures."""
        ceiling = self.ceiling(failures)
        delay = (rng or random).uniform(0.0, ceiling) if self.jitter == "full" else ceiling
        delay = max(self.floor_s, delay)
        if retry_after is not None:
            cap = self.max_s if self.retry_after_max_s is None else self.retry_after_max_s
            delay = max(delay, min(retry_after, cap))
        return delay

    def after(self, delay: float) -> float:
        """The un-jittered delay that follows ``delay`` (for callers that keep the last delay
        rather than a failure count): ``ceiling(k + 1)`` for ``delay == ceiling(k)``."""
        return min(self.max_s, max(self.min_s, delay * self.factor))
