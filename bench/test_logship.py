"""Log shipping: journal lines (``journalctl --output=json``) through the shipper's batching,
one ``scrub_many`` per batch and the durable batch, to a sender answering 200 at once (the
agent's side up to the Uplink; ``bench/logship_throughput.py`` ships to the local Central Command
over HTTP). The Go daemon's shipping has no twin here: no Go row."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import pytest

from agent.logship.shipper import LogShipper
from agent.logship.source import FileSource
from bench.conftest import GoBaseline
from bench.logship_throughput import make_journal

pytestmark = pytest.mark.benchmark(group="log shipping")
LINES = 2000


def test_ship_journal_lines(benchmark: Any, go: GoBaseline, tmp_path: Path) -> None:
    journal = tmp_path / "journal.json"
    make_journal(journal, LINES, phi_every=10)
    rounds = itertools.count()

    async def post(path: str, body: bytes) -> tuple[int, bytes]:
        return 200, b'{"status":"ok"}'

    def setup() -> tuple[tuple[LogShipper], dict[str, Any]]:
        state = tmp_path / f"state{next(rounds)}"
        state.mkdir()
        return (LogShipper(state, FileSource(journal), site_id="bench-site",
                           hostname=lambda: "appliance-01"),), {}

    def ship(shipper: LogShipper) -> int:
        async def run() -> int:
            while await shipper.tick(post, force=True):
                pass
            return shipper.shipped_lines

        return asyncio.run(run())

    result = benchmark.pedantic(ship, setup=setup, rounds=5)
    assert result == LINES
    go.attach(benchmark, None, per_call=LINES, unit="line")
