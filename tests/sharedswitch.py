"""Which tests read ``../shared``, and ``--without-shared`` to leave them out.

``../shared`` (the spec's vectors, samples, the developer PHI corpus and its scorer) sits beside
the repository, not in it: a build from the source alone (nix/package.nix's check phase) has no
such directory. Without the option a test that needs it fails when it is missing (the ``shared``
fixture says where it looked); with ``--without-shared`` those tests are deselected and the
modules that read ``../shared`` on import are not collected; the summary counts both.

A test needs ``../shared`` when it uses one of ``SHARED_FIXTURES`` or lives in one of
``NEEDS_SHARED`` (modules and directories that read it themselves). Every such test carries the
``needs_shared`` marker.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OPTION = "--without-shared"
MARK = "needs_shared"
SHARED_FIXTURES = frozenset({"shared", "corpus", "sigauth_vectors", "heartbeat_vectors", "envelope_vectors"})
NEEDS_SHARED = (
    "tests/central/",  # the local Central Command's test client sends samples/checkin_request.json
    "tests/protocol/",  # samples/ and vectors/ throughout, some on import
    "tests/evidence/test_vectors.py",
    "tests/orders/test_vectors.py",
    "tests/phi/test_scorer.py",  # tools/phi_score.py of ../shared
    "tests/phi/test_new_corpus.py",
)
_left_out: list[str] = []


def _listed(path: Path) -> bool:
    try:
        rel = path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return False
    return any(rel == p or rel.startswith(p) or f"{rel}/" == p for p in NEEDS_SHARED)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(OPTION, action="store_true",
                     help="leave out the tests that read ../shared (for builds without it)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARK}: reads ../shared (left out by {OPTION})")


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if config.getoption(OPTION) and _listed(collection_path):
        _left_out.append(collection_path.relative_to(config.rootpath).as_posix())
        return True
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        if SHARED_FIXTURES.intersection(getattr(item, "fixturenames", ())) or _listed(item.path):
            item.add_marker(MARK)
            if config.getoption(OPTION):
                drop.append(item)
                continue
        keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_report_collectionfinish(config: pytest.Config, items: list[pytest.Item]) -> str | None:
    if not config.getoption(OPTION):
        return None
    left_out = ", ".join(sorted(set(_left_out))) or "none"
    return f"{OPTION}: not collected (they read ../shared): {left_out}; the tests that need it deselected"
