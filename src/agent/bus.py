"""A typed, synchronous event bus whose subscriptions are made at build time and frozen at start.

The composition root (:mod:`agent.wiring`) subscribes each consumer to the events it needs while
it builds the agent, then calls :meth:`Bus.freeze` (as aiohttp freezes its signals at start-up):
after that the set of subscribers is fixed and :meth:`Bus.subscribe` raises. Publishers never
know who listens, and no component writes callbacks into another.

Delivery is synchronous, in subscription order, on the publisher's thread (the event loop). A
handler that raises is logged with its event type and does not stop the other handlers; a handler
that has async work to do schedules it on its own component's task owner.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from agent.log import get_logger

log = get_logger("bus")

E = TypeVar("E")


class FrozenBus(RuntimeError):
    """A subscription after :meth:`Bus.freeze`."""


class Bus:
    def __init__(self) -> None:
        self._subscribers: dict[type[Any], list[Callable[[Any], None]]] = {}
        self._frozen = False
        self.published = 0
        self.handler_errors = 0

    @property
    def frozen(self) -> bool:
        return self._frozen

    def subscribe(self, event_type: type[E], handler: Callable[[E], None]) -> None:
        if self._frozen:
            raise FrozenBus(f"the bus is frozen: cannot subscribe to {event_type.__name__}")
        self._subscribers.setdefault(event_type, []).append(handler)

    def freeze(self) -> None:
        self._frozen = True

    def subscribers(self, event_type: type[Any]) -> int:
        return len(self._subscribers.get(event_type, ()))

    def publish(self, event: object) -> None:
        self.published += 1
        for handler in self._subscribers.get(type(event), ()):
            try:
                handler(event)
            except Exception:  # noqa: BLE001 - one failing consumer must not stop the others
                self.handler_errors += 1
                log.error("bus.handler_failed", "an event handler failed",
                          event_type=type(event).__name__, exc=True)


class Figures:
    """``daemon_health`` figures (central-api.md §6.3) from several components, collected for the
    checkin: providers are added at build time, frozen at start; a failing provider loses only
    its own figures."""

    def __init__(self) -> None:
        self._providers: list[Callable[[], dict[str, Any]]] = []
        self._frozen = False

    def add(self, provider: Callable[[], dict[str, Any]]) -> None:
        if self._frozen:
            raise FrozenBus("the health figures are frozen")
        self._providers.append(provider)

    def freeze(self) -> None:
        self._frozen = True

    def collect(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for provider in self._providers:
            try:
                out.update(provider())
            except Exception:  # noqa: BLE001 - a health figure must not fail the checkin
                log.error("bus.figures_failed", "a daemon_health provider failed", exc=True)
        return out
