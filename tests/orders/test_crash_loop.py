"""A short run of the long crash loop (``bench/crash_loop.py``): the real daemon against the local
Central Command, killed -9 at random instants; nothing lost, duplicated or torn."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

KILLS = 8
BENCH = Path(__file__).resolve().parents[2] / "bench"


def _bench(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (dataclasses look their module up)
    spec.loader.exec_module(module)
    return module


async def test_short_crash_loop_loses_duplicates_and_tears_nothing(tmp_path: Path) -> None:
    crash_loop = _bench("crash_loop")
    report = await crash_loop.crash_loop(KILLS, tmp_path, int.from_bytes(os.urandom(4), "big"))
    assert report.kills == KILLS and report.killed_mid_run > 0
    assert report.completed + report.in_flight == report.orders_issued
    assert report.ok, (report.line(), report.details)
