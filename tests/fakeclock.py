"""The one fake wall clock of the test suite: components take ``clock: Callable[[], float]``;
tests pass a :class:`FakeClock` and move it by hand (``advance()`` or set ``t``)."""

from __future__ import annotations


class FakeClock:
    """Returns ``t`` (seconds since the epoch) when called; nothing moves it but the test."""

    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = float(t)

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds

    @property
    def now(self) -> float:
        return self.t

    @now.setter
    def now(self, value: float) -> None:
        self.t = float(value)
