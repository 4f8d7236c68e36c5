"""Scan a simulated clinic site: default scan concurrency vs one host at a time (the Go daemon).

    python bench/scan_site.py [--windows 100] [--linux 100] [--seed 7] [--concurrency 8,1]
                              [--json OUT]                                (root: throwaway user)

Windows hosts are WS-Man test servers (one per host, each on its own loopback address, in a
separate server process) answering the real Windows scan script with recorded outputs (a quarter
of them drifted) after 150-400 ms; Linux hosts are loopback sshd sockets (one loopback address per
host) running the real Linux scan script with a 150-400 ms sleep in front. Each mode runs in a fresh
agent process through :class:`ScanScheduler` with the real scanners and executors, so the CPU time
(``getrusage``: user + system of the agent process only; the servers are other processes) and the
peak RSS are the agent's own. ``--concurrency`` lists the scan concurrencies to run (one fresh
agent process each; 1 is the Go daemon's one host at a time); ``--json`` writes the rows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIX = ROOT / "tests" / "scan" / "fixtures"
WIN_USER, WIN_PASSWORD = "CLINIC\\svc-bench", "Bench-Passw0rd!"
LAT_MIN, LAT_MAX = 0.150, 0.400


# --- Windows hosts: a server process ------------------------------------------------------------


async def _serve_windows(n: int, seed: int) -> None:
    from tests.winrm_testserver import ScriptReply, WsmanTestServer

    compliant = (FIX / "windows_compliant.txt").read_text()
    drifted = (FIX / "windows_drifted.txt").read_text()
    servers = []
    for i in range(n):
        srv = WsmanTestServer()
        srv.bind = f"127.0.1.{i + 1}"
        rng = random.Random(seed * 1000 + i)
        out = drifted if i % 4 == 0 else compliant

        def responder(_script: str, rng: random.Random = rng, out: str = out) -> ScriptReply:
            return ScriptReply(out, delay_s=rng.uniform(LAT_MIN, LAT_MAX))

        srv.responder = responder
        await srv.start()
        servers.append(srv)
    print(json.dumps([[s.bind, s.port] for s in servers]), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until the parent closes it
    for s in servers:
        await s.stop()


# --- one measured agent run -------------------------------------------------------------------------


async def _scan(concurrency: int, spec: dict[str, Any]) -> dict[str, Any]:
    from agent.exec import SshCredential, SshExecutor, Target, Transport, WinrmCredential
    from agent.exec.known_hosts import KnownHosts
    from agent.exec.winrm import WinrmExecutor
    from agent.scan.linux import SCRIPT as LINUX_SCRIPT
    from agent.scan.linux import LinuxScanner
    from agent.scan.model import HostResult
    from agent.scan.scheduler import ScanScheduler
    from agent.scan.windows import WindowsScanner

    state = Path(spec["state"]) / f"c{concurrency}"  # created by _run_mode
    ssh = SshExecutor(state, known_hosts=KnownHosts(Path(spec["state"]) / "known_hosts"))
    winrm = WinrmExecutor(state, http_port=5985, https_port=spec["closed_port"])
    key = spec["key_text"]
    targets: list[tuple[Target, Any]] = []
    for host, port in spec["windows"]:
        targets.append(
            (Target(Transport.WINRM, host, port, "windows", "WS"), WinrmCredential(WIN_USER, WIN_PASSWORD))
        )
    delays: dict[str, float] = {}
    rng = random.Random(spec["seed"])
    for host, port in spec["linux"]:
        targets.append(
            (
                Target(Transport.SSH, host, port, "linux", "linux"),
                SshCredential(spec["user"], private_key=key),
            )
        )
        delays[host] = rng.uniform(LAT_MIN, LAT_MAX)

    async def scan_host(t: Target, cred: Any, deadline_s: float) -> HostResult:
        if t.transport is Transport.WINRM:
            return await WindowsScanner(winrm).scan(t, cred, deadline_s=deadline_s)
        script = f"sleep {delays[t.host]:.3f}\n" + LINUX_SCRIPT
        return await LinuxScanner(ssh, script=script).scan(t, cred, deadline_s=deadline_s)

    results: list[HostResult] = []

    async def on_result(_t: Target, res: HostResult) -> bool:
        results.append(res)
        return False

    sched = ScanScheduler(
        scan_host=scan_host,
        on_result=on_result,
        concurrency=concurrency,
        round_deadline_s=3600.0,
    )
    sched.set_targets(targets)
    sched.force()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    await sched.run_round()
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    await ssh.close()
    await winrm.close()
    statuses: dict[str, int] = {}
    for res in results:
        statuses[res.status] = statuses.get(res.status, 0) + 1
    return {
        "concurrency": concurrency,
        "mode": "sequential" if concurrency == 1 else "concurrent",
        "hosts": len(results),
        "statuses": statuses,
        "findings": sum(len(r.findings) for r in results),
        "wall_s": wall,
        "cpu_s": (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime),
        "peak_rss_mb": r1.ru_maxrss / 1024,
    }


def _run_mode(concurrency: int, spec_path: Path) -> dict[str, Any]:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    spec = json.loads(spec_path.read_text())
    (Path(spec["state"]) / f"c{concurrency}").mkdir(mode=0o700)
    spec["key_text"] = Path(spec["key"]).read_text() if spec["key"] else ""
    return asyncio.run(_scan(concurrency, spec))


# --- orchestration ------------------------------------------------------------------------------------


def _linux_hosts(n: int, root: Path, user: str) -> tuple[list[Any], list[list[Any]], Path]:
    from tests.exec.sshd import Sshd

    class MultiAddrSshd(Sshd):
        """One port on 127.0.0.1 plus up to 15 other loopback addresses: one "host" each."""

        addrs: list[str] = []

        def config(self) -> str:
            keep = [
                ln for ln in super().config().splitlines() if not ln.startswith(("Port ", "ListenAddress"))
            ]
            listen = [f"ListenAddress {a}" for a in ["127.0.0.1", *self.addrs]]
            return "\n".join([f"Port {self.port}", *listen, *keep]) + "\n"

    servers: list[Any] = []
    hosts: list[list[Any]] = []
    for i in range(-(-n // 15)):
        sub = root / f"sshd{i}"
        sub.mkdir(mode=0o755)
        srv = MultiAddrSshd(sub)
        srv.addrs = [f"127.0.2.{15 * i + k + 1}" for k in range(min(15, n - 15 * i))]
        key = servers[0].client_key if servers else srv.client_key
        srv.client_key = key
        srv.authorize(user, Path(str(key) + ".pub").read_text())
        srv.start()
        servers.append(srv)
        hosts += [[a, srv.port] for a in srv.addrs]
    return servers, hosts, servers[0].client_key


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--windows", type=int, default=100)
    ap.add_argument("--linux", type=int, default=100)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--serve-windows", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--concurrency", default="8,1", help="scan concurrencies to run, comma-separated")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON")
    ap.add_argument("--run", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--spec", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_windows is not None:
        asyncio.run(_serve_windows(args.serve_windows, args.seed))
        return
    if args.run:
        print(json.dumps(_run_mode(args.run, args.spec)))
        return
    levels = [int(c) for c in args.concurrency.split(",") if c.strip()]

    from tests.exec.sshd import USER, create_users, free_port, remove_users, require_sshd

    if args.linux:
        require_sshd()
    users = create_users() if args.linux else []
    root = Path(tempfile.mkdtemp(prefix="msp-bench-site-"))
    root.chmod(0o755)
    ntlm = root / "ntlm_users"
    ntlm.write_text(f"CLINIC:svc-bench:{WIN_PASSWORD}\n")
    env = {**os.environ, "NTLM_USER_FILE": str(ntlm), "PYTHONPATH": str(ROOT / "src")}
    win_proc = subprocess.Popen(
        [sys.executable, __file__, "--serve-windows", str(args.windows), "--seed", str(args.seed)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    servers: list[Any] = []
    try:
        assert win_proc.stdout is not None
        windows = json.loads(win_proc.stdout.readline())
        servers, linux, key = _linux_hosts(args.linux, root, USER) if args.linux else ([], [], Path())
        state = root / "state"
        state.mkdir(mode=0o700)
        spec = {
            "windows": windows,
            "linux": linux,
            "key": str(key) if args.linux else "",
            "user": USER,
            "state": str(state),
            "closed_port": free_port(),
            "seed": args.seed,
        }
        spec_path = root / "spec.json"
        spec_path.write_text(json.dumps(spec))
        rows = []
        for level in levels:
            out = subprocess.run(
                [sys.executable, __file__, "--run", str(level), "--spec", str(spec_path)],
                capture_output=True,
                text=True,
                env=env,
                check=True,
            )
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    finally:
        if win_proc.stdin is not None:
            win_proc.stdin.close()
        try:
            win_proc.wait(10)
        except subprocess.TimeoutExpired:
            win_proc.kill()
        for srv in servers:
            srv.stop()
        if users:
            remove_users(users)
        shutil.rmtree(root, ignore_errors=True)

    print(
        f"site: {args.windows} Windows (WinRM) + {args.linux} Linux (SSH) hosts, "
        f"{LAT_MIN * 1000:.0f}-{LAT_MAX * 1000:.0f} ms injected per scan command"
    )
    head = ("concurrency", "hosts", "complete", "findings", "wall s", "CPU s", "peak RSS MB")
    print(f"{head[0]:<34} {head[1]:>5} {head[2]:>8} {head[3]:>8} {head[4]:>8} {head[5]:>7} {head[6]:>11}")
    for r in rows:
        c = r["concurrency"]
        label = f"{c} (Go daemon: one at a time)" if c == 1 else f"{c}" + (" (default)" if c == 8 else "")
        print(
            f"{label:<34} {r['hosts']:>5} {r['statuses'].get('complete', 0):>8} {r['findings']:>8} "
            f"{r['wall_s']:>8.2f} {r['cpu_s']:>7.2f} {r['peak_rss_mb']:>11.1f}"
        )
    by_level = {r["concurrency"]: r for r in rows}
    if 1 in by_level and len(by_level) > 1:
        best = min(rows, key=lambda r: r["wall_s"])
        print(f"speed-up {by_level[1]['wall_s'] / best['wall_s']:.1f}x wall at concurrency "
              f"{best['concurrency']} against one host at a time")
    if args.json:
        args.json.write_text(json.dumps({"windows": args.windows, "linux": args.linux,
                                         "latency_ms": [LAT_MIN * 1000, LAT_MAX * 1000],
                                         "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
