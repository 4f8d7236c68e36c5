"""Latency of a small POST from the Central Command client to the local Central Command over TLS.

    python bench/transport_post.py [--requests 300] [--fresh 30]

The server (an aiohttp server in this process, with a throw-away CA) and the client share one
event loop on loopback, so each figure is client + server. Reported: the median and p90 of a POST
on a kept-alive connection, and of one on a new connection (TCP + TLS handshake + pin check + POST),
with the CPU time per request. Only the client's public API is used, so the same script measures
an older tree (``PYTHONPATH=<old>/src python bench/transport_post.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

import trustme

from agent.central import CentralCommand
from agent.crypto.keys import Ed25519Key
from agent.log import configure
from agent.transport import CentralClient, Credentials, PinStore
from agent.transport.client import Endpoint

ENDPOINT = Endpoint("bench", 30.0, 64 * 1024, secondary=False)
PATH = "/api/appliances/mesh/ack"
BODY = b'{"site_id":"bench","appliance_id":"bench-00:00:00:00:00:01","targets":[]}'


def _pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


async def main(requests: int, fresh: int) -> None:
    configure("CRITICAL", "text")
    with tempfile.TemporaryDirectory(prefix="bench-transport-") as scratch:
        await _run(Path(scratch), requests, fresh)


async def _run(tmp: Path, requests: int, fresh: int) -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    cc = CentralCommand(tmp / "central.db", ssl_context=server_ctx)
    await cc.start()
    cc.create_site("bench")
    creds = Credentials(cc.create_api_key("bench"))
    identity = Ed25519Key.generate()

    def client() -> CentralClient:
        return CentralClient(cc.url, creds, identity=identity, pins=PinStore(tmp),
                             ssl_context=client_ctx)

    try:
        c = client()
        status = (await c.request("POST", PATH, BODY, ENDPOINT)).status  # warm up, pins
        kept: list[float] = []
        cpu0 = time.process_time()
        for _ in range(requests):
            t0 = time.perf_counter()
            await c.request("POST", PATH, BODY, ENDPOINT)
            kept.append(time.perf_counter() - t0)
        kept_cpu = (time.process_time() - cpu0) / requests
        await c.close()
        new: list[float] = []
        cpu0 = time.process_time()
        for _ in range(fresh):
            c = client()
            t0 = time.perf_counter()
            await c.request("POST", PATH, BODY, ENDPOINT)
            new.append(time.perf_counter() - t0)
            await c.close()
        new_cpu = (time.process_time() - cpu0) / fresh
    finally:
        await cc.stop()
        cc.close()
    print(f"POST {PATH} ({len(BODY)} B body, answer HTTP {status}), TLS on loopback, "
          f"client + server in one process")
    print(f"kept-alive: median {statistics.median(kept) * 1e3:.2f} ms, "
          f"p90 {_pct(kept, 0.9) * 1e3:.2f} ms, CPU {kept_cpu * 1e3:.2f} ms/request "
          f"({requests} requests)")
    print(f"new connection: median {statistics.median(new) * 1e3:.2f} ms, "
          f"p90 {_pct(new, 0.9) * 1e3:.2f} ms, CPU {new_cpu * 1e3:.2f} ms/request ({fresh})")
    print(f"client framing: {'h11' if 'h11' in sys.modules else 'aiohttp'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--fresh", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.fresh))
