"""What the helper and its actions share: configuration, outcome, refusal, running a program."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.priv.schema import ACTIONS, DEFAULT_FLAKE_PATTERN

OUTPUT_CAP = 64 * 1024
RESULT_PREFIX = "MSP_RESULT "


class Refused(Exception):
    """The helper refuses the invocation (reason in the message)."""


@dataclass(frozen=True, slots=True)
class HelperEnv:
    """The helper's configuration, from its unit's environment."""

    root: Path
    allowed: frozenset[str]
    state: Path  # the helper's own root-owned records (trials)
    agent_state: Path  # the agent's state directory (markers the agent writes)
    releases: Path  # side-by-side installs of msp-agent releases, and the `current` link
    release_key: str
    flake_pattern: str
    unit: str
    current_system: Path
    crash_at: str

    @classmethod
    def from_environ(cls, env: dict[str, str] | None = None) -> HelperEnv:
        e = os.environ if env is None else env
        allowed = frozenset(re.split(r"[\s,]+", e.get("MSP_AGENT_PRIV_ACTIONS", "").strip())) - {""}
        return cls(
            root=Path(e.get("MSP_AGENT_PRIV_ROOT", "/run/msp-agent/priv")),
            allowed=allowed & frozenset(ACTIONS),
            state=Path(e.get("MSP_AGENT_PRIV_STATE", "/var/lib/msp-agent-priv")),
            agent_state=Path(e.get("MSP_AGENT_STATE_DIR", "/var/lib/msp")),
            releases=Path(e.get("MSP_AGENT_RELEASES", "/opt/msp-agent")),
            release_key=e.get("MSP_AGENT_RELEASE_KEY", "").strip().lower(),
            flake_pattern=e.get("MSP_AGENT_FLAKE_PATTERN", DEFAULT_FLAKE_PATTERN),
            unit=e.get("MSP_AGENT_UNIT", "msp-agent.service"),
            current_system=Path(e.get("MSP_AGENT_CURRENT_SYSTEM", "/run/current-system")),
            crash_at=e.get("MSP_AGENT_PRIV_CRASH_AT", ""))

    def crash_point(self, name: str) -> None:
        """Fault injection for the kill -9 tests: die here if the unit's environment says so."""
        if self.crash_at == name:
            os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class Outcome:
    exit_code: int = 0
    stdout: str = ""
    stderr: str = ""
    result: dict[str, Any] | None = None

    def add(self, other: Outcome) -> Outcome:
        self.exit_code = self.exit_code or other.exit_code
        self.stdout = _cap(self.stdout + other.stdout)
        self.stderr = _cap(self.stderr + other.stderr)
        return self


def _cap(text: str) -> str:
    return text if len(text) <= OUTPUT_CAP else text[:OUTPUT_CAP] + "\n... (truncated)"


def run(argv: list[str], deadline_s: float, env: dict[str, str] | None = None) -> Outcome:
    """A fixed program, argument list, no shell, capped output; 127 if it is missing."""
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=deadline_s, check=False, env=env)
    except FileNotFoundError:
        return Outcome(127, "", f"{argv[0]}: command not found")
    except subprocess.TimeoutExpired:
        return Outcome(124, "", f"{argv[0]}: timed out after {deadline_s:g} s")
    out = proc.stdout.decode("utf-8", "replace")
    result = None
    for line in out.splitlines():
        if line.startswith(RESULT_PREFIX):
            try:
                doc = json.loads(line[len(RESULT_PREFIX):])
                result = doc if isinstance(doc, dict) else None
            except ValueError:
                result = None
    return Outcome(proc.returncode, _cap(out), _cap(proc.stderr.decode("utf-8", "replace")),
                   result)
