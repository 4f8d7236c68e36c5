"""The Nix package depends on exactly what pyproject.toml lists."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: PyPI distribution name -> nixpkgs python3Packages attribute, where they differ.
NIX_NAMES = {"pyyaml": "pyyaml", "pynacl": "pynacl"}


def _pyproject() -> set[str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {re.split(r"[\s<>=!;\[]", d, maxsplit=1)[0].lower() for d in deps}
    return {NIX_NAMES.get(n, n) for n in names}


def _nix() -> set[str]:
    text = (ROOT / "nix" / "package.nix").read_text()
    m = re.search(r"dependencies = with python3Packages; \[([^\]]*)\]", text)
    assert m is not None, "package.nix has no dependencies list"
    return set(m.group(1).split())


def test_nix_dependencies_match_pyproject() -> None:
    assert _nix() == _pyproject()
