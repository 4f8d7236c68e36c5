"""The shared scorer on the developer corpus, for both implementations (phi.md §7)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from tests.phi.conftest import CORPUS, SCORER

from agent import native


def score(*flags: str) -> dict[str, float]:
    cmd = [sys.executable, str(SCORER), str(CORPUS), "--",
           sys.executable, "-m", "agent.commands.scrub", *flags]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=600)
    last = proc.stdout.strip().splitlines()[-1]
    return {k: float(v) for k, v in re.findall(r"(\w+)=([0-9.]+)", last)}


@pytest.mark.parametrize("impl", ["reference", "native"])
def test_scorer_targets(impl: str) -> None:
    if not SCORER.is_file():
        pytest.fail(f"scorer not found at {SCORER}")
    if impl == "native" and not native.NATIVE:
        pytest.skip(f"native core not in use: {native.STATUS.reason}")
    result = score(*(["--pure"] if impl == "reference" else []))
    assert result["recall"] >= 0.99
    assert result["benign_exact"] >= 0.995
    assert result["keep"] >= 0.99
