"""The checkin's events on the :class:`~agent.bus.Bus` (the scan's are in :mod:`agent.scan.events`).

Publishers and consumers depend on these types, never on each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agent.protocol.orders import MalformedOrder, Order


@dataclass(frozen=True, slots=True)
class CheckinSucceeded:
    """A checkin returned 200 and its response was applied (queues drain now: runtime.md §4.2)."""


@dataclass(frozen=True, slots=True)
class CheckinRequested:
    """Someone (an order) wants a checkin as soon as possible."""

    reason: str


@dataclass(frozen=True, slots=True)
class OrdersReceived:
    """The orders of a checkin response that carried an appliance id (orders.md §4.5).

    Published before the rest of the response is applied, so that consumers record the orders
    durably at once; they act on them after the :class:`CheckinSucceeded` that follows."""

    orders: Sequence[Order]
    malformed: Sequence[MalformedOrder]
