"""The agent's one durable outbox mechanism (runtime.md §4.4, evidence.md §5-§6, orders.md §9).

* :mod:`.queue` — :class:`DurableQueue`: an item is fsynced before it counts as created; bounds with
  an explicit overflow policy per kind; dead-letter folder for refused items.
* :mod:`.drain` — :class:`Drainer`: oldest first, stop at the first transient failure, backoff;
  hooks for what a kind does differently (items, delivery probe, poison rule, ``on_settled``).
* :mod:`.kinds` — the queues of the agent (completions, evidence spool, telemetry, reports, logs).
* :mod:`.naming` — item file names (the Go daemon's formats where it shares the directory).

Components enqueue with ``queue.put(bytes, key=...)`` (or the kind's typed wrapper) and drain with
``drainer.drain(send)`` where ``send(item)`` returns a :class:`Result`.
"""

from agent.outbox.drain import Drainer, Outcome, Result, classify_status
from agent.outbox.queue import DurableQueue, Item, Policy, QueueError, QueueFull, QueueWriteError

__all__ = ["Drainer", "DurableQueue", "Item", "Outcome", "Policy", "QueueError", "QueueFull",
           "QueueWriteError", "Result", "classify_status"]
