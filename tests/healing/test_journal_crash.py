"""Write-ahead journal: kill -9 mid-heal, then replay (healing.md §4.6)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from agent.exec import LocalExecutor, Target
from agent.healing.journal import HealingJournal
from agent.healing.pipeline import GateState, HealingPipeline
from agent.rules import RuleEngine
from agent.runbooks.registry import RunbookRegistry

from .fakes import MemorySink

META = """id: TST-CRASH-001
name: crash test
description: remediate writes a marker then hangs until killed
platform: linux
check_types: [linux_file_permissions]
hipaa_controls: []
privilege: none
version: "1"
params:
  - {name: marker, type: string, required: true, pattern: '/[A-Za-z0-9._/-]+'}
verify_assert:
  - {field: observed.marker, operator: eq, value: present}
"""
DETECT = """m=$(msp_param marker); echo hang > "$m.detecting"; sleep 60
printf 'MSP_RESULT {"phase":"detect","drifted":true,"observed":{}}\\n'
"""
REMEDIATE = """m=$(msp_param marker); echo fixed > "$m"; echo x > "$m.ready"; sleep 60
printf 'MSP_RESULT {"phase":"remediate","status":"ok","changed":true,"actions":[],"reason":""}\\n'
"""
VERIFY = """m=$(msp_param marker); s=absent; [ -f "$m" ] && s=present
v=false; [ "$s" = present ] && v=true
printf 'MSP_RESULT {"phase":"verify","verified":%s,"observed":{"marker":"%s"}}\\n' "$v" "$s"
"""


def _registry(root: Path) -> Path:
    d = root / "runbooks" / "TST-CRASH-001"
    d.mkdir(parents=True)
    for name, text in (
        ("runbook.yaml", META),
        ("detect.sh", DETECT),
        ("remediate.sh", REMEDIATE),
        ("verify.sh", VERIFY),
    ):
        (d / name).write_text(text)
    return root / "runbooks"


def _crash(tmp_path: Path, phases: str, wait_for: str) -> tuple[Path, Path, Path]:
    state = tmp_path / "state"
    (state / "run").mkdir(parents=True)
    rb = _registry(tmp_path)
    marker = tmp_path / "marker"
    child = Path(__file__).with_name("_crash_child.py")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, str(child), str(state), str(rb), str(marker), phases],
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not Path(str(marker) + wait_for).exists():
            assert proc.poll() is None, "child exited early"
            assert time.monotonic() < deadline, "child never reached the phase"
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # kill -9 the agent and its script
        proc.wait()
    return state, rb, marker


def _pipeline(state: Path, rb: Path, sink: MemorySink) -> HealingPipeline:
    journal = HealingJournal(state)
    return HealingPipeline(
        site_id="s",
        appliance_id=lambda: "a",
        engine=RuleEngine(),
        registry=RunbookRegistry.load(rb),
        journal=journal,
        sink=sink,
        gates=GateState(),
        credentials=lambda host: (Target.local(), None) if host == "localhost" else None,
        executor_for=lambda _t: LocalExecutor(state / "run"),
    )


def _events(state: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (state / "healing_journal.jsonl").read_text().splitlines()]


async def test_kill9_during_remediate_reverifies(tmp_path: Path) -> None:
    state, rb, _ = _crash(tmp_path, "remediate,verify", ".ready")
    evs = _events(state)
    assert [e["event"] for e in evs] == ["begin", "phase_begin"]  # durable before the command ran
    assert evs[1]["phase"] == "remediate"
    jpath = state / "healing_journal.jsonl"
    jpath.write_bytes(jpath.read_bytes() + b'{"seq": 99, "heal_id": "partial')  # torn write
    sink = MemorySink()
    pipe = _pipeline(state, rb, sink)
    open_heals = pipe.journal.open()
    assert len(open_heals) == 1 and open_heals[0].remediate_started
    outs = await pipe.replay(open_heals)
    assert [o.outcome for o in outs] == ["healed_after_restart"]
    assert sink.kinds() == ["execution", "resolve"]
    ends = [e for e in _events(state) if e["event"] == "end"]
    assert ends[-1]["outcome"] == "healed_after_restart"
    assert pipe.journal.open() == []  # nothing left open, trailing garbage gone


async def test_kill9_remediate_not_effective_fails(tmp_path: Path) -> None:
    state, rb, marker = _crash(tmp_path, "remediate,verify", ".ready")
    marker.unlink()  # the change did not stick
    sink = MemorySink()
    pipe = _pipeline(state, rb, sink)
    outs = await pipe.replay(pipe.journal.open())
    assert outs[0].outcome == "failed" and outs[0].error == "not_verified"
    assert sink.kinds() == ["execution"]
    assert sink.items[0][1]["execution"]["success"] is False


async def test_kill9_during_detect_is_interrupted(tmp_path: Path) -> None:
    state, rb, marker = _crash(tmp_path, "detect,remediate,verify", ".detecting")
    sink = MemorySink()
    pipe = _pipeline(state, rb, sink)
    outs = await pipe.replay(pipe.journal.open())
    assert [o.outcome for o in outs] == ["interrupted"]
    assert not marker.exists() and sink.items == []


async def test_replay_unknown_runbook_is_crashed(tmp_path: Path) -> None:
    state, rb, _ = _crash(tmp_path, "remediate,verify", ".ready")
    sink = MemorySink()
    pipe = _pipeline(state, rb, sink)
    pipe.credentials = lambda host: None  # host no longer known
    outs = await pipe.replay(pipe.journal.open())
    assert outs[0].outcome == "crashed" and sink.kinds() == ["execution"]


@pytest.mark.parametrize("mode", [0o600])
def test_journal_mode(tmp_path: Path, mode: int) -> None:
    j = HealingJournal(tmp_path)
    j.open()
    j.append("h", "suppressed", durable=False, reason="x" * 5000)
    j.close()
    assert (tmp_path / "healing_journal.jsonl").stat().st_mode & 0o777 == mode
    assert len(_events(tmp_path)[0]["reason"]) == 2000
