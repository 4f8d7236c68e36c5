"""Log shipping end to end: lines/s from a journal-format input file (``journalctl --output=json``
lines) through batching, scrubbing (one ``scrub_many`` call per batch), the durable batch, gzip
and ``POST /api/logs/ingest`` to the local Central Command — with the scrub cost separated.

    python bench/logship_throughput.py [--lines N] [--phi-every K] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from agent import phi
from agent.central import CentralCommand
from agent.logship.shipper import LogShipper
from agent.logship.source import FileSource

SITE = "bench-site"
TEMPLATES = [
    "sshd[{n}]: Accepted publickey for msp from 192.168.88.{h} port {p} ssh2",
    "scan round finished: {h} hosts, {p} findings, duration {n} ms",
    "kernel: [UFW BLOCK] IN=eth0 OUT= SRC=192.168.88.{h} DST=192.168.88.1 LEN=60 DPT={p}",
    "systemd[1]: Started Session {n} of user msp.",
]
PHI_LINE = "reminder failed for patient John Smith DOB 03/14/1961 MRN {n} phone 555-867-{p:04d}"


def make_journal(path: Path, lines: int, phi_every: int) -> None:
    rng = random.Random(1)
    t0 = 1_779_289_200_000_000
    with path.open("w") as f:
        for i in range(lines):
            tpl = PHI_LINE if phi_every and i % phi_every == 0 else rng.choice(TEMPLATES)
            msg = tpl.format(n=i, h=rng.randrange(2, 250), p=rng.randrange(1024, 9999))
            f.write(json.dumps({"__CURSOR": f"s=bench;i={i:x}", "__REALTIME_TIMESTAMP": str(t0 + i),
                                "PRIORITY": "6", "_SYSTEMD_UNIT": "bench.service",
                                "_BOOT_ID": "0" * 32, "MESSAGE": msg}) + "\n")


async def bench(tmp: Path, lines: int, phi_every: int) -> dict[str, Any]:
    journal = tmp / "journal.json"
    make_journal(journal, lines, phi_every)
    cc = CentralCommand(tmp / "central.db")
    await cc.start()
    cc.create_site(SITE)
    key = cc.create_api_key(SITE)
    shipper = LogShipper(tmp / "state", FileSource(journal), site_id=SITE,
                         hostname=lambda: "appliance-01")
    async with aiohttp.ClientSession() as session:
        async def post(path: str, body: bytes) -> tuple[int, bytes]:
            # The shipper hands the Uplink JSON; the Uplink gzips it (central-api.md §7.6).
            async with session.post(cc.url + path, data=gzip.compress(body, 6), headers={
                    "Authorization": f"Bearer {key}", "Content-Type": "application/json",
                    "Content-Encoding": "gzip"}) as r:
                return r.status, await r.read()

        t = time.perf_counter()
        shipped = 0
        while shipped < lines:
            n = await shipper.tick(post, force=True)
            if n == 0:
                break
            shipped += n
        total = time.perf_counter() - t
    received = sum(len(r["entries"]) for r in cc.logs(SITE))
    await cc.stop()
    cc.close()
    texts = [json.loads(x)["MESSAGE"] for x in journal.read_text().splitlines()]
    t = time.perf_counter()
    for i in range(0, len(texts), 500):
        phi.scrub_many(texts[i:i + 500])
    scrub_only = time.perf_counter() - t
    return {"lines": lines, "shipped": shipped, "received_by_server": received,
            "scrubber": phi.IMPLEMENTATION,
            "end_to_end_lines_per_s": shipped / total,
            "scrub_seconds_in_shipper": shipper.scrub_seconds,
            "scrub_share_of_end_to_end": shipper.scrub_seconds / total,
            "scrub_only_lines_per_s": lines / scrub_only,
            "end_to_end_excluding_scrub_lines_per_s": shipped / (total - shipper.scrub_seconds)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--lines", type=int, default=50_000)
    ap.add_argument("--phi-every", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from agent.log import configure

    configure("CRITICAL", "text")
    with tempfile.TemporaryDirectory() as tmp:
        res = asyncio.run(bench(Path(tmp), args.lines, args.phi_every))
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        for k, v in res.items():
            print(f"{k:40} {v:,.3f}" if isinstance(v, float) else f"{k:40} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
