"""The long crash loop: the real daemon against the local Central Command, killed -9 at random
instants, N times; then one undisturbed run settles everything. Reports what was lost,
duplicated or torn (all must be 0).

    python bench/crash_loop.py [--kills 200] [--seed S] [--keep DIR] [--json]

Each round the server gets two new admin orders (``nix_gc``, ``run_drift``: not idempotent, their
effect is recorded by ``bench/crash_child.py``) and, every fifth round, a fleet order; the daemon
(``python -m agent run``) starts, checks in, records and runs them, and is killed -9: in turn at a
random instant within the time an undisturbed start takes to settle (measured first), 0-30 ms
after the server answered its checkin, and 0-10 ms after an order's effect was recorded.

* **lost**: an order the agent had taken in (the response was applied: ``checkin.ok`` was
  logged, or its inbox/nonce records hold it) that never got a completion, or a fleet order never
  completed. An admin order the server sent in a response the daemon never finished reading
  (killed between the server's answer and ``checkin.ok``) is counted apart as **in flight**:
  Central Command marks admin orders delivered when it answers, and the protocol has no receipt.
* **duplicated**: an effect recorded twice for one nonce.
* **torn**: a damaged line in an order journal, a state file quarantined as corrupt, or a
  ``*.corrupt.*`` file left in the state directory.

``tests/orders/test_crash_loop.py`` runs a short loop with the same code.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SITE = "clinic-crashloop"
#: Log events that mean stored state was found damaged.
TORN_EVENTS = ("journal_damaged", "records_lost", "quarantined", "corrupt", "unreadable")


@dataclass
class Report:
    kills: int = 0
    killed_mid_run: int = 0
    killed_after_checkin: int = 0  # rounds killed after a response was applied
    settle_s: float = 0.0  # an undisturbed start until every order is completed
    orders_issued: int = 0
    completed: int = 0
    interrupted: int = 0
    in_flight: int = 0
    lost: int = 0
    duplicated: int = 0
    torn: int = 0
    seconds: float = 0.0
    details: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.torn == 0

    def line(self) -> str:
        return (f"kills={self.kills} (mid-run {self.killed_mid_run}, after a checkin "
                f"{self.killed_after_checkin}; settle {self.settle_s:.2f} s) "
                f"orders={self.orders_issued} "
                f"completed={self.completed} interrupted={self.interrupted} "
                f"in_flight={self.in_flight} | lost={self.lost} duplicated={self.duplicated} "
                f"torn={self.torn} | {self.seconds:.0f} s")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("NOTIFY_", "WATCHDOG_", "MSP_AGENT_"))}
    env["PYTHONPATH"] = str(ROOT / "src")
    return env


class Loop:
    def __init__(self, work: Path, seed: int) -> None:
        self.work = work
        self.rng = random.Random(seed)
        self.state = work / "state"
        self.effects = work / "effects.log"
        self.config = work / "config.yaml"
        self.issued: dict[str, str] = {}  # base order id -> kind
        self.in_flight: set[str] = set()
        self.logs: list[str] = []
        self.seen_checkins = 0
        self.acked_rounds = 0

    async def start_server(self) -> None:
        from agent.central import CentralCommand

        self.cc = CentralCommand(self.work / "central.db")
        await self.cc.start()
        self.cc.create_site(SITE)
        self.state.mkdir(mode=0o700)
        self.config.write_text(
            f"site_id: {SITE}\napi_key: {self.cc.create_api_key(SITE)}\n"
            f"api_endpoint: {self.cc.url}\nstate_dir: {self.state}\npoll_interval: 60\n"
            "enable_drift_detection: false\nworkstation_enabled: false\n"
            "log_level: DEBUG\nlog_format: json\n")

    async def stop_server(self) -> None:
        await self.cc.stop()
        self.cc.close()

    def issue(self, round_no: int) -> None:
        for order_type, params in (("nix_gc", {"older_than_days": round_no % 30 + 1}),
                                   ("run_drift", {})):
            self.issued[self.cc.issue_order(SITE, order_type, params)] = "admin"
        if round_no % 5 == 0:
            fid = self.cc.issue_order(SITE, "nix_gc", {"older_than_days": 90}, fleet=True)
            self.issued[fid] = "fleet"

    async def spawn(self) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, str(BENCH / "crash_child.py"), str(self.config), str(self.effects),
            cwd=self.work, env=_env(), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)

    def _settled(self) -> bool:
        done = {c["base_order_id"] for c in self.cc.completions(SITE)}
        return all(oid in done or oid in self.in_flight for oid in self.issued)

    async def run_until_settled(self, limit_s: float) -> float:
        """An undisturbed start; stopped with SIGTERM once every order has its completion."""
        started = time.monotonic()
        proc = await self.spawn()
        reader = asyncio.ensure_future(self._read(proc))
        # The server's database is the condition: polled (it has no event to wait on).
        while not self._settled() and time.monotonic() - started < limit_s:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        took = time.monotonic() - started
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 60)
        self._account(await reader)
        return took

    async def kill_round(self, mode: str, limit_s: float) -> bool:
        """One start killed -9: at a random instant (``any``), 0-30 ms after the server answered
        a checkin (``answer``), or 0-10 ms after an order's effect was recorded (``effect``)."""
        checkins = len(self.cc.checkins(SITE))
        effects = self.effects.stat().st_size if self.effects.exists() else 0
        proc = await self.spawn()
        reader = asyncio.ensure_future(self._read(proc))
        started = time.monotonic()
        if mode == "any":
            await asyncio.sleep(self.rng.uniform(0.0, limit_s))
        else:
            def happened() -> bool:
                if mode == "answer":
                    return len(self.cc.checkins(SITE)) > checkins
                return self.effects.exists() and self.effects.stat().st_size > effects

            # Polled: the condition is in the server's database or a file.
            while not happened() and time.monotonic() - started < limit_s:  # noqa: ASYNC110
                await asyncio.sleep(0.002)
            await asyncio.sleep(self.rng.uniform(0.0, 0.03 if mode == "answer" else 0.01))
        mid = proc.returncode is None
        if mid:
            proc.kill()
        await asyncio.wait_for(proc.wait(), 60)
        self._account(await reader)
        return mid

    @staticmethod
    async def _read(proc: asyncio.subprocess.Process) -> list[str]:
        assert proc.stdout is not None  # the agent logs on stdout (runtime.md §7)
        return (await proc.stdout.read()).decode("utf-8", "replace").splitlines()

    def _account(self, lines: list[str]) -> None:
        """The responses this run read to the end (``checkin.ok``) vs. the server's answers in
        the same run: the orders of answers never read were in flight at the kill."""
        self.logs.extend(lines)
        acked = sum(1 for line in lines
                    if '"event":"checkin.ok"' in line or '"event":"checkin.recovered"' in line)
        self.acked_rounds += acked > 0
        checkins = self.cc.checkins(SITE)
        answers = [c for c in checkins[self.seen_checkins:] if c.get("http_status") == 200]
        self.seen_checkins = len(checkins)
        recorded = _recorded_ids(self.state)
        for answer in answers[acked:]:
            for wire_id in answer.get("orders_delivered") or []:
                base = wire_id.split("::")[1] if wire_id.startswith("fleet::") else wire_id
                if self.issued.get(base) == "admin" and base not in recorded:
                    self.in_flight.add(base)

    def report(self, kills: int, mid: int, seconds: float) -> Report:
        r = Report(kills=kills, killed_mid_run=mid, orders_issued=len(self.issued),
                   seconds=seconds, killed_after_checkin=self.acked_rounds - 2)
        completions: dict[str, list[dict[str, Any]]] = {}
        for c in self.cc.completions(SITE):
            completions.setdefault(c["base_order_id"], []).append(c)
        from agent.orders.store import INTERRUPTED

        for oid, kind in self.issued.items():
            got = completions.get(oid)
            if got:
                r.completed += 1
                r.interrupted += any(c["error_message"] == INTERRUPTED for c in got)
            elif oid in self.in_flight:
                r.in_flight += 1
            else:
                r.lost += 1
                r.details.append(f"lost: {kind} order {oid}")
        effects = Counter(self.effects.read_text().splitlines()) if self.effects.exists() \
            else Counter()
        for line, n in effects.items():
            if n > 1:
                r.duplicated += n - 1
                r.details.append(f"ran {n} times: {line}")
        for line in self.logs:
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if doc.get("level") in ("error", "critical") and any(
                    t in str(doc.get("event", "")) for t in TORN_EVENTS):
                r.torn += 1
                r.details.append(f"torn: {doc.get('event')}: {doc.get('msg')}")
        for p in self.state.rglob("*.corrupt.*"):
            r.torn += 1
            r.details.append(f"torn: {p.relative_to(self.state)}")
        return r


def _recorded_ids(state: Path) -> set[str]:
    """Order ids the agent holds durably (the inbox, the nonce records)."""
    from agent.orders.journal import Journal

    ids: set[str] = set()
    for name in ("order_inbox.db", "order_records.db"):
        j = Journal(state / name)
        try:
            for doc in j.load():
                order = doc.get("order")
                oid = order.get("order_id") if isinstance(order, dict) else doc.get("order_id")
                if isinstance(oid, str):
                    ids.add(oid.split("::")[1] if oid.startswith("fleet::") else oid)
        finally:
            j.close()
    return ids


async def crash_loop(kills: int, work: Path, seed: int, progress: bool = False) -> Report:
    started = time.monotonic()
    loop = Loop(work, seed)
    await loop.start_server()
    try:
        loop.issue(0)
        settle = await loop.run_until_settled(120)  # calibration: one undisturbed start
        mid = 0
        for n in range(1, kills + 1):
            loop.issue(n)
            mode = ("any", "answer", "effect")[n % 3]
            mid += await loop.kill_round(mode, 1.5 * settle)
            if progress and n % 20 == 0:
                print(f"  {n}/{kills} kills", file=sys.stderr, flush=True)
        await loop.run_until_settled(180)
        report = loop.report(kills, mid, time.monotonic() - started)
        report.settle_s = settle
        return report
    finally:
        await loop.stop_server()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kills", type=int, default=200)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep", type=Path, default=None, help="work directory to keep")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "big")
    sys.path.insert(0, str(ROOT / "src"))
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=False)
        report = asyncio.run(crash_loop(args.kills, args.keep, seed, progress=True))
    else:
        with tempfile.TemporaryDirectory(prefix="msp-crashloop-") as tmp:
            report = asyncio.run(crash_loop(args.kills, Path(tmp), seed, progress=True))
    if args.json:
        print(json.dumps({**asdict(report), "seed": seed, "ok": report.ok}))
    else:
        print(f"crash loop (seed {seed}): {report.line()}")
        for d in report.details[:20]:
            print(f"  {d}")
        print("OK: 0 lost / 0 duplicated / 0 torn" if report.ok else "FAILED")
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
