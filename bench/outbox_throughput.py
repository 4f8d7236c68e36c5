"""Outbox benchmarks: append throughput with fsync (items/s) per kind, and drain throughput
against the local Central Command over loopback HTTP (reports, telemetry, evidence).

    python bench/outbox_throughput.py [--items N] [--dir PATH] [--json]

``--dir`` chooses the file system (fsync cost depends on it; default: a temporary directory).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from agent.central import CentralCommand
from agent.crypto import Ed25519Key
from agent.evidence.bundle import CHECK_TYPES, CheckResult, ScanResult
from agent.evidence.store import EvidenceStore, Limits
from agent.evidence.submit import EvidenceSubmitter
from agent.outbox import kinds
from agent.outbox.reports import ReportQueues
from agent.protocol.incidents import IncidentReport

SITE = "bench-site"
KEY = Ed25519Key(bytes(range(64, 96)))


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def incident(n: int) -> IncidentReport:
    return IncidentReport(site_id=SITE, host_id="192.168.88.20", incident_type="firewall_status",
                          severity="high", check_type=f"c{n}",
                          details={"n": n, "finding": "Domain profile disabled"})


def scan(n: int) -> ScanResult:
    host = f"192.168.88.{n % 200 + 10}"
    return ScanResult("linux", datetime.now(UTC), [host],
                      [CheckResult(c, host, "pass") for c in CHECK_TYPES["linux"]])


async def bench(root: Path, n: int) -> dict[str, Any]:
    out: dict[str, Any] = {"items": n, "dir": str(root)}
    state = Path(tempfile.mkdtemp(dir=root))
    # --- append (each item fsynced: file + directory) ---------------------------------------
    raw = kinds.log_queue(state, policy=kinds.LOGS.__class__("raw", max_files=10**9))
    body = json.dumps({"pad": "x" * 400}).encode()
    t = time.perf_counter()
    for _ in range(n):
        raw.put(body, key="batch")
    out["append_raw_512B_items_per_s"] = rate(n, time.perf_counter() - t)
    rq = ReportQueues(state)
    rq.reports.queue.policy = kinds.REPORT.__class__("report", max_files=10**9)
    t = time.perf_counter()
    for i in range(n):
        rq.enqueue_incident(incident(i))
    out["append_incident_items_per_s"] = rate(n, time.perf_counter() - t)
    store = EvidenceStore(state, KEY, SITE, limits=Limits(min_free_bytes=0))
    ne = max(1, n // 4)
    t = time.perf_counter()
    for i in range(ne):
        store.record_scan(scan(i))
    out["append_evidence_bundles_per_s"] = rate(ne, time.perf_counter() - t)

    # --- drain against the local Central Command ----------------------------------------------
    cc = CentralCommand(state / "central.db")
    await cc.start()
    cc.create_site(SITE)
    key = cc.create_api_key(SITE)
    async with aiohttp.ClientSession() as session:
        async def post(path: str, data: bytes) -> tuple[int, bytes]:
            async with session.post(cc.url + path, data=data, headers={
                    "Authorization": f"Bearer {key}", "Content-Type": "application/json"}) as r:
                return r.status, await r.read()

        async def request(method: str, path: str, data: bytes | None,
                          probe: bool) -> tuple[int, bytes, float | None]:
            async with session.request(method, cc.url + path, data=data, headers={
                    "Authorization": f"Bearer {key}", "Content-Type": "application/json"}) as r:
                return r.status, await r.read(), None

        t = time.perf_counter()
        done = await rq.drain_reports(post, force=True)
        out["drain_incidents_items_per_s"] = rate(done, time.perf_counter() - t)
        sub = EvidenceSubmitter(store, request)
        t = time.perf_counter()
        done = await sub.drain(force=True)
        out["drain_evidence_bundles_per_s"] = rate(done, time.perf_counter() - t)
        out["evidence_stored"] = len(cc.evidence(SITE))
    await cc.stop()
    cc.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--dir", type=Path, default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from agent.log import configure

    configure("CRITICAL", "text")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        res = asyncio.run(bench(Path(tmp), args.items))
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        for k, v in res.items():
            print(f"{k:36} {v:,.0f}" if isinstance(v, float) else f"{k:36} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
