"""Placeholder checkin until the Central Command client lands (issue 3).

It runs on the real checkin cadence (``poll_interval`` with ±5 % jitter, 30 s deadline) so the
supervisor, watchdog and shutdown paths are exercised end to end, but it only logs.
"""

from __future__ import annotations

import time
from typing import Any

from agent.config import Config
from agent.log import get_logger
from agent.runtime.component import BaseComponent
from agent.runtime.supervisor import Job, Supervisor

log = get_logger("checkin")
CHECKIN_DEADLINE_S = 30.0


class PlaceholderCheckin(BaseComponent):
    name = "checkin"

    def __init__(self, config: Config) -> None:
        self.config = config
        self.attempts = 0
        self.last_attempt: float | None = None

    def install(self, supervisor: Supervisor) -> None:
        supervisor.add_job(Job(
            name="checkin",
            run=self.run_once,
            delay=lambda: float(self.config.poll_interval),
            deadline=CHECKIN_DEADLINE_S,
            jitter=0.05,
            first_delay=float(self.config.poll_interval),  # the first attempt is started explicitly
            progress=True,
        ))

    async def run_once(self) -> None:
        self.attempts += 1
        self.last_attempt = time.time()
        log.info("checkin.placeholder", "checkin client not implemented yet; nothing sent",
                 endpoint=self.config.api_endpoint, attempt=self.attempts)

    def reload(self, config: Config) -> None:
        self.config = config

    def status(self) -> dict[str, Any]:
        return {"attempts": self.attempts, "last_attempt": self.last_attempt, "implemented": False}

    def summary(self) -> str:
        return f"checkin placeholder ({self.attempts} attempts)"
