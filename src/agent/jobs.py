"""The contract between the runtime and the agent's parts (checkin, orders, scans, queues, ...).

A component contributes periodic :class:`Job` s and long-lived tasks to a :class:`JobHost` (the
runtime's supervisor), a status section, a reload hook and a blocking flush (run in a worker
thread at shutdown, no network). Components import this module, never :mod:`agent.runtime`: the
runtime knows components only through the :class:`Component` protocol.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from agent.config import Config


@dataclass(eq=False)
class Job:
    """A periodic job. ``delay()`` is the time from one start to the next (it may change:
    config reloads, backoff after failures)."""

    name: str
    run: Callable[[], Awaitable[object]]
    delay: Callable[[], float]
    deadline: float
    jitter: float = 0.0  # ± fraction of the delay
    first_delay: float = 0.0
    on_shutdown: Literal["cancel", "finish"] = "cancel"
    progress: bool = False  # its completions are the loop's proof of progress (the checkin)
    from_completion: bool = False  # next start = completion + delay() (else start + delay())
    enabled: Callable[[], bool] = lambda: True
    #: ``run()`` returns ``False`` when the attempt failed without raising (a checkin the server
    #: or the network refused): counted in ``failures`` like a crash, without the crash backoff.
    reports_outcome: bool = False
    # --- state ---
    next_due: float = 0.0
    task: asyncio.Task[object] | None = None
    started_at: float | None = None
    last_started: float | None = None
    last_completed: float | None = None
    cancelled_at: float | None = None
    runs: int = 0
    failures: int = 0
    skipped: int = 0
    stuck: int = 0
    crash_streak: int = 0
    last_error: str | None = None
    last_ok: bool | None = None  # the outcome of the last completed run (None: none completed)

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()


class JobHost(Protocol):
    """What a component may ask of the runtime: register work, and run a job of its own soon."""

    def add_job(self, job: Job) -> Job: ...

    def spawn(self, name: str, factory: Callable[[], Awaitable[object]]) -> Any: ...

    def run_job_now(self, name: str) -> asyncio.Task[object] | None: ...

    def request_run(self, name: str) -> None: ...


class Component(Protocol):
    name: str

    def install(self, host: JobHost) -> None:
        """Register jobs and tasks."""

    def status(self) -> dict[str, Any]:
        """A JSON-able status section (no host names, credentials or PHI)."""

    def summary(self) -> str:
        """A few words for the one-line ``STATUS=``; empty for none."""

    def idle(self) -> bool:
        """No queued or in-flight work of its own (``run --once`` waits for every component
        to be idle before its last round)."""

    def reload(self, config: Config) -> None:
        """Apply a new, validated configuration (hot-reloadable keys only)."""

    def flush(self) -> None:
        """Persist in-memory state durably. Blocking; no network."""

    async def close(self) -> None:
        """Release connections and other resources."""


class Assembly(Protocol):
    """What the runtime runs: components in start order, and the services they share (closed
    after the components). Built by the composition root (:func:`agent.wiring.build`)."""

    @property
    def components(self) -> list[Component]: ...

    async def close_services(self) -> None: ...


class BaseComponent:
    """Convenience base with no-op hooks."""

    name = "component"

    def install(self, host: JobHost) -> None:
        pass

    def status(self) -> dict[str, Any]:
        return {}

    def summary(self) -> str:
        return ""

    def reload(self, config: Config) -> None:
        pass

    def idle(self) -> bool:
        return True

    def flush(self) -> None:
        pass

    async def close(self) -> None:
        pass


__all__ = ["Assembly", "BaseComponent", "Component", "Job", "JobHost"]
