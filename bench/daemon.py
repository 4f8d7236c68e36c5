"""The daemon's footprint: ``python -m agent run`` against the local Central Command, sampled.

    python bench/daemon.py [--seconds 60] [--poll-interval 10] [--targets 0,50] [--json OUT]
                           [--go-daemon PATH] [--keep]

For each scenario (no targets; 50 Linux targets on loopback addresses ``127.0.0.2``…``127.0.0.51``
at a port nothing listens on, so every connection is refused at once) the bench starts the local
Central Command (in this process, SQLite in a temporary directory), provisions a site and an API
key, writes a config with ``poll_interval: S`` and starts the agent. Every second it samples
``/proc/<pid>/status`` (VmRSS, RssAnon) and ``/proc/<pid>/stat`` (utime + stime). At the end it asks
the daemon over its control socket which modules it imported (``loaded_modules``), stops it with
SIGTERM and reads the gen-2 collection count from the ``status.json`` the daemon writes at
shutdown (``process.gc_collections``: collections per generation since the start). Like systemd
does for the unit (``RuntimeDirectory=msp-agent``), the daemon gets a runtime directory on a tmpfs
(``$RUNTIME_DIRECTORY``, under ``/dev/shm``) for its status file, Prometheus file and control socket.

Reported per scenario: RSS median and max, RssAnon median and max, CPU ms per checkin cycle (the
process's CPU time after its first checkin divided by the checkins the server recorded after it),
start → first checkin (from the spawn to the server's first checkin record), the cadence error
(each gap between checkins the server recorded minus the poll interval, against the allowed
±5 % jitter + 100 ms), gen-2 collections; and the **library floor**: a bare interpreter importing
every non-agent module the daemon had imported (stdlib and third-party), so the agent's own
overhead is the difference. The floor is also measured without aiohttp and its dependencies
(``floor_no_aiohttp``), which estimates the daemon once its HTTP client no longer uses aiohttp.

``--go-daemon PATH`` runs a Go appliance daemon binary the user supplies against the same server
in a scratch mount namespace (``unshare -rm``; ``/etc`` and ``/var/lib`` are overlaid by
directories of symlinks to the real entries, with ``/etc/osiriscare-identity.json`` and
``/var/lib/msp`` writable in a temporary directory) and reports the agent/Go ratios.

``--json OUT`` writes the summary and the per-second samples::

    {"scenarios": [{"name", "targets", "agent": {..., "samples": [{"t": s, "rss_kib", "rss_anon_kib",
     "cpu_s"}]}, "go": {...} | null, "floor": {...}, "floor_no_aiohttp": {...}}], "targets": {...}}

(the first scenario also carries ``"version": {"min_ms", "median_ms"}``: ``python -m agent
version``). The agent's modules are compiled first (``__pycache__`` next to the sources), as an
installed agent has its ``.pyc`` files.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
SITE = "clinic-bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")
KIB = 1024
#: aiohttp and the packages only it pulls in (the floor without them estimates the daemon after
#: its HTTP client stops using aiohttp).
AIOHTTP_TREE = ("aiohttp", "aiohappyeyeballs", "aiosignal", "attr", "frozenlist", "multidict",
                "propcache", "yarl", "async_timeout")
#: The issue's targets (reported, not asserted).
TARGETS = {"none": {"rss_anon_mib": 20, "rss_mib": 34}, "50": {"rss_anon_mib": 32, "rss_mib": 52},
           "own_overhead_mib": 6, "cpu_ms_per_cycle": 4, "first_checkin_ms": 250}


@dataclass
class Sample:
    t: float  # seconds since the spawn
    rss_kib: int
    rss_anon_kib: int
    cpu_s: float


@dataclass
class ProcResult:
    """One measured process (the agent, the Go daemon)."""

    samples: list[Sample] = field(default_factory=list)
    checkins: list[float] = field(default_factory=list)  # server receive times, s since spawn
    gen2_collections: int | None = None
    modules: list[str] = field(default_factory=list)
    exit_code: int | None = None

    def summary(self, poll: float) -> dict[str, Any]:
        rss = [s.rss_kib for s in self.samples]
        anon = [s.rss_anon_kib for s in self.samples]
        out: dict[str, Any] = {
            "rss_median_mib": _mib(statistics.median(rss)) if rss else None,
            "rss_max_mib": _mib(max(rss)) if rss else None,
            "rss_anon_median_mib": _mib(statistics.median(anon)) if anon else None,
            "rss_anon_max_mib": _mib(max(anon)) if anon else None,
            "checkins": len(self.checkins),
            "first_checkin_ms": round(self.checkins[0] * 1000, 1) if self.checkins else None,
            "cpu_ms_per_cycle": cpu_per_cycle(self.samples, self.checkins),
            "gen2_collections": self.gen2_collections,
            "exit_code": self.exit_code,
        }
        out.update(cadence(self.checkins, poll))
        return out


def _mib(kib: float) -> float:
    return round(kib / 1024, 2)


# --- /proc ------------------------------------------------------------------------------------


def read_proc(pid: int) -> tuple[int, int, float] | None:
    """(VmRSS KiB, RssAnon KiB, utime + stime seconds) of ``pid``; None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rss = anon = 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
        elif line.startswith("RssAnon:"):
            anon = int(line.split()[1])
    # Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    rest = stat[stat.rindex(")") + 2:].split()
    cpu = (int(rest[11]) + int(rest[12])) / CLK_TCK
    return rss, anon, cpu


def cpu_per_cycle(samples: list[Sample], checkins: list[float]) -> float | None:
    """CPU ms per checkin cycle in the steady state: CPU time from the first sample after the
    first checkin to the last sample, over the checkins the server recorded in that span."""
    if len(checkins) < 2 or not samples:
        return None
    after = [s for s in samples if s.t >= checkins[0]]
    if len(after) < 2:
        return None
    first, last = after[0], after[-1]
    cycles = sum(1 for c in checkins if first.t < c <= last.t)
    if cycles == 0:
        return None
    return round((last.cpu_s - first.cpu_s) * 1000 / cycles, 2)


def cadence(checkins: list[float], poll: float) -> dict[str, Any]:
    """Each gap between recorded checkins against the poll interval; ``allowed_s``: runtime.md
    §4.2's ±5 % jitter plus 100 ms."""
    gaps = [b - a for a, b in itertools.pairwise(checkins)]
    errors = [abs(g - poll) for g in gaps]
    allowed = poll * 0.05 + 0.1
    return {
        "gaps": len(gaps),
        "gap_min_s": round(min(gaps), 3) if gaps else None,
        "gap_max_s": round(max(gaps), 3) if gaps else None,
        "cadence_error_max_s": round(max(errors), 3) if errors else None,
        "cadence_allowed_s": round(allowed, 3),
        "cadence_within": all(e <= allowed for e in errors) if errors else None,
    }


# --- the server -------------------------------------------------------------------------------


class Server:
    def __init__(self, work: Path) -> None:
        self.work = work

    async def start(self) -> None:
        from agent.central import CentralCommand

        self.cc = CentralCommand(self.work / "central.db")
        await self.cc.start()
        self.cc.create_site(SITE)

    async def stop(self) -> None:
        await self.cc.stop()
        self.cc.close()

    def checkin_times(self) -> list[float]:
        return [float(r["received_at"]) for r in self.cc.checkins(SITE)
                if r.get("http_status") == 200]


def refused_port() -> int:
    """A loopback port nothing listens on (bound, then closed): connections are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def linux_targets(n: int) -> list[dict[str, Any]]:
    port = refused_port()
    return [{"hostname": f"127.0.0.{i + 2}", "port": port, "username": "bench",
             "password": f"bench-{i}"} for i in range(n)]


def config_text(server: Server, state: Path, poll: float, targets: int) -> str:
    scan = "true" if targets else "false"
    return (f"site_id: {SITE}\napi_key: {server.cc.create_api_key(SITE)}\n"
            f"api_endpoint: {server.cc.url}\nstate_dir: {state}\npoll_interval: {poll:g}\n"
            f"enable_drift_detection: {scan}\nworkstation_enabled: false\n"
            "log_level: INFO\nlog_format: json\n")


#: Where the measured agent's sources are (``--agent-src``: another checkout, for before/after).
AGENT_SRC = [ROOT / "src"]


def agent_env() -> dict[str, str]:
    """The measured processes' environment: no systemd variables, the agent's sources first,
    bytecode caching on (an installed agent has its ``.pyc`` files; a checkout run with
    PYTHONDONTWRITEBYTECODE would compile every agent module at each start)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("NOTIFY_", "WATCHDOG_", "MSP_AGENT_", "RUNTIME_DIRECTORY",
                                "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX"))}
    env["PYTHONPATH"] = str(AGENT_SRC[0])
    return env


def warm_pycache() -> None:
    """Compile the agent's sources next to them (``__pycache__``, ignored by git), once."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(AGENT_SRC[0] / "agent")],
                   env=agent_env(), check=True, stdout=subprocess.DEVNULL)


# --- running a process ------------------------------------------------------------------------


async def measure(argv: list[str], server: Server, seconds: float, *, env: dict[str, str],
                  cwd: Path, before_stop: Any = None) -> ProcResult:
    """Spawn ``argv``, sample it every second for ``seconds``, then SIGTERM it."""
    result = ProcResult()
    known = len(server.checkin_times())
    log = (cwd / "proc.log").open("wb")
    t0 = time.time()
    proc = await asyncio.create_subprocess_exec(*argv, env=env, cwd=cwd,
                                                stdin=asyncio.subprocess.DEVNULL, stdout=log,
                                                stderr=subprocess.STDOUT)
    loop = asyncio.get_running_loop()
    start = loop.time()
    tick = 0
    while loop.time() - start < seconds and proc.returncode is None:
        tick += 1
        await asyncio.sleep(max(0.0, start + tick - loop.time()))
        got = read_proc(proc.pid)
        if got is None:
            break
        result.samples.append(Sample(round(time.time() - t0, 3), *got))
    if before_stop is not None and proc.returncode is None:
        try:
            result.modules = await loop.run_in_executor(None, before_stop)
        except Exception as exc:  # noqa: BLE001 - the figures without the module list still count
            print(f"warning: no module list from the daemon: {exc}", file=sys.stderr)
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    try:
        result.exit_code = await asyncio.wait_for(proc.wait(), 30)
    except TimeoutError:
        proc.kill()
        result.exit_code = await proc.wait()
    log.close()
    result.checkins = [round(t - t0, 4) for t in server.checkin_times()[known:]]
    return result


@contextlib.contextmanager
def runtime_directory() -> Iterator[Path]:
    """What systemd gives the unit (``RuntimeDirectory=msp-agent``): a directory on a tmpfs,
    named by ``$RUNTIME_DIRECTORY`` (status file, Prometheus file, control socket). Set for the
    measured daemon and, while it runs, for this process (its control-socket queries)."""
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
    rt = Path(tempfile.mkdtemp(prefix="msp-agent-bench-", dir=base))
    os.chmod(rt, 0o750)
    before = os.environ.get("RUNTIME_DIRECTORY")
    os.environ["RUNTIME_DIRECTORY"] = str(rt)
    try:
        yield rt
    finally:
        if before is None:
            os.environ.pop("RUNTIME_DIRECTORY", None)
        else:
            os.environ["RUNTIME_DIRECTORY"] = before
        shutil.rmtree(rt, ignore_errors=True)


def ask_modules(state: Path) -> list[str]:
    from agent.runtime.control import ask

    answer = ask(state, "loaded_modules")
    mods = answer.get("modules", [])
    return [str(m) for m in mods]


def gen2(state: Path) -> int | None:
    from agent.proc import runtime_dir
    from agent.runtime.status import read_status

    doc = read_status(runtime_dir(state) / "status.json")
    try:
        return int(doc["process"]["gc_collections"][2]) if doc else None
    except (KeyError, IndexError, TypeError, ValueError):
        return None


async def run_agent(server: Server, work: Path, seconds: float, poll: float,
                    targets: int) -> ProcResult:
    state = work / "state"
    state.mkdir(mode=0o700)
    if targets:
        server.cc.set_credentials(SITE, [], linux_targets(targets))
    else:
        server.cc.set_credentials(SITE, [], [])
    cfg = work / "config.yaml"
    cfg.write_text(config_text(server, state, poll, targets))
    cfg.chmod(0o600)
    with runtime_directory() as rt:
        env = {**agent_env(), "RUNTIME_DIRECTORY": str(rt)}
        res = await measure([sys.executable, "-m", "agent", "run", "--config", str(cfg)], server,
                            seconds, env=env, cwd=work, before_stop=lambda: ask_modules(state))
        res.gen2_collections = gen2(state)
    return res


# --- the library floor ------------------------------------------------------------------------

FLOOR_SCRIPT = """
import importlib, sys
for name in sys.stdin.read().split():
    try:
        importlib.import_module(name)
    except Exception:
        pass
print("ready", flush=True)
sys.stdin.close()
import time
time.sleep(3600)
"""


def floor_modules(modules: list[str], *, without: tuple[str, ...] = ()) -> list[str]:
    """The modules a bare interpreter imports for the floor: every one the daemon had loaded
    except the agent's own (and ``without``'s packages)."""
    skip = ("agent", "__main__", "__mp_main__", *without)
    return sorted(m for m in modules if m.split(".")[0] not in skip)


async def measure_floor(modules: list[str]) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", FLOOR_SCRIPT, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, env=agent_env())
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(" ".join(modules).encode())
    proc.stdin.close()
    try:
        await asyncio.wait_for(proc.stdout.readline(), 60)
        await asyncio.sleep(0.5)
        got = read_proc(proc.pid)
    finally:
        proc.kill()
        await proc.wait()
    if got is None:
        return {}
    return {"modules": len(modules), "rss_mib": _mib(got[0]), "rss_anon_mib": _mib(got[1])}


# --- the Go daemon ----------------------------------------------------------------------------


def symlink_farm(real: Path, farm: Path, mirror: Path, writable: dict[str, str]) -> None:
    """``farm``: a symlink per entry of ``real`` pointing into ``mirror`` (where the namespace
    bind-mounts the real directory); ``writable`` names are real files/dirs in ``farm``
    (``"dir"`` or ``"file"``)."""
    farm.mkdir(parents=True, exist_ok=True)
    try:
        names = os.listdir(real)
    except OSError:
        names = []
    for name in names:
        if name not in writable:
            (farm / name).symlink_to(mirror / name)
    for name, kind in writable.items():
        if kind == "dir":
            (farm / name).mkdir(exist_ok=True)


def go_namespace_command(binary: Path, scratch: Path, config: Path) -> list[str]:
    """The command that runs ``binary`` with ``/etc`` and ``/var/lib`` overlaid so that its
    writes to ``/etc/osiriscare-identity.json`` and ``/var/lib/msp`` land under ``scratch``; the
    config is copied to ``/var/lib/msp/config.yaml`` (the Go daemon's default path)."""
    etc_farm, lib_farm = scratch / "etc", scratch / "var-lib"
    symlink_farm(Path("/etc"), etc_farm, scratch / "host-etc", {"osiriscare-identity.json": "file"})
    symlink_farm(Path("/var/lib"), lib_farm, scratch / "host-var-lib", {"msp": "dir"})
    (scratch / "host-etc").mkdir(exist_ok=True)
    (scratch / "host-var-lib").mkdir(exist_ok=True)
    (lib_farm / "msp" / "config.yaml").write_bytes(config.read_bytes())
    script = (
        'set -e; s="$1"; b="$2"; '
        'mount --bind /etc "$s/host-etc"; mount --bind /var/lib "$s/host-var-lib"; '
        'mount --bind "$s/etc" /etc; mount --bind "$s/var-lib" /var/lib; '
        'exec "$b" --config /var/lib/msp/config.yaml')
    return ["unshare", "-rm", "sh", "-c", script, "go-daemon", str(scratch), str(binary.resolve())]


async def run_go(binary: Path, server: Server, work: Path, seconds: float, poll: float,
                 targets: int) -> ProcResult:
    scratch = work / "go-ns"
    scratch.mkdir()
    cfg = work / "go-config.yaml"
    cfg.write_text(config_text(server, Path("/var/lib/msp"), poll, targets))
    argv = go_namespace_command(binary, scratch, cfg)
    env = {k: v for k, v in agent_env().items() if k != "PYTHONPATH"}
    res = await measure(argv, server, seconds, env=env, cwd=work)
    return res


# --- the report -------------------------------------------------------------------------------


async def scenario(targets: int, args: argparse.Namespace, base: Path) -> dict[str, Any]:
    work = base / f"targets-{targets}"
    work.mkdir()
    server = Server(work)
    await server.start()
    try:
        agent = await run_agent(server, work, args.seconds, args.poll_interval, targets)
        go = None
        if args.go_daemon:
            go = await run_go(Path(args.go_daemon), server, work, args.seconds,
                              args.poll_interval, targets)
    finally:
        await server.stop()
    out: dict[str, Any] = {"name": f"{targets} targets" if targets else "no targets",
                           "targets": targets, "poll_interval_s": args.poll_interval,
                           "seconds": args.seconds}
    summary = agent.summary(args.poll_interval)
    out["agent"] = {**summary, "modules_imported": len(agent.modules),
                    "samples": [asdict(s) for s in agent.samples]}
    floor = await measure_floor(floor_modules(agent.modules)) if agent.modules else {}
    lean = await measure_floor(floor_modules(agent.modules, without=AIOHTTP_TREE)) \
        if agent.modules else {}
    out["floor"], out["floor_no_aiohttp"] = floor, lean
    med = summary["rss_anon_median_mib"]
    if floor and med is not None:
        out["agent"]["own_rss_anon_mib"] = round(med - floor["rss_anon_mib"], 2)
        out["agent"]["own_rss_mib"] = round(summary["rss_median_mib"] - floor["rss_mib"], 2)
    if floor and lean and med is not None:
        saved_anon = floor["rss_anon_mib"] - lean["rss_anon_mib"]
        saved = floor["rss_mib"] - lean["rss_mib"]
        out["agent"]["projected_no_aiohttp"] = {
            "rss_median_mib": round(summary["rss_median_mib"] - saved, 2),
            "rss_anon_median_mib": round(med - saved_anon, 2)}
    if go is not None:
        gs = go.summary(args.poll_interval)
        out["go"] = {**gs, "samples": [asdict(s) for s in go.samples]}
        out["ratios"] = {k: round(summary[k] / gs[k], 2) for k in
                         ("rss_median_mib", "rss_anon_median_mib", "cpu_ms_per_cycle",
                          "first_checkin_ms") if summary.get(k) and gs.get(k)}
    else:
        out["go"] = None
    return out


def table(results: list[dict[str, Any]]) -> str:
    rows = [("scenario", "RSS med/max", "RssAnon med/max", "own anon", "CPU/cycle",
             "1st checkin", "cadence err (allowed)", "checkins", "gen2")]
    for r in results:
        a = r["agent"]
        for who, d in (("agent", a), ("go", r.get("go"))):
            if not d:
                continue
            rows.append((
                f"{r['name']} {who}",
                f"{d['rss_median_mib']}/{d['rss_max_mib']} MiB",
                f"{d['rss_anon_median_mib']}/{d['rss_anon_max_mib']} MiB",
                f"{d.get('own_rss_anon_mib', '-')} MiB" if who == "agent" else "-",
                f"{d['cpu_ms_per_cycle']} ms",
                f"{d['first_checkin_ms']} ms",
                f"{d['cadence_error_max_s']} s ({d['cadence_allowed_s']} s)",
                str(d["checkins"]),
                str(d["gen2_collections"]),
            ))
        for name in ("floor", "floor_no_aiohttp"):
            f = r.get(name)
            if f:
                rows.append((f"{r['name']} {name}", f"{f['rss_mib']} MiB", f"{f['rss_anon_mib']} MiB",
                             "-", "-", "-", "-", f"{f['modules']} mods", "-"))
        proj = a.get("projected_no_aiohttp")
        if proj:
            rows.append((f"{r['name']} agent w/o aiohttp (est.)", f"{proj['rss_median_mib']} MiB",
                         f"{proj['rss_anon_median_mib']} MiB", "-", "-", "-", "-", "-", "-"))
        if r.get("ratios"):
            rows.append((f"{r['name']} agent/go", *(str(r['ratios'].get(k, '-')) for k in
                         ("rss_median_mib", "rss_anon_median_mib")), "-",
                         str(r["ratios"].get("cpu_ms_per_cycle", "-")),
                         str(r["ratios"].get("first_checkin_ms", "-")), "-", "-", "-"))
    if results and "version" in results[0]:
        v = results[0]["version"]
        rows.append(("python -m agent version", f"{v['min_ms']} ms min", f"{v['median_ms']} ms med",
                     "-", "-", "-", "-", "-", "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)


def version_ms(runs: int = 10) -> dict[str, float]:
    """Wall time of ``python -m agent version`` (``--help``'s path too: the CLI without the
    daemon), best and median of ``runs``."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "agent", "version"], env=agent_env(), check=True,
                       stdout=subprocess.DEVNULL)
        times.append((time.perf_counter() - t) * 1000)
    return {"min_ms": round(min(times), 1), "median_ms": round(statistics.median(times), 1)}


async def run_all(args: argparse.Namespace) -> list[dict[str, Any]]:
    targets = [int(t) for t in str(args.targets).split(",") if t.strip()]
    with tempfile.TemporaryDirectory(prefix="msp-bench-daemon-") as tmp:
        base = Path(args.keep) if args.keep else Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        warm_pycache()
        results = [await scenario(n, args, base) for n in targets]
        if results:
            results[0]["version"] = version_ms()
        return results


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--seconds", type=float, default=60.0, help="run time per process (60)")
    p.add_argument("--poll-interval", type=float, default=10.0, help="poll_interval (10)")
    p.add_argument("--targets", default="0,50", help="scenarios: Linux target counts (0,50)")
    p.add_argument("--go-daemon", help="also run this Go appliance daemon binary")
    p.add_argument("--json", dest="json_out", help="write the summary and samples here")
    p.add_argument("--keep", help="work in this directory and keep it")
    p.add_argument("--agent-src", type=Path, help="measure the agent in this src/ directory "
                   "(another checkout, for before/after figures)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.agent_src:
        AGENT_SRC[0] = args.agent_src.resolve()
    results = asyncio.run(run_all(args))
    print(table(results))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"scenarios": results, "targets": TARGETS},
                                                  indent=1))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    raise SystemExit(main())
