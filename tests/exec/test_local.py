"""Local executor (exec.md §7.3)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from agent.exec import ErrorKind, ExecRequest, LocalExecutor, Privilege, Target
from agent.exec.capture import StreamCapture


def hostile(canary: Path) -> str:
    """A parameter value that would run a command (touching ``canary``) if it were interpreted."""
    return f"a'b\"c $(touch {canary}) `id` ; echo x \n next line \\ $HOME"


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().split()[2]


def _exists(p: str) -> bool:
    return os.path.exists(p)


@pytest.fixture
def local(tmp_path: Path) -> LocalExecutor:
    return LocalExecutor(tmp_path / "run")


async def test_hostile_params_not_interpreted(local: LocalExecutor, tmp_path: Path) -> None:
    canary = tmp_path / "pwned"
    res = await local.run(
        Target.local(),
        None,
        ExecRequest(
            'printf "%s" "$(msp_param svc)"',
            deadline_s=20,
            params={"svc": hostile(canary), "n": 3, "b": True, "l": ["x", "y"]},
        ),
    )
    assert res.ok, res.stderr
    assert res.stdout == hostile(canary)
    assert not _exists(str(canary))
    with pytest.raises(ValueError):
        await local.run(Target.local(), None, ExecRequest("true", deadline_s=5, params={"x": "a\x00b"}))
    with pytest.raises(ValueError):
        await local.run(Target.local(), None, ExecRequest("true", deadline_s=5, params={"Bad-Name": "x"}))


async def test_environment_allowlist(local: LocalExecutor, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", "/run/systemd/notify")
    monkeypatch.setenv("WATCHDOG_USEC", "1000")
    monkeypatch.setenv("MSP_API_KEY", "sekret-api-key")
    res = await local.run(Target.local(), None, ExecRequest("env; pwd", deadline_s=20))
    assert res.ok
    for bad in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "sekret-api-key"):
        assert bad not in res.stdout
    assert "TZ=UTC" in res.stdout and f"HOME={local.runtime_dir}" in res.stdout
    assert res.stdout.rstrip().endswith(str(local.runtime_dir))


async def test_deadline_kills_process_group(local: LocalExecutor, tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    script = f"(sleep 600 & echo $! >> {pidfile}; wait) & echo $$ >> {pidfile}; sleep 600"
    res = await local.run(Target.local(), None, ExecRequest(script, deadline_s=1.5))
    assert res.error is not None and res.error.kind is ErrorKind.COMMAND_TIMEOUT
    assert not res.remote_may_be_running
    pids = [int(p) for p in pidfile.read_text().split()]
    assert len(pids) == 2
    await asyncio.sleep(0.2)
    for pid in pids:
        assert not _exists(f"/proc/{pid}") or _state(pid) == "Z"
    assert list((local.runtime_dir / "exec").iterdir()) == []  # script file removed


async def test_background_grandchild_does_not_hold_result(local: LocalExecutor) -> None:
    res = await local.run(Target.local(), None, ExecRequest("sleep 600 & echo started", deadline_s=20))
    assert res.ok and res.stdout == "started\n"


async def test_output_caps(local: LocalExecutor) -> None:
    res = await local.run(
        Target.local(), None, ExecRequest("head -c 20000000 /dev/zero", deadline_s=20, stdout_cap=1 << 20)
    )
    assert res.stdout_truncated and res.error is not None and res.error.kind is ErrorKind.OUTPUT_TRUNCATED
    res = await local.run(
        Target.local(),
        None,
        ExecRequest(
            "echo H; head -c 300000 /dev/zero | tr '\\0' y; echo; echo T", deadline_s=20, stdout_cap=100_000
        ),
    )
    assert res.ok and res.stdout_truncated and res.stdout.startswith("H\n") and res.stdout.endswith("y\nT\n")
    assert "bytes truncated ...]" in res.stdout


async def test_exit_code_and_root_refused(local: LocalExecutor) -> None:
    res = await local.run(Target.local(), None, ExecRequest("echo e >&2; exit 3", deadline_s=20))
    assert res.exit_code == 3 and res.stderr == "e\n" and res.error is not None
    res = await local.run(Target.local(), None, ExecRequest("id", deadline_s=20, privilege=Privilege.ROOT))
    assert res.error is not None and res.error.kind is ErrorKind.PRIVILEGE_FAILED


def test_capture_head_tail_and_lines() -> None:
    lines: list[tuple[str, bool]] = []
    cap = StreamCapture(100, lambda ln, cut: lines.append((ln, cut)))
    cap.feed(b"first\n" + b"a" * 200 + b"\nsecond-last\nlast\n")
    cap.finish()
    text = cap.text()
    assert text.startswith("first\n") and text.endswith("second-last\nlast\n")
    assert cap.truncated and not cap.flooded
    assert lines[0] == ("first", False) and lines[-1] == ("last", False)
    assert ("a" * 200, False) not in lines  # the dropped middle is never delivered
    big = StreamCapture(100)
    assert big.feed(b"x" * 401) is True
    long_lines: list[tuple[str, bool]] = []
    c2 = StreamCapture(1 << 20, lambda ln, cut: long_lines.append((ln[:3], cut)))
    c2.feed(b"z" * (70 * 1024) + b"\nok\n")
    c2.finish()
    assert long_lines == [("zzz", True), ("ok", False)]
