"""A child ``python -m agent run`` with a fake systemd notify socket, for runtime tests."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from tests.conftest import agent_cmd, clean_env


class NotifySocket:
    """A unix datagram socket standing in for systemd's ``$NOTIFY_SOCKET``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)
        self.messages: list[tuple[float, str]] = []
        self.cursor = 0

    def drain(self, seconds: float = 0.0) -> list[str]:
        end = time.monotonic() + seconds
        while True:
            try:
                self.messages.append((time.monotonic(), self.sock.recv(65536).decode()))
            except TimeoutError:
                if time.monotonic() >= end:
                    break
        return [m for _, m in self.messages]

    def wait_for(self, prefix: str, timeout: float = 20.0) -> str:
        """The next message (after the previous match) with a line starting with ``prefix``."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            msgs = self.drain(0.1)
            while self.cursor < len(msgs):
                m = msgs[self.cursor]
                self.cursor += 1
                if any(line.startswith(prefix) for line in m.split("\n")):
                    return m
        raise AssertionError(f"no {prefix!r} within {timeout}s; got {self.drain()}")

    def close(self) -> None:
        self.sock.close()


BOOTSTRAP = """
import sys
import agent.wiring as wiring
import {module} as extra
base = wiring.daemon
def daemon(*args, **kwargs):
    built = base(*args, **kwargs)
    built.extra.append(extra.{cls}())
    return built
wiring.daemon = daemon
from agent.cli import main
raise SystemExit(main(sys.argv[1:]))
"""


class AgentProcess:
    """``python -m agent run`` as a child; stdout log lines collected in the background."""

    def __init__(self, config: Path, notify: NotifySocket | None = None, watchdog_usec: int = 0,
                 args: tuple[str, ...] = (), env: dict[str, str] | None = None,
                 extra_component: str | None = None) -> None:
        extra: dict[str, str] = dict(env or {})
        if notify is not None:
            extra["NOTIFY_SOCKET"] = str(notify.path)
        if watchdog_usec:
            extra["WATCHDOG_USEC"] = str(watchdog_usec)
        cmd = agent_cmd("run", "--config", str(config), *args)
        if extra_component:  # "module:Class" added to the agent's components (tests only)
            module, cls = extra_component.split(":")
            cmd = [cmd[0], "-c", BOOTSTRAP.format(module=module, cls=cls), *cmd[3:]]
        self.proc = subprocess.Popen(cmd,
                                     env=clean_env(**extra), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.raw.append(line)
            with contextlib.suppress(ValueError):
                self.lines.append(json.loads(line))

    def events(self) -> list[str]:
        return [str(rec.get("event")) for rec in list(self.lines)]

    def wait_event(self, event: str, timeout: float = 20.0, count: int = 1) -> dict[str, Any]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            hits = [rec for rec in list(self.lines) if rec.get("event") == event]
            if len(hits) >= count:
                return hits[count - 1]
            if self.proc.poll() is not None:
                self._reader.join(2)
                break
            time.sleep(0.05)
        raise AssertionError(f"no {event!r} (x{count}); events: {self.events()}; "
                             f"stderr: {self.stderr()}")

    def stderr(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return ""
        return self.proc.stderr.read()

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
