"""The Nix package depends on exactly what pyproject.toml lists; its check phase leaves out the
tests that read ../shared (``--without-shared``, tests/sharedswitch.py), which does what it says."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
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


def _check_phase_flags() -> list[str]:
    text = (ROOT / "nix" / "package.nix").read_text()
    m = re.search(r"pytestFlagsArray = \[([^\]]*)\]", text)
    assert m is not None, "package.nix has no pytestFlagsArray"
    return re.findall(r'"([^"]*)"', m.group(1))


def test_nix_check_phase_leaves_out_the_tests_that_need_shared() -> None:
    flags = _check_phase_flags()
    assert "--without-shared" in flags  # ../shared is not in the Nix source
    paths = [f for f in flags if not f.startswith("-")]
    assert paths, "the check phase names the suites it runs"
    for path in paths:
        assert (ROOT / path.split("::")[0]).exists(), path


def _tree_without_shared(tmp_path: Path) -> Path:
    """A copy of the tests and pyproject.toml with no ../shared beside it."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "tests", repo / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", repo / "pyproject.toml")
    assert not (repo / ".." / "shared").exists()
    return repo


def _pytest(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                          cwd=repo, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})


def test_without_shared_deselects_what_reads_it(tmp_path: Path) -> None:
    repo = _tree_without_shared(tmp_path)
    uses_fixture = "tests/foundation/test_state.py::test_keygen_cli"  # the `shared` fixture
    failed = _pytest(repo, uses_fixture)
    assert failed.returncode != 0 and "../shared not found" in failed.stdout
    # tests/evidence holds test_vectors.py, which reads ../shared on import (a collection error)
    ok = _pytest(repo, "--without-shared", "--collect-only", "tests/evidence",
                 "tests/foundation/test_state.py")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    ids = [line for line in ok.stdout.splitlines() if "::" in line]
    assert not [i for i in ids if "test_keygen_cli" in i or "test_vectors.py" in i]
    assert any("test_state.py::" in i for i in ids) and any("tests/evidence/" in i for i in ids)
    assert re.search(r"\(\d+ deselected\)", ok.stdout), ok.stdout
    [report] = [line for line in ok.stdout.splitlines() if line.startswith("--without-shared: ")]
    assert "tests/evidence/test_vectors.py" in report
