"""The event bus: typed, synchronous, subscriptions frozen at start; one failing consumer alone."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from agent.bus import Bus, Figures, FrozenBus


@dataclass(frozen=True)
class Ping:
    n: int


@dataclass(frozen=True)
class Pong:
    n: int


def test_events_reach_their_subscribers_in_order_and_only_theirs() -> None:
    bus = Bus()
    seen: list[str] = []
    bus.subscribe(Ping, lambda e: seen.append(f"a{e.n}"))
    bus.subscribe(Ping, lambda e: seen.append(f"b{e.n}"))
    bus.subscribe(Pong, lambda e: seen.append(f"p{e.n}"))
    bus.freeze()
    bus.publish(Ping(1))
    bus.publish(Pong(2))
    assert seen == ["a1", "b1", "p2"] and bus.published == 2
    assert bus.subscribers(Ping) == 2 and bus.subscribers(Pong) == 1


def test_subscriptions_are_frozen_at_start() -> None:
    bus = Bus()
    bus.subscribe(Ping, lambda e: None)
    bus.freeze()
    with pytest.raises(FrozenBus):
        bus.subscribe(Ping, lambda e: None)
    figures = Figures()
    figures.freeze()
    with pytest.raises(FrozenBus):
        figures.add(dict)


def test_a_failing_handler_does_not_stop_the_others() -> None:
    bus = Bus()
    seen: list[int] = []

    def boom(e: Ping) -> None:
        raise RuntimeError("consumer bug")

    bus.subscribe(Ping, boom)
    bus.subscribe(Ping, lambda e: seen.append(e.n))
    bus.publish(Ping(7))
    assert seen == [7] and bus.handler_errors == 1


def test_figures_merge_and_a_failing_provider_loses_only_its_own() -> None:
    figures = Figures()

    def broken() -> dict[str, int]:
        raise RuntimeError("boom")

    figures.add(lambda: {"a": 1})
    figures.add(broken)
    figures.add(lambda: {"b": 2})
    assert figures.collect() == {"a": 1, "b": 2}
