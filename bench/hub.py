"""The workstation hub with N agents streaming (issue 23): the hub's memory and CPU.

    python bench/hub.py [--agents 50] [--seconds 60] [--rate 1.0]

The hub runs in its own process (``--serve``: the real :class:`HubComponent`, CA in a
temporary state directory, loopback TLS, compatibility enrollment for the N listed hosts so
that no tokens have to travel between the processes). This process plays N agents (the test
client of ``tests/hub``): each registers, opens its drift stream and sends ``--rate`` events per
second (every fourth a failed check, which becomes an incident and is answered with a heal
command) plus a heartbeat every 10 s. Reported, from /proc of the hub process: RSS after start,
after enrollment, at the end and its peak; CPU seconds and percent of one core over the
streaming window; events acknowledged per second, incidents the hub published.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests.hub.agentclient import Agent  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def hosts(n: int) -> list[str]:
    return [f"ws-{i:03d}" for i in range(n)]


async def serve(state: Path, n: int) -> None:
    from agent.bus import Bus
    from agent.config import parse_config
    from agent.hub.component import HubComponent
    from agent.hub.registry import AgentRegistry
    from agent.protocol import CredentialSet
    from agent.protocol.credentials import WindowsTarget
    from agent.scan.events import IncidentsFound
    from agent.site.state import Directives

    class Site:
        directives = Directives()
        credentials = CredentialSet(windows_targets=[
            WindowsTarget(hostname=h, username="u", password="p") for h in hosts(n)])

    config = parse_config(f"site_id: bench\napi_key: bench-api-key-0123456789\n"
                          f"state_dir: {state}\ngrpc_hub_enabled: true\n"
                          f"grpc_hub_compat_enrollment: true\n", environ={}).config
    bus = Bus()
    incidents = [0]
    bus.subscribe(IncidentsFound, lambda ev: incidents.__setitem__(0, incidents[0] + len(ev.incidents)))
    bus.freeze()
    hub = HubComponent(config, AgentRegistry(state), site=Site(), bus=bus, bind="127.0.0.1", port=0)
    hub.service.limits = type(hub.service.limits)(compat_per_addr=n, max_streams=4 * n,
                                                  max_streams_per_peer=4 * n)
    port = await hub.start()
    print(json.dumps({"port": port, "ca": hub.ca.ca_pem().decode()}), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await reader.readline()  # the driver says stop
    print(json.dumps({"incidents": incidents[0], **dict(hub.service.stats)}), flush=True)
    await hub.close(grace_s=5.0)


def proc(pid: int) -> dict[str, float]:
    status = {k: v for k, _, v in (line.partition(":") for line in
                                   Path(f"/proc/{pid}/status").read_text().splitlines())}
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return {"rss_mib": int(status["VmRSS"].split()[0]) / 1024,
            "hwm_mib": int(status["VmHWM"].split()[0]) / 1024,
            "cpu_s": (int(stat[11]) + int(stat[12])) / TICK}


async def agent_loop(a: Agent, seconds: float, rate: float, counts: dict[str, int]) -> None:
    end = time.monotonic() + seconds
    i = 0
    next_hb = time.monotonic()
    async with a.drift_stream(deadline_s=seconds + 60) as st:
        while time.monotonic() < end:
            check = ("firewall", "defender", "bitlocker", "screenlock")[i % 4]
            await st.send_message(a.drift(check, passed=i % 4 != 0))
            ack: Any = await st.recv_message()
            counts["acks"] += 1
            counts["heal_commands"] += int(ack.HasField("heal_command"))
            i += 1
            if time.monotonic() >= next_hb:
                await a.heartbeat()
                next_hb += 10.0
            await asyncio.sleep(1.0 / rate)
        await st.end()


async def drive(port: int, ca: bytes, work: Path, n: int, seconds: float, rate: float,
                pid: int) -> dict[str, Any]:
    agents = [Agent(h, port, ca, work) for h in hosts(n)]
    started = proc(pid)
    for a in agents:
        await a.register(needs_certs=True, with_cert=False)
    enrolled = proc(pid)
    counts = {"acks": 0, "heal_commands": 0}
    t0 = time.monotonic()
    await asyncio.gather(*(agent_loop(a, seconds, rate, counts) for a in agents))
    wall = time.monotonic() - t0
    end = proc(pid)
    for a in agents:
        a.close()
    cpu = end["cpu_s"] - enrolled["cpu_s"]
    return {"agents": n, "seconds": round(wall, 1), "rss_start_mib": round(started["rss_mib"], 1),
            "rss_enrolled_mib": round(enrolled["rss_mib"], 1),
            "rss_end_mib": round(end["rss_mib"], 1), "rss_peak_mib": round(end["hwm_mib"], 1),
            "cpu_s": round(cpu, 2), "cpu_pct_one_core": round(100 * cpu / wall, 1),
            "acks_per_s": round(counts["acks"] / wall, 1), **counts}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--rate", type=float, default=1.0, help="drift events per agent per second")
    ap.add_argument("--serve", nargs=2, metavar=("STATE", "N"))
    ns = ap.parse_args()
    if ns.serve:
        asyncio.run(serve(Path(ns.serve[0]), int(ns.serve[1])))
        return
    with tempfile.TemporaryDirectory() as d:
        state = Path(d) / "state"
        state.mkdir(mode=0o700)
        p = subprocess.Popen([sys.executable, __file__, "--serve", str(state), str(ns.agents)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert p.stdin is not None and p.stdout is not None
        try:
            hello = json.loads(p.stdout.readline())
            result = asyncio.run(drive(hello["port"], hello["ca"].encode(), Path(d), ns.agents,
                                       ns.seconds, ns.rate, p.pid))
            p.stdin.write("stop\n")
            p.stdin.flush()
            result["hub"] = json.loads(p.stdout.readline())
        finally:
            p.stdin.close()
            p.wait(15)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
