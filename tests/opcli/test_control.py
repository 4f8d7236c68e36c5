"""The daemon's local control socket: 0600, read-only questions, and ``preview`` asking the
running daemon (then, once it stopped, the state directory, saying which)."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import clean_env

from agent.central import CentralCommand
from agent.runtime.control import ControlSocket, ControlUnavailable, ask

SITE = "clinic-control"


async def _listening(comp: ControlSocket) -> None:
    for _ in range(500):  # bounded wait for the task to bind (not a timing assertion)
        if comp.status()["listening"]:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the control socket never listened")


def _as_nobody(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                           sys.executable, "-c", code, *args],
                          capture_output=True, text=True, timeout=60)


ASK_AS_NOBODY = """
import os, socket, sys
try:
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    s.sendall(b'{"query": "hello"}\\n')
    print(s.makefile().readline())
except PermissionError:
    sys.exit(13)
"""


async def test_answers_known_queries_refuses_the_rest_and_cleans_up(tmp_path: Path) -> None:
    # Directories another user may traverse, so that only the socket's own mode and the peer
    # check stand between that user and the daemon (a fresh, unique directory: hermetic).
    top = Path(tempfile.mkdtemp(prefix="msp-ctl-"))
    try:
        await _serve_and_ask(top)
    finally:
        shutil.rmtree(top)


def _raw(path: Path, data: bytes) -> str:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(str(path))
        s.sendall(data)
        return s.makefile().readline()


def _traversable_state(top: Path) -> Path:
    top.chmod(0o711)
    state = top / "state"
    state.mkdir(mode=0o711)
    return state


async def _serve_and_ask(top: Path) -> None:
    state = _traversable_state(top)

    async def hello() -> dict[str, Any]:
        return {"hello": "world"}

    async def broken() -> dict[str, Any]:
        raise RuntimeError("boom")

    comp = ControlSocket(state, {"hello": hello, "broken": broken})
    task = asyncio.ensure_future(comp.serve())
    try:
        await _listening(comp)
        assert comp.path.stat().st_mode & 0o777 == 0o600
        assert await asyncio.to_thread(ask, state, "hello") == {"hello": "world"}
        with pytest.raises(ControlUnavailable, match="unknown query"):
            await asyncio.to_thread(ask, state, "shutdown")
        with pytest.raises(ControlUnavailable, match="RuntimeError"):
            await asyncio.to_thread(ask, state, "broken")
        assert comp.status()["answered"] == 1 and comp.status()["refused"] == 1
        assert json.loads(await asyncio.to_thread(_raw, comp.path, b"not json\n")) == {
            "ok": False, "error": "unreadable question"}
        assert json.loads(await asyncio.to_thread(_raw, comp.path, b"x" * 10_000)) == {
            "ok": False, "error": "unreadable question"}  # over the 4 KiB question limit
        (state / "run").chmod(0o711)
        # Another user: the socket's mode 0600 keeps it out ...
        r = await asyncio.to_thread(_as_nobody, ASK_AS_NOBODY, str(comp.path))
        assert r.returncode == 13, r.stdout + r.stderr
        # ... and were the mode ever wider, the peer check refuses it.
        comp.path.chmod(0o666)
        r = await asyncio.to_thread(_as_nobody, ASK_AS_NOBODY, str(comp.path))
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout) == {"ok": False,
                                        "error": "refused: not the daemon's user or root"}
        assert comp.status()["refused"] == 4
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert not comp.path.exists()
    with pytest.raises(ControlUnavailable, match="not running"):
        ask(state, "hello")


async def test_preview_asks_the_running_daemon(tmp_path: Path) -> None:
    cc = CentralCommand(tmp_path / "central.db")
    await cc.start()
    try:
        cc.create_site(SITE)
        state = tmp_path / "state"
        state.mkdir(mode=0o700)
        cfg = tmp_path / "config.yaml"
        cfg.write_text(f"site_id: {SITE}\napi_key: {cc.create_api_key(SITE)}\n"
                       f"api_endpoint: {cc.url}\nstate_dir: {state}\npoll_interval: 60\n"
                       "enable_drift_detection: false\nworkstation_enabled: false\n")
        env = clean_env()
        daemon = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agent", "run", "--config", str(cfg), env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        try:
            for _ in range(3000):  # bounded: until the first checkin and the socket exist
                if cc.checkins(SITE) and (state / "run" / "control.sock").exists():
                    break
                await asyncio.sleep(0.01)

            def preview() -> subprocess.CompletedProcess[str]:
                return subprocess.run(
                    [sys.executable, "-m", "agent", "preview", "--json", "--config", str(cfg)],
                    capture_output=True, text=True, timeout=60, env=env)

            r = await asyncio.to_thread(preview)
            assert r.returncode == 0, r.stderr
            doc = json.loads(r.stdout)
            assert doc["source"].startswith("the next checkin asked of the running daemon")
            chk = doc["checkin"]
            assert chk["status"] == "would_send" and chk["body"]["site_id"] == SITE
            assert chk["body"]["daemon_health"]["uptime_seconds_daemon"] >= 0
        finally:
            daemon.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(daemon.wait(), 60) == 0
        assert not (state / "run" / "control.sock").exists()
        r = await asyncio.to_thread(preview)
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        assert doc["source"].startswith("built from the state directory: no daemon answered")
        assert doc["checkin"]["body"]["site_id"] == SITE
    finally:
        await cc.stop()
        cc.close()
