"""The contract between the runtime and the agent's parts (checkin, orders, scans, queues, …).

A component contributes periodic jobs and long-lived tasks to the supervisor, a status
section, a reload hook and a blocking flush (run in a worker thread at shutdown, no network).
"""

from __future__ import annotations

from typing import Any, Protocol

from agent.config import Config
from agent.runtime.supervisor import Job, Supervisor


class Component(Protocol):
    name: str

    def install(self, supervisor: Supervisor) -> None:
        """Register jobs and tasks with the supervisor."""

    def status(self) -> dict[str, Any]:
        """A JSON-able status section (no host names, credentials or PHI)."""

    def summary(self) -> str:
        """A few words for the one-line ``STATUS=``; empty for none."""

    def reload(self, config: Config) -> None:
        """Apply a new, validated configuration (hot-reloadable keys only)."""

    def flush(self) -> None:
        """Persist in-memory state durably. Blocking; no network."""

    async def close(self) -> None:
        """Release connections and other resources."""


class BaseComponent:
    """Convenience base with no-op hooks."""

    name = "component"

    def install(self, supervisor: Supervisor) -> None:
        pass

    def status(self) -> dict[str, Any]:
        return {}

    def summary(self) -> str:
        return ""

    def reload(self, config: Config) -> None:
        pass

    def flush(self) -> None:
        pass

    async def close(self) -> None:
        pass


__all__ = ["BaseComponent", "Component", "Job"]
