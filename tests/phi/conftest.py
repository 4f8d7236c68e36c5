"""Fixtures of the PHI tests: the developer corpus, both scanners, fixed-key scrubbers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent import native
from agent.phi import make_scrubber
from agent.phi.scrubber import ReferenceScanner, Scanner, Scrubber

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
CORPUS = SHARED / "corpus" / "phi-dev.jsonl"
SCORER = SHARED / "tools" / "phi_score.py"
KEY = bytes(range(32))


def load_corpus() -> list[dict[str, Any]]:
    with CORPUS.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="session")
def corpus() -> list[dict[str, Any]]:
    if not CORPUS.is_file():
        pytest.fail(f"developer corpus not found at {CORPUS}")
    return load_corpus()


def native_scanner() -> Scanner:
    if not native.NATIVE:
        pytest.skip(f"native core not in use: {native.STATUS.reason}")
    from agent.phi.native_scan import NativeScanner

    return NativeScanner()


@pytest.fixture(scope="session")
def nat() -> Scanner:
    return native_scanner()


@pytest.fixture(scope="session")
def ref() -> Scanner:
    return ReferenceScanner()


@pytest.fixture(params=["reference", "native"])
def scrubber(request: pytest.FixtureRequest) -> Scrubber:
    """A scrubber with a fixed key, once per implementation."""
    if request.param == "native":
        return Scrubber(native_scanner(), make_scrubber(key=KEY).tokenizer)
    return make_scrubber(key=KEY, pure=True)


def assert_scrubbed(out: str, gone: list[str], kept: list[str]) -> None:
    """Every value of ``gone`` is gone from ``out``, every piece of ``kept`` is still there."""
    for value in gone:
        assert value not in out, out
    for value in kept:
        assert value in out, out
