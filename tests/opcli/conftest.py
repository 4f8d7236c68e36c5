"""Helpers for the operator commands' tests: run the CLI as a subprocess on a state directory
made in tmp_path."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey

SERVER_KEY = SigningKey(b"\x07" * 32)
SERVER_PUB = SERVER_KEY.verify_key.encode().hex()
OTHER_PUB = SigningKey(b"\x08" * 32).verify_key.encode().hex()
SSH_BLOB = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + b"\x11" * 32


@dataclass
class Cli:
    tmp: Path
    state: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MSP_", "STATE_DIR"))}
        env["MSP_AGENT_CONFIG"] = str(self.tmp / "no-config.yaml")
        env.pop("JOURNAL_STREAM", None)
        env.update(extra)
        return env

    def __call__(self, *args: str, stdin: str | None = None,
                 **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "agent", *args, "--state-dir", str(self.state)],
                              capture_output=True, text=True, input=stdin, env=self.env(**env),
                              timeout=120, cwd=self.tmp)

    def json(self, *args: str, code: int = 0) -> Any:
        r = self(*args, "--json")
        assert r.returncode == code, (r.stdout, r.stderr)
        return json.loads(r.stdout)

    @contextmanager
    def lock_held(self) -> Iterator[int]:
        """Another process (standing in for the daemon) holds the state-directory lock."""
        code = ("import sys; from agent.state import StateLock; l = StateLock(sys.argv[1]); "
                "l.acquire(); print('locked', flush=True); sys.stdin.read()")
        proc = subprocess.Popen([sys.executable, "-c", code, str(self.state)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
            yield proc.pid
        finally:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(timeout=30)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    return Cli(tmp_path, state)


def write_pins(state: Path) -> None:
    (state / "ssh_known_hosts").write_text(
        f"pc-01 ssh-ed25519 {base64.b64encode(SSH_BLOB).decode()}\n"
        f"[pc-02]:2222 ssh-ed25519 {base64.b64encode(SSH_BLOB).decode()}\n")
    (state / "winrm_pins.json").write_text(json.dumps({
        "dc-01": {"fingerprint": "ab" * 32, "first_seen": "2026-01-01T00:00:00Z",
                  "last_seen": "2026-01-02T00:00:00Z"}}))
    (state / "tls_pins.json").write_text(json.dumps({"version": 1, "hosts": {
        "cc.example:443": {"spki_sha256": ["cd" * 32], "pinned_at": "2026-01-01T00:00:00Z",
                           "source": "tofu"}}}))
    (state / "server_keys.json").write_text(json.dumps({
        "current": SERVER_PUB, "previous": None, "source": "first_checkin",
        "received_at": "2026-01-01T00:00:00Z"}))
    for f in state.iterdir():
        f.chmod(0o600)


def audit_lines(stderr: str) -> list[dict[str, Any]]:
    out = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            doc = json.loads(line)
            if doc.get("component") == "operator":
                out.append(doc)
    return out
