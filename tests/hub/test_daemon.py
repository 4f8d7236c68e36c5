"""The real daemon (``python -m agent run``) with the hub enabled: it listens on the configured
address, an agent enrolled with a token from ``msp-agent hub token`` streams to it, and SIGTERM
ends the open stream cleanly before the process exits."""

from __future__ import annotations

import signal
import socket
import subprocess
from pathlib import Path

from tests.conftest import Install, agent_cmd, clean_env
from tests.foundation.agentproc import AgentProcess
from tests.hub.agentclient import Agent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _token(state: Path, host: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(agent_cmd("hub", "token", host, "--state-dir", str(state)),
                          capture_output=True, text=True, env=clean_env(), timeout=60)


async def test_sigterm_with_an_open_stream(install: Install, tmp_path: Path) -> None:
    port = _free_port()
    install.write_config(grpc_hub_enabled=True, grpc_bind_address="127.0.0.1", grpc_port=port)
    proc = AgentProcess(install.config)
    try:
        listening = proc.wait_event("hub.listening", timeout=60)
        assert (listening["address"], listening["port"]) == ("127.0.0.1", port)
        out = _token(install.state, "ws-01")
        assert out.returncode == 0, out.stderr
        ca = (install.state / "ca" / "ca.crt").read_bytes()
        a = Agent("ws-01", port, ca, tmp_path)
        await a.enroll(out.stdout.strip())
        st = await a.drift_stream().__aenter__()
        await st.send_message(a.drift("firewall"))
        assert (await st.recv_message()).heal_command.action == "enable"
        proc.proc.send_signal(signal.SIGTERM)
        assert await st.recv_message() is None  # ended cleanly by the hub's graceful stop
        a.close()
        assert proc.wait(30) == 0
        assert "hub.stopped" in proc.events()
    finally:
        proc.kill()
