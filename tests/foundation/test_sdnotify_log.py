"""sd_notify protocol details and structured logging (runtime.md §5.1, §7.1)."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from tests.conftest import run_agent

from agent import log as agentlog
from agent.runtime.sdnotify import Notifier


def test_absent_socket_is_a_noop() -> None:
    n = Notifier({})
    assert not n.enabled and n.watchdog_interval is None
    n.ready()
    n.watchdog()
    assert n.sent == 0


def test_path_socket_and_env_removed(tmp_path: Path) -> None:
    path = tmp_path / "n.sock"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(str(path))
    env = {"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "4000000", "OTHER": "x"}
    n = Notifier(env)
    assert env == {"OTHER": "x"}  # never inherited by children
    assert n.watchdog_interval == 4.0
    n.ready("up")
    n.status("a   b\nc")
    n.status("a b c")  # unchanged: not sent again
    n.stopping()
    got = [srv.recv(1024).decode() for _ in range(3)]
    assert got == ["READY=1\nSTATUS=up", "STATUS=a b c", "STOPPING=1"]
    srv.close()
    n.close()


def test_abstract_socket() -> None:
    name = f"msp-agent-test-{os.getpid()}"
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind("\0" + name)
    n = Notifier({"NOTIFY_SOCKET": "@" + name})
    n.watchdog()
    assert srv.recv(64) == b"WATCHDOG=1"
    srv.close()


def test_watchdog_pid_of_another_process_is_not_ours() -> None:
    n = Notifier({"NOTIFY_SOCKET": "/nonexistent", "WATCHDOG_USEC": "1000000",
                  "WATCHDOG_PID": str(os.getpid() + 1)})
    assert n.watchdog_interval is None
    assert not n.send("WATCHDOG=1") and n.errors == 1  # dead socket: counted, never raised


class Captured:
    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys
        self.text = ""

    def getvalue(self) -> str:
        self.text += self.capsys.readouterr().out
        return self.text


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Captured:
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    agentlog.configure("DEBUG", "json")
    return Captured(capsys)


def lines(buf: Captured) -> list[dict[str, object]]:
    return [json.loads(x) for x in buf.getvalue().splitlines()]


def test_json_lines_have_the_common_fields(captured: Captured) -> None:
    agentlog.get_logger("checkin").info("checkin.ok", "checked in", duration_ms=12)
    (rec,) = lines(captured)
    assert list(rec)[:5] == ["ts", "level", "component", "event", "msg"]
    assert rec["level"] == "info" and rec["component"] == "checkin" and rec["duration_ms"] == 12
    assert str(rec["ts"]).endswith("Z") and len(str(rec["ts"])) == 24


def test_tracebacks_stay_on_one_line(captured: Captured) -> None:
    try:
        raise ValueError("line1\nline2")
    except ValueError:
        agentlog.get_logger("x").error("x.fail", "failed", exc=True)
    out = captured.getvalue()
    assert out.count("\n") == 1
    assert "ValueError" in str(lines(captured)[0]["exc"])


def test_registered_secrets_never_appear(captured: Captured) -> None:
    agentlog.register_secret("hunter2-secret-value")
    lg = agentlog.get_logger("x")
    lg.info("x.y", "value hunter2-secret-value here", field="pre-hunter2-secret-value-post")
    text = captured.getvalue()
    assert "hunter2-secret-value" not in text and text.count("[SECRET-REDACTED]") == 2


def test_repeated_warnings_rate_limited(captured: Captured) -> None:
    lg = agentlog.get_logger("rl")
    for _ in range(5):
        lg.warning("scan.failed", "scan failed", host="h1")
    lg.warning("scan.failed", "scan failed", host="h2")
    recs = lines(captured)
    assert [r["host"] for r in recs] == ["h1", "h2"]


def test_distinct_failures_are_each_visible(captured: Captured) -> None:
    """Four different order rejections in one checkin: four lines; the same one again: none."""
    lg = agentlog.get_logger("rl-orders")
    for reason in ("bad_signature", "expired", "wrong_appliance", "bad_signature"):
        lg.warning("orders.rejected", f"order rejected: {reason}", reason=reason, order_id="o-1")
    lg.warning("orders.rejected", "order rejected: expired", reason="expired", order_id="o-2")
    recs = lines(captured)
    assert [(r["reason"], r["order_id"]) for r in recs] == [
        ("bad_signature", "o-1"), ("expired", "o-1"), ("wrong_appliance", "o-1"), ("expired", "o-2")]


def test_mask() -> None:
    assert agentlog.mask("abcdefgh12345678") == "****5678"
    assert agentlog.mask("short") == "****"
    assert agentlog.mask("") == ""


@pytest.mark.parametrize("cmd", [[], ["run"], ["status"], ["keygen"], ["check-config"],
                                 ["version"]])
def test_help_everywhere(cmd: list[str]) -> None:
    r = run_agent(*cmd, "--help")
    assert r.returncode == 0 and "usage: msp-agent" in r.stdout


def test_usage_errors_exit_2() -> None:
    assert run_agent().returncode == 2
    assert run_agent("no-such-command").returncode == 2
    assert run_agent("run", "--bogus").returncode == 2


def test_version_reports_native_core() -> None:
    r = run_agent("version", "--json")
    assert r.returncode == 0
    doc = json.loads(r.stdout)
    from agent import __version__, native
    assert doc["version"] == __version__ and doc["native_core"] is native.NATIVE
    env = dict(os.environ, MSP_AGENT_PURE_PYTHON="1")
    pure = json.loads(run_agent("version", "--json", env=env).stdout)
    assert pure["native_core"] is False and "MSP_AGENT_PURE_PYTHON" in pure["native_reason"]


def test_version_reports_the_ed25519_batch_verifier() -> None:
    from agent.crypto import batch_verifier_status

    in_use, _ = batch_verifier_status()
    doc = json.loads(run_agent("version", "--json").stdout)
    assert doc["ed25519_batch_verifier"]["in_use"] is in_use
    text = run_agent("version").stdout
    assert ("ed25519 batch verifier: native" in text) is in_use
    env = dict(os.environ, MSP_AGENT_PURE_PYTHON="1")
    pure = run_agent("version", env=env).stdout
    assert "ed25519 batch verifier: PyNaCl one by one (disabled by MSP_AGENT_PURE_PYTHON=1)" in pure
