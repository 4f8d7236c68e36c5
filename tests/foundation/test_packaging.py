"""The Nix package depends on exactly what pyproject.toml lists."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: PyPI distribution name -> nixpkgs python3Packages attribute, where they differ.
NIX_NAMES = {"pyyaml": "pyyaml", "pynacl": "pynacl"}


def _pyproject(extra: str | None = None) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["optional-dependencies"][extra] if extra else project["dependencies"]
    names = {re.split(r"[\s<>=!;\[]", d, maxsplit=1)[0].lower() for d in deps}
    return {NIX_NAMES.get(n, n) for n in names}


def _nix(name: str = "dependencies") -> set[str]:
    text = (ROOT / "nix" / "package.nix").read_text()
    m = re.search(rf"\b{name} = with python3Packages; \[([^\]]*)\]", text)
    assert m is not None, "package.nix has no dependencies list"
    return set(m.group(1).split())


def test_nix_dependencies_match_pyproject() -> None:
    assert _nix() == _pyproject()


def test_nix_hub_dependencies_match_the_hub_extra() -> None:
    assert _nix("hubDependencies") == _pyproject("hub")
