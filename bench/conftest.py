"""pytest-benchmark setup for ``pytest bench/``: the Go baseline measured once per session on
the same inputs, and the machine's load stored with every run.

Each benchmark stores in ``extra_info``: ``per_call`` (items one timed call handles, so the
report can state figures per item), ``unit``, ``cpu_s`` (CPU seconds per call, measured after the
timed rounds), and, when it has a Go twin, ``go`` (the Go
program's result: what it mirrors, wall ns min/median, CPU ns, rounds; see
``bench/gobaseline.py``). Timings are never asserted (``--benchmark-disable`` runs every body
once: CI's check that the benchmarks keep working).

The Go programs run twice, before and after the Python benchmarks; each Go figure is the better of
the two runs. ``BENCH_GO_MODE=quick|full`` chooses the Go side's measuring time (``full`` by default;
``smoke``, one call per operation, whenever benchmarking is disabled).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import nacl.signing
import pytest

from bench import gobaseline
from bench.common import go_exe, machine

#: Items of the Ed25519 group: distinct keys, 100-byte messages (as bench/ed25519.py).
ED25519_ITEMS = 256


def cpu_per_call(fn: Callable[[], object], cpu_time: float) -> float:
    """CPU seconds (user + system) per call of ``fn``, over at least ``cpu_time`` CPU seconds
    (or ten times that in wall time on a very busy machine), after one warm-up call."""
    fn()
    calls = 0
    c0, t0 = time.process_time(), time.perf_counter()
    while True:
        fn()
        calls += 1
        used = time.process_time() - c0
        if used >= cpu_time or time.perf_counter() - t0 >= 10 * cpu_time:
            return used / calls


class GoBaseline:
    """The Go results of this session (empty when Go is not installed)."""

    def __init__(self, results: dict[str, dict[str, Any]], reason: str = "",
                 cpu_time: float = 0.5) -> None:
        self.results = results
        self.reason = reason
        self.cpu_time = cpu_time

    def attach(self, benchmark: Any, op: str | None, *, per_call: int = 1, unit: str = "op",
               fn: Callable[[], object] | None = None) -> None:
        """Store the Go figure for ``op`` (per ``unit``) next to this benchmark's own; ``op``
        None: the Go daemon has no twin of this path. With ``fn`` (the benchmarked call), also
        its CPU time per call (``cpu_s``: user + system, this process), the figure that stays
        comparable with the Go side's CPU time on a machine shared with other work."""
        benchmark.extra_info["per_call"] = per_call
        benchmark.extra_info["unit"] = unit
        if fn is not None and not benchmark.disabled:
            benchmark.extra_info["cpu_s"] = cpu_per_call(fn, self.cpu_time)
        if op is None:
            benchmark.extra_info["go_missing"] = "no Go twin"
        elif op in self.results:
            benchmark.extra_info["go"] = self.results[op]
        else:
            benchmark.extra_info["go_missing"] = self.reason or f"no Go result for {op}"


@pytest.fixture(scope="session")
def ed25519_items() -> list[tuple[bytes, bytes, bytes]]:
    items = []
    for _ in range(ED25519_ITEMS):
        key = nacl.signing.SigningKey.generate()
        msg = os.urandom(100)
        items.append((bytes(key.verify_key), msg, key.sign(msg).signature))
    return items


@pytest.fixture(scope="session")
def go(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
       ed25519_items: list[tuple[bytes, bytes, bytes]]) -> Iterator[GoBaseline]:
    mode = os.environ.get("BENCH_GO_MODE", "full")
    cpu_time = 0.2 if mode == "quick" else 0.5
    if go_exe() is None:
        yield GoBaseline({}, "go is not installed (pip install -e '.[bench]')", cpu_time)
        return
    if request.config.getoption("benchmark_disable", False):
        mode = "smoke"
    work = tmp_path_factory.mktemp("go")
    results = gobaseline.measure(work, mode=mode, ed25519_items=ed25519_items)
    yield GoBaseline(results, cpu_time=cpu_time)
    if mode != "smoke":
        # A second run after the Python benchmarks: other work on the machine comes and goes, so
        # each Go figure is the better of the two runs that bracket the Python ones. The dicts
        # are updated in place: benchmarks hold them in extra_info until the JSON is written.
        gobaseline.merge_best(results, gobaseline.measure(work, mode=mode, ed25519_items=ed25519_items))


LOAD_AT_START = pytest.StashKey[list[float]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[LOAD_AT_START] = list(os.getloadavg())


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict[str, Any]) -> None:
    info = machine()
    machine_info["cpu_model"] = info["cpu"]
    machine_info["cores"] = info["cores"]
    machine_info["loadavg_start"] = config.stash.get(LOAD_AT_START, info["loadavg"])


def pytest_benchmark_update_json(config: pytest.Config, benchmarks: Any,
                                 output_json: dict[str, Any]) -> None:
    output_json["machine_info"]["loadavg_end"] = list(os.getloadavg())
