"""Runtime per runtime.md §4–§6: a real child process, real signals, a real notify socket."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import Install, clean_env, run_agent
from tests.foundation.agentproc import AgentProcess, NotifySocket


@pytest.fixture
def notify(tmp_path: Path) -> Iterator[NotifySocket]:
    sock = NotifySocket(tmp_path / "notify.sock")
    yield sock
    sock.close()


@pytest.fixture
def procs() -> Iterator[list[AgentProcess]]:
    started: list[AgentProcess] = []
    yield started
    for p in started:
        p.kill()


def kinds(messages: list[str]) -> list[str]:
    out = []
    for m in messages:
        for line in m.split("\n"):
            key = line.split("=", 1)[0]
            if key in ("READY", "WATCHDOG", "STOPPING", "RELOADING"):
                out.append(key)
    return out


def test_notify_ready_watchdog_stopping_in_order_and_sigterm_exit_0(
        install: Install, notify: NotifySocket, procs: list[AgentProcess]) -> None:
    agent = AgentProcess(install.config, notify, watchdog_usec=2_000_000)
    procs.append(agent)
    notify.wait_for("READY=1")
    notify.wait_for("WATCHDOG=1")
    notify.wait_for("WATCHDOG=1")
    agent.proc.send_signal(signal.SIGTERM)
    code = agent.wait(timeout=25)  # the budget is shutdown_timeout_s = 20 (+ interpreter exit)
    assert code == 0, agent.stderr()
    assert agent.wait_event("agent.stopped")["clean"] is True
    seq = kinds(notify.drain(0.2))
    assert seq[0] == "READY" and seq[-1] == "STOPPING"
    assert seq.count("WATCHDOG") >= 2 and seq.index("WATCHDOG") > seq.index("READY")
    assert "agent.stopped" in agent.events()
    status = [m for m in notify.drain() if m.startswith("STATUS=")]
    assert status and all(len(m) <= len("STATUS=") + 200 for m in status)


def test_sigint_also_stops_cleanly(install: Install, notify: NotifySocket,
                                   procs: list[AgentProcess]) -> None:
    agent = AgentProcess(install.config, notify)
    procs.append(agent)
    notify.wait_for("READY=1")
    agent.proc.send_signal(signal.SIGINT)
    assert agent.wait(timeout=25) == 0


def test_sighup_with_broken_config_keeps_the_old_one(install: Install, notify: NotifySocket,
                                                     procs: list[AgentProcess]) -> None:
    agent = AgentProcess(install.config, notify)
    procs.append(agent)
    notify.wait_for("READY=1")
    install.config.write_text(install.config.read_text() + "poll_interval: [broken\n")
    agent.proc.send_signal(signal.SIGHUP)
    rejected = agent.wait_event("config.reload_rejected")
    assert rejected["level"] == "error"
    notify.wait_for("RELOADING=1")
    msg = notify.wait_for("READY=1")
    assert "reload rejected" in msg
    # The daemon is still alive on the old configuration and still heals the watchdog.
    assert agent.proc.poll() is None
    # A valid config with a changed hot key is then applied.
    install.write_config(poll_interval=15, log_level="DEBUG")
    agent.proc.send_signal(signal.SIGHUP)
    reloaded = agent.wait_event("config.reloaded")
    assert set(reloaded["changed"]) == {"poll_interval", "log_level"}
    # Restart-only keys are reported, not applied.
    install.write_config(poll_interval=15, log_level="DEBUG", site_id="another-site")
    agent.proc.send_signal(signal.SIGHUP)
    restart = agent.wait_event("config.restart_required")
    assert restart["keys"] == ["site_id"]
    agent.proc.send_signal(signal.SIGTERM)
    assert agent.wait(timeout=25) == 0


def test_status_json_written_and_status_command(install: Install, procs: list[AgentProcess]) -> None:
    agent = AgentProcess(install.config)
    procs.append(agent)
    agent.wait_event("agent.ready")
    status_file = install.state / "run" / "status.json"
    deadline = time.monotonic() + 15
    while not status_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    doc = json.loads(status_file.read_text())
    assert doc["pid"] == agent.proc.pid and doc["state"] == "running"
    assert doc["process"]["rss_bytes"] > 0 and "checkin" in doc["supervisor"]["jobs"]
    text = status_file.read_text()
    assert "test-api-key-0123456789" not in text
    assert oct(os.stat(status_file).st_mode & 0o777) == "0o640"
    # No Central Command at the configured endpoint: running, but degraded until a checkin works.
    r = run_agent("status", "--json", "--config", str(install.config))
    assert r.returncode == 1, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert doc["running"] is True and doc["healthy"] is False
    assert any(p.startswith("no successful checkin since start") for p in doc["problems"])
    agent.proc.send_signal(signal.SIGTERM)
    assert agent.wait(timeout=25) == 0
    r = run_agent("status", "--config", str(install.config))
    assert r.returncode == 3 and "not running" in r.stdout


def test_status_offline_shows_lost_trust_and_the_order_epoch(install: Install) -> None:
    r = run_agent("status", "--json", "--config", str(install.config))
    doc = json.loads(r.stdout)
    assert doc["server_keys_need_reseed"] is False and doc["order_records_epoch"] is None
    install.state.mkdir(mode=0o700, exist_ok=True)
    (install.state / "server_keys.reseed").write_text("{}")
    (install.state / "order_records.epoch").write_text('{"epoch": "2026-05-20T15:01:00Z"}')
    r = run_agent("status", "--json", "--config", str(install.config))
    doc = json.loads(r.stdout)
    assert r.returncode == 3 and doc["server_keys_need_reseed"] is True
    assert doc["order_records_epoch"] == "2026-05-20T15:01:00Z"


def test_run_once_without_central_exits_1_and_never_leaks_the_api_key(install: Install) -> None:
    r = run_agent("run", "--once", "--config", str(install.config), "--log-level", "DEBUG")
    assert r.returncode == 1, r.stderr  # the checkin failed (nothing listens at the endpoint)
    events = [json.loads(line)["event"] for line in r.stdout.splitlines()]
    assert "agent.start" in events and "agent.ready" in events and events[-1] == "agent.stopped"
    assert events.index("agent.start") < events.index("agent.ready")
    assert "test-api-key-0123456789" not in r.stdout + r.stderr


def test_journald_priority_prefix(install: Install) -> None:
    r = run_agent("run", "--once", "--config", str(install.config),
                  env=clean_env(JOURNAL_STREAM="8:12345"))
    assert r.returncode == 1  # no Central Command: the checkin failed
    assert any(line.startswith("<3>{") for line in r.stdout.splitlines())  # agent.once_failed
    assert all(line[:4] in ("<6>{", "<4>{", "<3>{") for line in r.stdout.splitlines())


def test_text_log_format(install: Install) -> None:
    r = run_agent("run", "--once", "--config", str(install.config), "--log-format", "text")
    assert r.returncode == 1  # no Central Command: the checkin failed
    assert "INFO    runtime agent.start:" in r.stdout


def test_config_error_exits_2_before_touching_state(install: Install) -> None:
    install.config.write_text(f"site_id: s\nstate_dir: {install.state}\n")
    r = run_agent("run", "--config", str(install.config))
    assert r.returncode == 2
    assert r.stderr.strip() == "msp-agent: config: api_key: is required and must not be empty"
    assert not install.state.exists()


def test_second_sigterm_forces_exit_1_quickly(install: Install, notify: NotifySocket,
                                              procs: list[AgentProcess], tmp_path: Path) -> None:
    """A job that ignores its deadline: the first SIGTERM waits, the second exits 1 within 2 s."""
    hook = tmp_path / "slow_component.py"
    hook.write_text(SLOW_COMPONENT)
    agent = AgentProcess(install.config, notify,
                         env={"PYTHONPATH": str(tmp_path)},
                         extra_component="slow_component:SlowFinisher")
    procs.append(agent)
    notify.wait_for("READY=1")
    agent.wait_event("slow.started")
    agent.proc.send_signal(signal.SIGTERM)
    agent.wait_event("agent.stopping")
    time.sleep(0.5)
    assert agent.proc.poll() is None  # still letting the in-flight job finish
    agent.proc.send_signal(signal.SIGTERM)
    # The in-flight job sleeps 300 s and ~19 s of the shutdown budget remain: exiting within
    # this wait proves the second signal skipped both and went straight to the flush.
    code = agent.wait(timeout=10)
    assert code == 1
    assert "agent.forced_stop" in agent.events()


def test_crashing_task_is_restarted_with_backoff(install: Install, procs: list[AgentProcess],
                                                 tmp_path: Path) -> None:
    hook = tmp_path / "slow_component.py"
    hook.write_text(SLOW_COMPONENT)
    agent = AgentProcess(install.config,
                         env={"PYTHONPATH": str(tmp_path)},
                         extra_component="slow_component:Crasher")
    procs.append(agent)
    first = agent.wait_event("task.crashed", timeout=20)
    second = agent.wait_event("task.crashed", timeout=20, count=2)
    assert "Traceback" in first["exc"] and "boom" in first["exc"]
    gap = _ts(second["ts"]) - _ts(first["ts"])
    assert gap >= 0.9  # 1 s backoff before the first restart
    agent.proc.send_signal(signal.SIGTERM)
    assert agent.wait(timeout=25) == 0


def _ts(text: str) -> float:
    from datetime import datetime
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


SLOW_COMPONENT = '''
import asyncio
from agent.log import get_logger
from agent.jobs import BaseComponent, Job

log = get_logger("slow")


class SlowFinisher(BaseComponent):
    """A job that must be allowed to finish at shutdown, and takes far too long."""
    name = "slow"

    def install(self, supervisor):
        supervisor.add_job(Job(name="slow", run=self.run, delay=lambda: 3600.0, deadline=600.0,
                               on_shutdown="finish"))
        asyncio.get_running_loop().call_soon(supervisor.run_job_now, "slow")

    async def run(self):
        log.info("slow.started", "slow job started")
        await asyncio.sleep(300)


class Crasher(BaseComponent):
    name = "crasher"

    def install(self, supervisor):
        supervisor.spawn("crasher", self.run)

    async def run(self):
        await asyncio.sleep(0.05)
        raise RuntimeError("boom")
'''


@pytest.mark.parametrize("checkin,expected", [
    ({"breaker": "closed", "successes": 1}, 0),
    ({"breaker": "open", "successes": 1, "last_error_kind": "timeout"}, 1),
    ({"breaker": "closed", "successes": 1, "tls_pin_alert": "tls pin mismatch"}, 1),
    ({"breaker": "closed", "successes": 0, "last_error_kind": "connect"}, 1),
    ({"breaker": "half_open", "successes": 3}, 1),
])
def test_status_degraded_when_central_unreachable_or_alerting(
        install: Install, checkin: dict[str, object], expected: int) -> None:
    """A status file written by a live process (this test's) is read and judged."""
    from datetime import UTC, datetime

    run_dir = install.state / "run"
    run_dir.mkdir(parents=True)
    (install.state / "agent.lock").write_text(f"{os.getpid()}\n")
    doc = {"pid": os.getpid(), "state": "running", "state_dir": str(install.state),
           "written_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
           "degraded_reason": "", "checkin": checkin}
    (run_dir / "status.json").write_text(json.dumps(doc))
    r = run_agent("status", "--config", str(install.config))
    assert r.returncode == expected, r.stdout
    assert r.stdout.splitlines()[0].startswith("msp-agent: degraded") == bool(expected)


def test_the_daemon_writes_the_prometheus_file_with_its_status(install: Install) -> None:
    prom = install.root / "metrics" / "msp_agent.prom"
    prom.parent.mkdir()
    install.write_config(metrics_textfile=str(prom))
    r = run_agent("run", "--once", "--config", str(install.config))
    assert r.returncode == 1, r.stderr  # no Central Command: the checkin failed
    text = prom.read_text()
    assert "# TYPE" in text and "msp_agent_" in text
    assert "test-site" not in text and "127.0.0.1" not in text  # figures only
    assert not [p for p in prom.parent.iterdir() if p.name != prom.name]  # no temp file left
