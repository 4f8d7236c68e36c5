"""Every PowerShell script the agent sends (the Windows scan and every runbook phase) parses with a
real PowerShell grammar (tree-sitter's). There is no ``pwsh`` on the build machines, so this is the
syntax gate that catches a typo before a clinic's server does."""

from __future__ import annotations

from pathlib import Path

import pytest
import tree_sitter
import tree_sitter_powershell

SRC = Path(__file__).resolve().parents[2] / "src" / "agent"
SCRIPTS = sorted(SRC.rglob("*.ps1"))


def syntax_errors(text: bytes) -> list[tuple[int, str]]:
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))
    errors: list[tuple[int, str]] = []
    stack = [parser.parse(text).root_node]
    while stack:
        node = stack.pop()
        if node.type == "ERROR" or node.is_missing:
            errors.append((node.start_point[0] + 1, text[node.start_byte : node.end_byte][:60].decode()))
        stack.extend(node.children)
    return sorted(errors)


def test_the_gate_sees_errors() -> None:
    assert syntax_errors(b"if ($x -eq 1 { Write-Output 'x' }\n")
    assert syntax_errors(b"$r = @{ a = 1; b = \n")
    assert syntax_errors(b"Get-Item 'C:\\x' | Where-Object { $_.Length -gt 0 }\n") == []


def test_every_script_is_found() -> None:
    names = {p.relative_to(SRC).as_posix() for p in SCRIPTS}
    assert "scan/scripts/windows_scan.ps1" in names
    runbooks = {n.split("/")[2] for n in names if n.startswith("runbooks/data/")}
    assert len(runbooks) >= 20


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.relative_to(SRC).as_posix() for p in SCRIPTS])
def test_script_parses(path: Path) -> None:
    assert syntax_errors(path.read_bytes()) == []
