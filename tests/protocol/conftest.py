"""Shared fixtures: the read-only specs, vectors and samples in ``../shared``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
SAMPLES = SHARED / "samples"
VECTORS = SHARED / "vectors"

SAMPLE_FILES = [
    "checkin_request.json",
    "checkin_request_large.json",
    "checkin_response.json",
    "checkin_response_large.json",
]


def load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def compact(path: Path) -> bytes:
    """The sample serialized compactly: keys in file order, separators ',' ':', UTF-8."""
    return json.dumps(load_json(path), separators=(",", ":"), ensure_ascii=False).encode()


@pytest.fixture(scope="session")
def sigauth_vectors() -> Any:
    return load_json(VECTORS / "sigauth.json")


@pytest.fixture(scope="session")
def heartbeat_vectors() -> Any:
    return load_json(VECTORS / "heartbeat.json")


@pytest.fixture(scope="session")
def envelope_vectors() -> Any:
    return load_json(VECTORS / "envelope.json")
