"""What the helper and its actions share: configuration, outcome, refusal, running a program."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.priv.schema import ACTIONS, DEFAULT_FLAKE_PATTERN

OUTPUT_CAP = 64 * 1024
RESULT_PREFIX = "MSP_RESULT "


DEFAULT_EXEC_ARGS = "run --config /var/lib/msp/config.yaml --state-dir /var/lib/msp"


def on_nixos(e: Mapping[str, str]) -> bool:
    """``MSP_AGENT_NIXOS`` (``1``/``0``, set by the NixOS module; tests) decides, else
    ``/etc/NIXOS`` exists."""
    forced = e.get("MSP_AGENT_NIXOS", "").strip()
    return forced == "1" if forced in ("0", "1") else os.path.exists("/etc/NIXOS")


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
    #: NixOS: the unit's ExecStart is a store path; a release runs through a runtime drop-in
    nixos: bool = False
    dropin: Path = Path("/run/systemd/system/msp-agent.service.d/50-msp-release.conf")
    exec_args: tuple[str, ...] = ()  # the arguments of the unit's ExecStart (after the program)
    clock_offset_s: float = 0.0  # tests: the watchdog's clock, moved forward

    def now(self) -> float:
        return time.time() + self.clock_offset_s

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
            crash_at=e.get("MSP_AGENT_PRIV_CRASH_AT", ""),
            nixos=on_nixos(e),
            dropin=Path(e.get("MSP_AGENT_DROPIN", "/run/systemd/system/"
                              f"{e.get('MSP_AGENT_UNIT', 'msp-agent.service')}.d/"
                              "50-msp-release.conf")),
            exec_args=tuple(e.get("MSP_AGENT_EXEC_ARGS", DEFAULT_EXEC_ARGS).split()),
            clock_offset_s=float(e.get("MSP_AGENT_PRIV_CLOCK_OFFSET_S", "0") or 0))

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
