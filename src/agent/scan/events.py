"""The scan's events on the :class:`~agent.bus.Bus`, and the heal progress the scan listens to.

Published by :class:`agent.scan.component.ScanComponent` (host results, incidents) and by the
healing component (heal queued / finished, which move a host's next scan: healing.md §6.1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from agent.exec.types import Target
from agent.scan.model import HostResult, Incident


@dataclass(frozen=True, slots=True)
class HostScanned:
    """One host's scan result, complete or partial (healing.md §6.4, §6.6)."""

    target: Target
    result: HostResult


@dataclass(frozen=True, slots=True)
class IncidentsFound:
    """Aggregated incidents (disabled checks already filtered) for the healing queue."""

    incidents: Sequence[Incident]


@dataclass(frozen=True, slots=True)
class WorkstationHealed:
    """A workstation agent reports that it healed ``check_type`` on ``host`` itself, answering
    a heal command of the hub (published by the hub, consumed by healing: the incident it
    reported is resolved)."""

    host: str
    check_type: str
    source: str  # grpc:<agent id>


@dataclass(frozen=True, slots=True)
class HealQueued:
    """An incident of ``host`` waits in the heal queue (the scheduler holds the host's rescan)."""

    host: str


@dataclass(frozen=True, slots=True)
class HealFinished:
    """A heal of ``host`` ended; ``ran`` when a runbook ran (early rescan, healing.md §6.1)."""

    host: str
    ran: bool
