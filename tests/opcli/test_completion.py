"""Shell completion through argcomplete (optional): enable_completion completes commands,
subcommands and options of the real parser."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("argcomplete")

SCRIPT = """
from agent.cli import main
main([])
print("not completing")
"""  # cli.main hands the parser to argcomplete when a shell asks (_ARGCOMPLETE)


def complete(tmp_path: Path, line: str) -> list[str]:
    out = tmp_path / "completions"
    env = {**os.environ, "_ARGCOMPLETE": "1", "COMP_LINE": line, "COMP_POINT": str(len(line)),
           "_ARGCOMPLETE_STDOUT_FILENAME": str(out), "_ARGCOMPLETE_IFS": "\n",
           "_ARGCOMPLETE_SUPPRESS_SPACE": "0"}
    r = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                       timeout=120)
    assert "not completing" not in r.stdout, r.stderr
    return sorted(x.strip() for x in out.read_text().splitlines() if x.strip())


def test_completes_commands_subcommands_and_options(tmp_path: Path) -> None:
    assert complete(tmp_path, "msp-agent p") == ["pins", "preview", "provision"]
    assert {"journal", "verify", "rules", "runbooks"} <= set(complete(tmp_path, "msp-agent "))
    assert [c for c in complete(tmp_path, "msp-agent pins ") if not c.startswith("-")] == [
        "clear", "list", "reset-server-keys"]
    assert "--ssh" in complete(tmp_path, "msp-agent pins clear --s")
    assert complete(tmp_path, "msp-agent verify st") == ["state"]


def test_without_argcomplete_it_is_a_no_op(tmp_path: Path) -> None:
    blocker = tmp_path / "argcomplete.py"
    blocker.write_text("raise ImportError('not installed')\n")
    code = ("from agent.cli import build_parser\n"
            "from agent.commands._operator import enable_completion\n"
            "print(enable_completion(build_parser()))\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.stdout.strip() == "False", r.stderr
