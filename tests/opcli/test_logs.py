"""Logs an operator can act on: every failure says why, no Python reprs in the text format,
scan counts, steady-state checkins at DEBUG with a periodic INFO summary, third-party warnings
through the agent's logger."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tests.fakeclock import FakeClock
from tests.logstate import logging_restored
from tests.orders import signer

import agent.log as agentlog
from agent.logship.source import JournalctlSource
from agent.orders.handlers import HANDLERS, HandlerContext, HandlerError
from agent.orders.verify import Context
from agent.orders.worker import OrderWorker
from agent.scan.component import check_counts, log_scan_result
from agent.scan.model import HostResult


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)

    def read() -> list[dict[str, Any]]:
        return [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]

    with logging_restored():
        agentlog.configure("DEBUG", "json")
        yield read


def test_text_format_has_no_python_reprs(monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    with logging_restored():
        agentlog.configure("DEBUG", "text")
        agentlog.get_logger("scan").info("scan.x", "done", host="pc-01", missing=None,
                                         names=["a", "b"], ok=True, doc={"k": 1},
                                         why="two words", n=3)
    line = capsys.readouterr().out.strip()
    assert line.endswith('scan scan.x: done host=pc-01 missing=- names=["a","b"] ok=true '
                         'doc={"k":1} why="two words" n=3')
    for repr_text in ("None", "['", "True", "{'"):
        assert repr_text not in line


@pytest.mark.parametrize(("value", "text"), [
    (None, "-"), (False, "false"), (1.5, "1.5"), ("a=b", '"a=b"'), ("", '""'),
    (("x", None), '["x",null]'), (b"raw", "raw"), (Path("/p q"), '"/p q"')])
def test_text_values(value: object, text: str) -> None:
    assert agentlog.text_value(value) == text


def test_third_party_warnings_go_through_the_agent_logger(tmp_path: Path) -> None:
    script = textwrap.dedent("""
        import warnings
        import agent.log as L
        L.configure("INFO", "json")
        class CryptographyDeprecationWarning(UserWarning):
            pass
        warnings.warn("TripleDES has been moved to\\n decrepit", CryptographyDeprecationWarning)
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       cwd=tmp_path, env={"PATH": "/usr/bin:/bin"}, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""  # not the raw warnings output
    [line] = [json.loads(x) for x in r.stdout.splitlines()]
    assert line["level"] == "warning" and line["event"] == "python.warning"
    assert line["component"] == "python"
    assert line["category"] == "CryptographyDeprecationWarning"
    assert line["msg"] == "TripleDES has been moved to decrepit"
    assert line["source"].endswith(":7")


T0 = signer.NOW.timestamp()


async def test_a_failed_order_logs_the_reason_sent_to_the_server(tmp_path: Path, logs: Any) -> None:
    posted: list[dict[str, Any]] = []

    async def post(order_id: str, body: dict[str, Any]) -> int:
        posted.append(body)
        return 200

    async def refuses(params: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
        raise HandlerError("disk /var is read-only")

    clk = FakeClock(T0)
    ctx = Context.build(signer.APPLIANCE, signer.SITE, signer.NOW, [signer.KEY.public_hex])
    from datetime import UTC, datetime
    w = OrderWorker(tmp_path, context=lambda: replace(ctx, now=datetime.fromtimestamp(clk.t, UTC)),
                    post=post, site_id=signer.SITE, clock=clk,
                    handlers={**HANDLERS, "sensor_status": refuses})
    o = signer.admin("sensor_status")
    w.submit([o])
    await w.process_pending()
    assert posted[0]["error_message"] == "disk /var is read-only"
    [failed] = [x for x in logs() if x["event"] == "orders.failed"]
    assert failed["level"] == "warning" and failed["reason"] == "disk /var is read-only"
    assert "disk /var is read-only" in failed["msg"] and failed["order_id"] == o["order_id"]


def _script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "fake-journalctl"
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return str(path)


@pytest.mark.parametrize(("body", "expected"), [
    ("exit 1", "journalctl exited 1: failure without a message (no journal files readable"),
    ("echo 'No journal files were found.' >&2; exit 1",
     "journalctl exited 1: No journal files were found."),
    ("kill -9 $$", "journalctl was killed by SIGKILL: no error output"),
    ("exit 42", "journalctl exited 42: no error output"),
])
async def test_journalctl_failure_always_has_a_reason(tmp_path: Path, body: str,
                                                      expected: str) -> None:
    src = JournalctlSource(binary=_script(tmp_path, body))
    with pytest.raises(OSError) as info:
        await src.read(None, 10)
    assert str(info.value).startswith(expected)
    assert not str(info.value).endswith(": ")


def test_scan_logs_pass_fail_unknown_counts(logs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import agent.scan.component as scan_component

    monkeypatch.setattr(scan_component, "log", agentlog.get_logger("scan"))  # fresh rate limit
    res = HostResult("pc-01", "linux", status="complete",
                     checks={"a": "pass", "b": "pass", "c": "drift", "d": "unknown"},
                     started_at=100.0, finished_at=101.5)
    assert check_counts(res) == {"pass": 2, "fail": 1, "unknown": 1}
    log_scan_result(res)
    failed = HostResult("pc-02", "windows", status="failed", error_kind="auth_failed")
    log_scan_result(failed)
    done, bad = logs()
    assert done["level"] == "info" and done["event"] == "scan.host"
    assert (done["passed"], done["failed"], done["unknown"]) == (2, 1, 1)
    assert done["msg"] == "scan complete: 2 pass, 1 fail, 1 unknown" and done["duration_ms"] == 1500
    assert bad["level"] == "warning" and bad["reason"] == "auth_failed"
    assert bad["msg"] == "scan failed: 0 pass, 0 fail, 0 unknown (auth_failed)"


async def test_log_shipping_failure_logs_the_journalctl_reason(
        tmp_path: Path, logs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import agent.outbox.drain as drain
    from agent.logship.shipper import LogShipper
    from agent.phi import make_scrubber

    monkeypatch.setattr(drain, "log", agentlog.get_logger("outbox"))  # fresh rate limit

    async def post(path: str, body: bytes) -> tuple[int, bytes]:
        raise AssertionError("nothing to send")

    src = JournalctlSource(binary=_script(tmp_path, "exit 1"))
    sh = LogShipper(tmp_path / "state", src, site_id="s", hostname=lambda: "h",
                    scrubber=lambda: make_scrubber(key=b"k" * 32))
    assert await sh.tick(post, force=True) == 0
    [line] = [x for x in logs() if x["event"] == "outbox.deferred"]
    assert "journalctl exited 1: failure without a message" in line["msg"]
    assert line["error_kind"].startswith("journal: journalctl exited 1: ")


async def test_heal_outcomes_are_logged_with_their_reason(tmp_path: Path, logs: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.healing.fakes import MemorySink
    from tests.healing.test_l2_pipeline import PLAN, RunbookHost, Server, _incident, _pipeline

    import agent.healing.pipeline as pipeline

    # A fresh logger: warnings are rate-limited per logger, and other tests escalate too.
    monkeypatch.setattr(pipeline, "log", agentlog.get_logger("healing"))

    manual = _pipeline(tmp_path / "a", Server(PLAN), RunbookHost(), MemorySink(),
                       settings={"mode": lambda: "manual"})
    assert (await manual.handle(_incident())).stage == "escalated"
    healed = _pipeline(tmp_path / "b", Server(PLAN), RunbookHost(), MemorySink())
    assert (await healed.handle(_incident())).stage == "healed"
    events = {x["event"]: x for x in logs()}
    assert events["heal.escalated"]["msg"] == "incident escalated to L3: approval_required"
    assert events["heal.escalated"]["host"] == "10.0.0.5"
    ok = events["heal.healed"]
    assert ok["level"] == "info" and ok["runbook_id"] == "LIN-PERM-001"
    assert ok["host"] == "10.0.0.5" and ok["msg"].endswith("healed by LIN-PERM-001")
