"""The server's healing switch file: one reader; a damaged file is the safe value (off), reported,
and never crashes a heal worker (issue: non-UTF-8 ``healing_enabled`` crash-looped them)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from agent.healing.pipeline import GateState
from agent.state.healing_switch import HEALING_FILE, healing_switch


@pytest.mark.parametrize(("content", "on"), [
    (None, True), (b"true\n", True), (b"TRUE", True), (b"false\n", False),
    (b"\xff\xfe\x00garbage", False), (b"", False), (b"maybe", False),
])
def test_switch_values(tmp_path: Path, content: bytes | None, on: bool) -> None:
    if content is not None:
        (tmp_path / HEALING_FILE).write_bytes(content)
    assert healing_switch(tmp_path) is on
    assert GateState(state_dir=tmp_path).server_disabled() is (not on)


def test_a_damaged_switch_is_reported_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / HEALING_FILE).write_bytes(b"\x80\x81 not utf-8 " + tmp_path.name.encode())
    with caplog.at_level(logging.ERROR):
        for _ in range(3):
            assert healing_switch(tmp_path) is False
    assert [r.message for r in caplog.records].count(
        f"{HEALING_FILE} is neither 'true' nor 'false'; healing stays off until the server sends "
        "enable_healing or the file is fixed") == 1


def test_an_unreadable_switch_is_off(tmp_path: Path) -> None:
    (tmp_path / HEALING_FILE).mkdir()  # reading it fails with an OSError that is not "missing"
    assert healing_switch(tmp_path) is False
