"""The packaged runbooks' parse index (``runbooks/index.json``): in step with the YAML, the same
registry with or without it, used only for a file whose hash it knows."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agent.runbooks import registry as reg
from agent.runbooks.registry import DATA_DIR, RunbookRegistry, load_index, load_runbook

ROOT = Path(__file__).resolve().parents[2]


def test_the_checked_in_index_is_in_step_with_the_runbooks() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_runbook_index.py"), "--check"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert set(load_index()) == {d.name for d in reg.runbook_dirs()}


def test_the_registry_is_the_same_with_the_index_and_no_yaml_is_parsed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = {d.name: load_runbook(d) for d in reg.runbook_dirs()}  # every file parsed

    def no_yaml(raw: bytes) -> Any:
        raise AssertionError("a packaged runbook.yaml was parsed although the index knows it")

    monkeypatch.setattr(reg, "load_yaml12", no_yaml)
    loaded = RunbookRegistry.load()
    assert loaded.refused == {}
    assert {rb.id: rb for rb in loaded} == parsed


def test_an_edited_runbook_is_parsed_not_taken_from_the_index(tmp_path: Path) -> None:
    src = DATA_DIR / "APPL-JOURNAL-001"
    copy = tmp_path / src.name
    shutil.copytree(src, copy)
    text = (copy / "runbook.yaml").read_text()
    old = load_runbook(src).name
    (copy / "runbook.yaml").write_text(text.replace(old, old + " (edited)", 1))
    assert load_runbook(copy, load_index()).name == old + " (edited)"


@pytest.mark.parametrize("content", [b"", b"{not json", b'{"format": 99, "runbooks": {}}',
                                     b'{"format": 1, "runbooks": {"X": {"sha256": 1}}}'])
def test_a_missing_or_damaged_index_means_everything_is_parsed(tmp_path: Path,
                                                               content: bytes) -> None:
    path = tmp_path / "index.json"
    assert load_index(path) == {}  # missing
    path.write_bytes(content)
    assert load_index(path) == {}
