"""PHI scrubbing: the agent's native scrubber, one thread (the daemon's configuration), against
the Go daemon's 14 regular expressions (bench/go/baseline/phi.go), on the same texts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from agent.phi import make_scrubber
from agent.phi.scrubber import Scrubber
from bench.conftest import GoBaseline
from bench.inputs import PHI_CLEAN, PHI_HIT, phi_lines

pytestmark = pytest.mark.benchmark(group="PHI")
KEY = bytes(range(32))


@pytest.fixture(scope="module")
def scrubber() -> Iterator[Scrubber]:
    s = make_scrubber(key=KEY)
    if s.implementation == "native":
        from agent.phi import native_scan

        native_scan.set_parallel(False)  # one thread, as the daemon runs (runtime.md §1)
    yield s


def test_scrub_corpus_lines(benchmark: Any, go: GoBaseline, scrubber: Scrubber) -> None:
    texts = list(phi_lines())
    assert scrubber.scrub_many(texts) != texts
    benchmark(scrubber.scrub_many, texts)
    go.attach(benchmark, "phi.scrub_lines", unit=f"{len(texts)} lines",
              fn=lambda: scrubber.scrub_many(texts))
    benchmark.extra_info["bytes"] = sum(len(t.encode()) for t in texts)
    benchmark.extra_info["implementation"] = scrubber.implementation


@pytest.mark.parametrize(("text", "op"), [(PHI_HIT, "phi.scrub_line_hits"),
                                          (PHI_CLEAN, "phi.scrub_line_clean")],
                         ids=["line_with_phi", "line_without_phi"])
def test_scrub_one_line(benchmark: Any, go: GoBaseline, scrubber: Scrubber, text: str, op: str) -> None:
    assert (scrubber.scrub(text) != text) == (text == PHI_HIT)
    benchmark(scrubber.scrub, text)
    go.attach(benchmark, op, unit="line", fn=lambda: scrubber.scrub(text))
    benchmark.extra_info["bytes"] = len(text.encode())
