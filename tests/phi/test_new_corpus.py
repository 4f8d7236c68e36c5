"""Issue 17 families: the generated corpus scored for both implementations, and a property test
(random PHI of every family inside random benign log text never survives)."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.phi.conftest import SCORER

from agent import native
from agent.phi.scrubber import Scrubber

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import gen_phi_corpus  # noqa: E402 - tools/ is put on the path above

KEY_HEX = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
PREFIXES = ["", "Jan 12 10:00:01 ws01 agent[4411]: ", "ERROR ", "[ingest] ", "warn: retry 3: "]
SUFFIXES = ["", " (code 0x2C400B95)", "; host=10.0.0.5", " after 3 tries", "."]


@pytest.mark.parametrize("impl", ["reference", "native"])
def test_generated_corpus_scores(tmp_path: Path, impl: str) -> None:
    if impl == "native" and not native.NATIVE:
        pytest.skip(f"native core not in use: {native.STATUS.reason}")
    corpus, key = tmp_path / "phi17.jsonl", tmp_path / "key"
    key.write_text(KEY_HEX, encoding="ascii")
    gen = ROOT / "tools" / "gen_phi_corpus.py"
    subprocess.run([sys.executable, str(gen), "--count", "1500", str(corpus)], check=True)
    cmd = [sys.executable, str(SCORER), str(corpus), "--", sys.executable, "-m",
           "agent.commands.scrub", "--key-file", str(key), *(["--pure"] if impl == "reference" else [])]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=600).stdout
    got = {k: float(v) for k, v in re.findall(r"(\w+)=([0-9.]+)", out.strip().splitlines()[-1])}
    assert got["recall"] >= 0.995 and got["benign_exact"] >= 0.995 and got["keep"] >= 0.99, out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(family=st.sampled_from(sorted(gen_phi_corpus.families())), seed=st.integers(0, 2**32),
       prefix=st.sampled_from(PREFIXES), suffix=st.sampled_from(SUFFIXES))
def test_phi_never_survives(scrubber: Scrubber, family: str, seed: int, prefix: str,
                            suffix: str) -> None:
    text, phi, _ = gen_phi_corpus.families()[family](random.Random(seed))
    line = prefix + text + suffix
    out = scrubber.scrub(line)
    for _, value in phi:
        assert value not in out, (line, out)
    if not phi:
        assert out == line
