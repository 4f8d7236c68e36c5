"""The log shipper job: every 30 s while the Central Command breaker is closed (runtime.md §7.3);
deadline 25 s. Uses journalctl unless a source is given (tests, demo)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.config import Config
from agent.jobs import BaseComponent, Job, JobHost
from agent.logship.shipper import LogShipper
from agent.logship.source import JournalctlSource, Source
from agent.uplink import Uplink, routes

INTERVAL_S = 30.0
DEADLINE_S = 25.0


class LogShipComponent(BaseComponent):
    name = "logship"

    def __init__(self, config: Config, *, uplink: Uplink, source: Source | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.uplink = uplink
        self.shipper = LogShipper(Path(config.state_dir), source or JournalctlSource(),
                                  site_id=config.site_id, hostname=socket.gethostname,
                                  clock=clock)

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        reply = await self.uplink.send_encoded(routes.LOGS, body, path=path, kind="logs")
        return reply.status, reply.body

    def install(self, host: JobHost) -> None:
        host.add_job(Job(name=self.name, run=self.run_once, delay=lambda: INTERVAL_S,
                               deadline=DEADLINE_S, first_delay=INTERVAL_S,
                               enabled=lambda: self.uplink.breaker_state == "closed"))

    async def run_once(self) -> int:
        if self.uplink.breaker_state != "closed":
            return 0  # paused: the cursor does not move
        return await self.shipper.tick(self.post)

    def status(self) -> dict[str, Any]:
        return self.shipper.status()
