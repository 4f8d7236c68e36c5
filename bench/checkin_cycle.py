"""Full checkin cycles against the local Central Command on loopback: latency and memory.

    python bench/checkin_cycle.py [--cycles 200]

Reports the median cycle time (build + sign + send + server + parse + apply) and, with
tracemalloc, the transient peak per cycle and the memory retained after many cycles (a steady
loop should retain ~nothing: request buffers come from the pool).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

from agent.central import CentralCommand
from agent.checkin import CheckinComponent
from agent.config import load_config
from agent.log import configure
from agent.protocol import POOL
from agent.state import load_or_create


async def main(cycles: int) -> None:
    configure("CRITICAL", "text")
    tmp = Path(tempfile.mkdtemp(prefix="bench-checkin-"))
    cc = CentralCommand(tmp / "central.db")
    await cc.start()
    cc.create_site("bench")
    key = cc.create_api_key("bench")
    cfg_path = tmp / "config.yaml"
    cfg_path.write_text(f"site_id: bench\napi_key: {key}\napi_endpoint: {cc.url}\n"
                        f"state_dir: {tmp / 'state'}\n")
    (tmp / "state").mkdir(mode=0o700)
    comp = CheckinComponent(load_config(cfg_path, environ={}).config, cfg_path,
                            load_or_create(tmp / "state"))
    try:
        for _ in range(20):  # warm up: connections, caches, first-contact work
            assert await comp.run_once()
        times = []
        tracemalloc.start()
        base_current, _ = tracemalloc.get_traced_memory()
        agent_only = [tracemalloc.Filter(True, "*/agent/*"),
                      tracemalloc.Filter(False, "*/agent/central/*")]
        snap0 = tracemalloc.take_snapshot().filter_traces(agent_only)
        peaks = []
        for _ in range(cycles):
            tracemalloc.reset_peak()
            before, _ = tracemalloc.get_traced_memory()
            t0 = time.perf_counter_ns()
            assert await comp.run_once()
            times.append(time.perf_counter_ns() - t0)
            _, peak = tracemalloc.get_traced_memory()
            peaks.append(peak - before)
        end_current, _ = tracemalloc.get_traced_memory()
        snap1 = tracemalloc.take_snapshot().filter_traces(agent_only)
        tracemalloc.stop()
        agent_growth = sum(d.size_diff for d in snap1.compare_to(snap0, "filename"))
        # Server-side bookkeeping (checkin records in the same process) is included in the
        # retained figure; it grows with the server's history, not with the agent.
        print(f"cycles:                      {cycles}")
        print(f"median cycle time:           {statistics.median(times) / 1e6:.2f} ms "
              "(agent + local server, same process, loopback HTTP)")
        print(f"transient peak per cycle:    {statistics.median(peaks) / 1024:.1f} KiB (median)")
        print(f"retained after all cycles:   {(end_current - base_current) / 1024:.1f} KiB "
              f"({(end_current - base_current) / cycles:.0f} B/cycle, incl. server records)")
        print(f"retained by agent code:      {agent_growth / 1024:.1f} KiB "
              f"({agent_growth / cycles:.0f} B/cycle; allocations made in src/agent outside "
              "agent/central)")
        print(f"request buffer pool:         {POOL.free_count} free, {POOL.lent_count} lent")
    finally:
        await comp.close()
        await cc.stop()
        cc.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=200)
    asyncio.run(main(ap.parse_args().cycles))
