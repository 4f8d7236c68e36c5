"""Shared fixtures: paths to ../shared, a temporary agent installation, CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# The real-sshd fixtures (session users, sshd, executors) shared by tests/exec and tests/healing;
# the small tmpfs of the disk-full tests; --without-shared (the tests that read ../shared).
pytest_plugins = ["tests.sshfixtures", "tests.winrmfixtures", "tests.smalldisk", "tests.sharedswitch"]

ROOT = Path(__file__).resolve().parents[1]
SHARED = (ROOT / ".." / "shared").resolve()


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"../shared not found at {SHARED}: the tests need the shared spec and vectors")
    return SHARED


@dataclass
class Install:
    """A temporary config file and state directory for one agent."""

    root: Path
    config: Path
    state: Path

    def write_config(self, **overrides: object) -> None:
        base: dict[str, object] = {
            "site_id": "test-site",
            "api_key": "test-api-key-0123456789",
            "api_endpoint": "http://127.0.0.1:9",
            "state_dir": str(self.state),
            "poll_interval": 10,
        }
        base.update(overrides)
        lines = []
        for key, value in base.items():
            if isinstance(value, bool):
                value = "true" if value else "false"
            lines.append(f"{key}: {value}")
        self.config.write_text("\n".join(lines) + "\n")


@pytest.fixture
def install(tmp_path: Path) -> Iterator[Install]:
    inst = Install(tmp_path, tmp_path / "config.yaml", tmp_path / "state")
    inst.write_config()
    yield inst


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a child agent: no systemd or override variables leak in."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "STATE_DIR", "LOG_LEVEL",
                        "HEALING_DRY_RUN", "L2_ENABLED", "MSP_AGENT_CONFIG", "JOURNAL_STREAM",
                        "MSP_AGENT_LOG_FORMAT", "RUNTIME_DIRECTORY", "MSP_AGENT_GRPC_HUB"}}
    env.update(extra)
    return env


def agent_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "agent", *args]


def run_agent(*args: str, env: dict[str, str] | None = None, timeout: float = 60,
              input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(agent_cmd(*args), capture_output=True, text=True, timeout=timeout,
                          env=env or clean_env(), input=input)


@pytest.fixture(autouse=True)
def _agent_logging_restored() -> Iterator[None]:
    """A test that runs a command in-process configures the ``agent`` logger (stdout handler,
    level); undo it so later tests' captured output holds only what they print."""
    import logging

    root = logging.getLogger("agent")
    saved = (list(root.handlers), root.level, root.propagate)
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    root.propagate = saved[2]
