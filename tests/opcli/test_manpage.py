"""tools/gen_manpage.py: a groff page generated from the parser, naming every command."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agent.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[str]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.append(" ".join((*path, name)))
                out += _commands(sub, (*path, name))
    return out


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("man") / "msp-agent.8"
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_manpage.py"), "-o", str(out),
                        "--date", "2026-05-20"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return out.read_text()


def test_every_command_and_subcommand_has_a_section(page: str) -> None:
    assert page.startswith('.TH MSP\\-AGENT 8 "2026-05-20"')
    sections = {line[4:].replace("\\-", "-") for line in page.splitlines()
                if line.startswith(".SS ")}
    commands = _commands(build_parser())
    for expected in ("pins clear", "verify state", "journal show", "rules test", "preview",
                     "runbooks show", "evidence verify"):
        assert expected in commands
    assert set(commands) <= sections
    for heading in (".SH NAME", ".SH SYNOPSIS", ".SH GLOBAL OPTIONS", ".SH COMMANDS",
                    ".SH EXIT STATUS"):
        assert heading in page
    assert "\\fB\\-\\-ssh\\fR" in page  # options are listed
    assert all(ord(c) < 128 for c in page)  # non-ASCII is escaped for groff


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff not installed")
def test_groff_renders_it_without_warnings(page: str, tmp_path: Path) -> None:
    src = tmp_path / "msp-agent.8"
    src.write_text(page)
    r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", str(src)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    plain = re.sub(".\x08", "", r.stdout).replace("\u2010", "-")  # no overstrike bold
    assert "pins reset-server-keys" in plain and "journal show" in plain
