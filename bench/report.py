"""Runs every benchmark and writes ``bench/report/REPORT.md`` with its PNG plots.

    python -m bench [--quick] [--out DIR] [--skip pytest,ed25519,daemon,scan,process]
    python bench/report.py [...]                               (the same)

Steps, each in its own process: the pytest-benchmark suites (``pytest bench/``, saved with
``--benchmark-autosave`` under ``.benchmarks/`` for ``--benchmark-compare``, plus a JSON copy in
the report folder), the Go baseline in the same run (``bench/conftest.py``), the Ed25519
batch-size sweep (``bench/ed25519.py``), the daemon's memory and CPU over time
(``bench/daemon.py``, when present), scan time against concurrency (``bench/scan_site.py``) and
the whole-process runs (``bench/logship_throughput.py``, ``bench/outbox_throughput.py``,
``bench/checkin_cycle.py``). A step that cannot run is reported as such in REPORT.md.
``--quick`` shortens every step (about two minutes of CPU on a 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # python bench/report.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import plots
from bench.common import BENCH, ROOT, go_exe, machine, run_process

STEPS = ("pytest", "ed25519", "daemon", "scan", "process")
#: Calibration of the Go baseline against the Go daemon's own code (see REPORT.md's notes).
CALIBRATION = (
    "Each Go row was checked against the Go daemon's own packages (its `CheckinRequest`/"
    "`CheckinResponse`, `phiscrub.Scrub`, `OrderVerifier.VerifyOrder`), built outside this "
    "repository and run in one process with this baseline, 40 interleaved rounds each: ours / "
    "daemon, min wall time, 0.96-1.11 on every operation (encode typical 4.4 / 4.0 µs, large "
    "39.7 / 39.5; decode typical 22.0 / 22.8, large 209 / 197; VerifyOrder 60.5 / 60.0; scrub "
    "with hits 49.0 / 49.4, without 30.5 / 30.5). The per-order checks row (`orders.verify`) adds "
    "the processor's three JSON decodes of the signed payload to VerifyOrder (1.23× VerifyOrder). "
    "The scrubber's output was byte-identical to the daemon's on all 20,000 single-line texts "
    "of the developer corpus.")


@dataclass
class Report:
    quick: bool
    out: Path
    started: dict[str, Any] = field(default_factory=machine)
    sections: list[str] = field(default_factory=list)
    process_rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _python() -> str:
    return sys.executable


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")]), **extra}


def _us(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    us = seconds * 1e6
    return f"{us:,.1f}" if us < 1000 else f"{us:,.0f}"


# --- step 1: pytest-benchmark and the Go baseline ---------------------------------------------------


def _bench_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for b in data["benchmarks"]:
        info = b.get("extra_info", {})
        per = info.get("per_call", 1) or 1
        st = b["stats"]
        go = info.get("go")
        row: dict[str, Any] = {
            "group": b["group"], "name": b["name"].removeprefix("test_"),
            "unit": info.get("unit", "op"), "py_min": st["min"] / per, "py_median": st["median"] / per,
            "py_rounds": st["rounds"], "py_iterations": st["iterations"], "go": go,
            "py_cpu": info["cpu_s"] / per if "cpu_s" in info else None,
            "go_note": info.get("go_missing", ""), "ratio": None, "ratio_cpu": None,
        }
        if go:
            row["go_min"] = go["ns_min"] / 1e9
            row["go_median"] = go["ns_median"] / 1e9
            row["go_cpu"] = go["cpu_ns"] / 1e9
            row["ratio"] = row["go_min"] / row["py_min"]
            if row["py_cpu"]:
                row["ratio_cpu"] = row["go_cpu"] / row["py_cpu"]
        row["label"] = f"{row['group']}: {row['name']}"
        rows.append(row)
    return rows


def run_pytest(rep: Report) -> None:
    out = rep.out / "pytest-benchmark.json"
    cmd = [_python(), "-m", "pytest", str(BENCH), "-q", "-p", "no:randomly", "--benchmark-autosave",
           f"--benchmark-json={out}", "--benchmark-columns=min,median,rounds"]
    if rep.quick:
        cmd += ["--benchmark-max-time=0.15", "--benchmark-min-rounds=5"]
    run = run_process(cmd, timeout=1800, env=_env(BENCH_GO_MODE="quick" if rep.quick else "full"))
    if run.returncode != 0 or not out.exists():
        rep.sections.append("## Per operation\n\nNot measured: `pytest bench/` failed "
                            f"(exit {run.returncode}).\n")
        return
    data = json.loads(out.read_text())
    rows = _bench_rows(data)
    mi = data["machine_info"]
    lines = [
        "## Per operation: the agent against the Go baseline", "",
        f"`pytest bench/` (pytest-benchmark {data.get('version', '')}), {len(rows)} benchmarks, "
        f"{run.wall_s:.0f} s wall / {run.cpu_s:.0f} s CPU for the whole step; load average "
        f"{_load(mi.get('loadavg_start'))} at its start, {_load(mi.get('loadavg_end'))} at its end. "
        "Times are per item (the unit column), in µs: wall min and median over the rounds, and "
        "CPU (user + system of the process, measured after the timed rounds). The Go figures come "
        "from `bench/go/gobench` in the same run on the same input bytes, run once before and once "
        "after the Python benchmarks (wall min and median over rounds of about 2 ms, CPU over all "
        "rounds; each the better of the two runs, rounds of both counted). **× Go** = Go time / "
        "Python time (> 1: the agent is faster): on the wall-time minimum (the cost with the "
        "least interference) and on CPU time (what stays comparable when other work shares the "
        "machine; Go's includes its garbage collector's threads).", "",
        "| group | operation | unit | Python min | Python median | Python CPU | rounds | Go min | "
        "Go median | Go CPU | Go rounds | × Go (wall min) | × Go (CPU) |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        go = r["go"]
        ratio = f"{r['ratio']:.2f}" if r["ratio"] else "–"
        ratio_cpu = f"{r['ratio_cpu']:.2f}" if r["ratio_cpu"] else "–"
        lines.append(
            f"| {r['group']} | {r['name']} | {r['unit']} | {_us(r['py_min'])} | {_us(r['py_median'])} | "
            f"{_us(r['py_cpu'])} | {r['py_rounds']} | {_us(r.get('go_min'))} | {_us(r.get('go_median'))} | "
            f"{_us(r.get('go_cpu'))} | {go['rounds'] if go else '–'} | {ratio} | {ratio_cpu} |")
    lines += ["", "What each Go row mirrors (our own Go code in `bench/go/baseline/`, standard library "
              "only):", ""]
    seen = set()
    for r in rows:
        go = r["go"]
        if go and go["op"] not in seen:
            seen.add(go["op"])
            lines.append(f"- `{go['op']}`: {go['mirrors']}")
    for b in data["benchmarks"]:
        sig = b.get("extra_info", {}).get("go_signature_only")
        if sig:
            lines.append(f"- `{sig['op']}` (beside `orders.verify`): {sig['mirrors']}: "
                         f"{_us(sig['ns_min'] / 1e9)} µs min, {_us(sig['cpu_ns'] / 1e9)} µs CPU per order")
    no_go = sorted({r["group"] for r in rows if not r["go"]})
    if no_go:
        lines.append(f"- no Go row for {', '.join(no_go)}: "
                     + "; ".join(sorted({r['go_note'] for r in rows if not r['go'] and r['go_note']})))
    ratio_png = plots.ratio_to_go(rows, rep.out / "ratio_to_go.png")
    lines += ["", f"![ratio to Go]({ratio_png.name})", ""]
    rep.sections.append("\n".join(lines))


def _load(v: Any) -> str:
    return " / ".join(f"{x:.2f}" for x in v) if v else "?"


# --- step 2: Ed25519 per signature against batch size ------------------------------------------------


def run_ed25519(rep: Report) -> None:
    out = rep.out / "ed25519.json"
    sizes = "1,16,64,256" if rep.quick else "1,16,64,256,1024,4096"
    cmd = [_python(), str(BENCH / "ed25519.py"), "--json", str(out), "--sizes", sizes]
    if rep.quick:
        cmd.append("--quick")
    run = run_process(cmd, timeout=1800, env=_env())
    result = "see the plot" if run.returncode == 0 else f"failed ({run.returncode})"
    rep.process_rows.append({"what": "Ed25519 batch-size sweep (`bench/ed25519.py`)", "run": run,
                             "result": result})
    if run.returncode != 0 or not out.exists():
        rep.sections.append("## Ed25519: cost per signature\n\nNot measured: `bench/ed25519.py` failed.\n")
        return
    rows = json.loads(out.read_text())
    png = plots.ed25519_per_signature(rows, rep.out / "ed25519_per_signature.png")
    lines = ["## Ed25519: cost per signature against batch size", "",
             "CPU µs per signature (user + system of each process), same items for all three; "
             "`bench/ed25519.py` " + ("--quick" if rep.quick else "") + ".", "",
             "| keys | batch | agent batch | PyNaCl one by one | Go | × Go | × PyNaCl |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['keys']} | {r['n']} | {r['batch_us']:.1f} | {r['pynacl_us']:.1f} | "
                     f"{r['go_us']:.1f} | {r['vs_go']:.2f} | {r['vs_pynacl']:.2f} |")
    lines += ["", f"![Ed25519 per signature]({png.name})", ""]
    rep.sections.append("\n".join(lines))


# --- step 3: the daemon over time (bench/daemon.py, the lean-daemon benchmark) -----------------------


def _daemon_args(help_text: str, quick: bool) -> list[str]:
    """Short-run options for ``bench/daemon.py``, from the ones its ``--help`` lists."""
    if not quick:
        return []
    if "--quick" in help_text:
        return ["--quick"]
    args = []
    for opt, value in (("--seconds", "20"), ("--duration", "20"), ("--poll-interval", "10"),
                       ("--targets", "0")):
        if opt in help_text:
            args += [opt, value]
    return args


def _daemon_series(data: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(label, measurement with ``samples``) pairs: one per scenario and process (agent, Go)."""
    if "samples" in data:
        return [("agent", data)]
    out = []
    for sc in data.get("scenarios", []):
        for proc in ("agent", "go"):
            m = sc.get(proc)
            if isinstance(m, dict) and m.get("samples"):
                out.append((f"{proc}, {sc.get('name', sc.get('targets', ''))}", m))
    return out


def run_daemon(rep: Report) -> None:
    script = BENCH / "daemon.py"
    title = "## The daemon over time: memory and CPU"
    if not script.exists():
        rep.sections.append(f"{title}\n\nNot measured: `bench/daemon.py` (the lean-daemon benchmark) "
                            "is not in this tree.\n")
        return
    out = rep.out / "daemon.json"
    help_text = subprocess.run([_python(), str(script), "--help"], capture_output=True, text=True,
                               env=_env(), timeout=120).stdout
    cmd = [_python(), str(script), "--json", str(out), *_daemon_args(help_text, rep.quick)]
    run = run_process(cmd, timeout=3600, env=_env())
    shown = " ".join(["bench/daemon.py", *cmd[2:]]).replace(str(out), "OUT")
    if run.returncode != 0 or not out.exists():
        rep.sections.append(f"{title}\n\nNot measured: `{shown}` failed (exit {run.returncode}).\n")
        return
    series = _daemon_series(json.loads(out.read_text()))
    rep.process_rows.append({"what": "the daemon (`bench/daemon.py`, all scenarios)", "run": run,
                             "result": f"{len(series)} series sampled"})
    lines = [title, "", f"`{shown}`; per series, its own summary (units as named; CPU = "
             "utime + stime of the daemon process):", ""]
    for label, m in series:
        scalars = {k: v for k, v in m.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        lines.append(f"- **{label}** ({len(m['samples'])} samples): "
                     + ", ".join(f"{k} {_fmt(v)}" for k, v in scalars.items()))
    if series:
        png = plots.daemon_over_time({label: m["samples"] for label, m in series},
                                     rep.out / "daemon_rss_cpu.png")
        lines += ["", f"![daemon RSS and CPU]({png.name})", ""]
    rep.sections.append("\n".join(lines) + "\n")


def _fmt(v: Any) -> str:
    return f"{v:,.2f}" if isinstance(v, float) else str(v)


# --- step 4: scan time against concurrency --------------------------------------------------------------


def run_scan(rep: Report) -> None:
    title = "## Scanning a site: wall time against concurrency"
    out = rep.out / "scan.json"
    sshd = shutil.which("sshd") is not None or Path("/usr/sbin/sshd").exists()
    windows, linux = (3, 3) if rep.quick else (40, 40)
    if not (os.geteuid() == 0 and sshd):
        linux = 0  # Linux hosts need a real sshd and throwaway users (root)
        rep.notes.append("scan: no Linux hosts (needs root and sshd); Windows hosts only")
    levels = "1,2,4,8" if rep.quick else "1,2,4,8,16"
    cmd = [_python(), str(BENCH / "scan_site.py"), "--windows", str(windows), "--linux", str(linux),
           "--concurrency", levels, "--json", str(out)]
    run = run_process(cmd, timeout=3600, env=_env())
    if run.returncode != 0 or not out.exists():
        rep.sections.append(f"{title}\n\nNot measured: `bench/scan_site.py` failed "
                            f"(exit {run.returncode}).\n")
        return
    data = json.loads(out.read_text())
    rows = data["rows"]
    png = plots.scan_concurrency(rows, rep.out / "scan_concurrency.png")
    lines = [title, "",
             f"{data['windows']} Windows (WinRM) + {data['linux']} Linux (SSH) simulated hosts, "
             f"{data['latency_ms'][0]:.0f}-{data['latency_ms'][1]:.0f} ms injected per scan command; one "
             "fresh agent process per concurrency; CPU = user + system of the agent process only.", "",
             "| concurrency | hosts | complete | wall s | agent CPU s | peak RSS MB |",
             "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in sorted(rows, key=lambda r: r["concurrency"]):
        level = f"{r['concurrency']}{' (Go daemon)' if r['concurrency'] == 1 else ''}"
        lines.append(f"| {level} | {r['hosts']} | "
                     f"{r['statuses'].get('complete', 0)} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | "
                     f"{r['peak_rss_mb']:.1f} |")
    lines += ["", f"![scan time against concurrency]({png.name})", ""]
    rep.sections.append("\n".join(lines))
    rep.process_rows.append({"what": "scan a simulated site (`bench/scan_site.py`, all levels)", "run": run,
                             "result": f"{len(rows)} levels"})


# --- step 5: whole-process throughput ----------------------------------------------------------------------


def run_processes(rep: Report) -> None:
    jobs = [
        ("log shipping to the local Central Command (`bench/logship_throughput.py`)",
         [str(BENCH / "logship_throughput.py"), "--lines", "5000" if rep.quick else "50000", "--json"],
         ("end_to_end_lines_per_s", "scrub_only_lines_per_s", "received_by_server")),
        ("outboxes: append (fsync) and drain to the local Central Command (`bench/outbox_throughput.py`)",
         [str(BENCH / "outbox_throughput.py"), "--items", "100" if rep.quick else "2000", "--json"],
         ("append_incident_items_per_s", "drain_incidents_items_per_s", "drain_evidence_bundles_per_s")),
    ]
    for what, args, keys in jobs:
        run = run_process([_python(), *args], timeout=3600, env=_env())
        try:
            res = json.loads(run.stdout)
            result = ", ".join(f"{k} {_fmt(res[k])}" for k in keys if k in res)
        except ValueError:
            result = f"failed (exit {run.returncode})"
        rep.process_rows.append({"what": what, "run": run, "result": result})
    cycles = "50" if rep.quick else "500"
    run = run_process([_python(), str(BENCH / "checkin_cycle.py"), "--cycles", cycles], timeout=3600,
                      env=_env())
    wanted = ("cycles:", "median cycle time:", "retained by agent code:")
    found = [" ".join(ln.split()) for ln in run.stdout.splitlines() if ln.startswith(wanted)]
    rep.process_rows.append({
        "what": "full checkin cycles against the local Central Command (`bench/checkin_cycle.py`)",
        "run": run, "result": "; ".join(found) if run.returncode == 0 else f"failed (exit {run.returncode})"})


# --- REPORT.md -------------------------------------------------------------------------------------------


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=ROOT, timeout=10).stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def _go_version() -> str:
    exe = go_exe()
    if exe is None:
        return "not installed"
    return subprocess.run([exe, "version"], capture_output=True, text=True, timeout=30).stdout.strip()


def write(rep: Report, wall: float, cpu: float, argv: list[str]) -> Path:
    m0, m1 = rep.started, machine()
    head = [
        "# Benchmark report", "",
        f"`{' '.join(['python -m bench', *argv])}`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"commit {_git_commit()}.", "",
        f"- machine: {m0['cpu']}, {m0['cores']} cores; {m0['system']}",
        f"- load average (1/5/15 min): {_load(m0['loadavg'])} at the start, "
        f"{_load(m1['loadavg'])} at the end",
        f"- Python {m0['python']}; {_go_version()}",
        f"- whole run: {wall:.0f} s wall, {cpu:.0f} s CPU (user + system of every step's process)",
        "",
    ]
    if max(m0["loadavg"][0], m1["loadavg"][0]) > (m0["cores"] or 1):
        head += ["**The machine was busy** (load average above its core count): other work shared the "
                 "cores, so wall times are inflated and noisy and even CPU times rise (shared caches and "
                 "hyperthreads). Compare the ratios, measured side by side in this run, more than the "
                 "absolute times.", ""]
    body = list(rep.sections)
    if rep.process_rows:
        lines = ["## Whole processes", "",
                 "Each a separate process; wall time and its CPU time (user + system, from the kernel's "
                 "accounting of the child).", "",
                 "| what | wall s | CPU s | result |", "| --- | ---: | ---: | --- |"]
        for r in rep.process_rows:
            lines.append(f"| {r['what']} | {r['run'].wall_s:.1f} | {r['run'].cpu_s:.1f} | {r['result']} |")
        body.append("\n".join(lines) + "\n")
    notes = ["## Notes", "", f"- {CALIBRATION}", *(f"- {n}" for n in rep.notes),
             "- `pytest bench/ --benchmark-compare` compares with the previous autosaved run under "
             "`.benchmarks/`."]
    text = "\n".join(head) + "\n" + "\n".join(body) + "\n" + "\n".join(notes) + "\n"
    path = rep.out / "REPORT.md"
    path.write_text(text, encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short runs (about two minutes)")
    ap.add_argument("--out", type=Path, default=BENCH / "report", help="report folder")
    ap.add_argument("--skip", default="", help=f"steps to leave out, comma-separated: {','.join(STEPS)}")
    args = ap.parse_args(argv)
    skip = {s for s in args.skip.split(",") if s}
    if skip - set(STEPS):
        ap.error(f"unknown step(s): {', '.join(sorted(skip - set(STEPS)))}")
    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.glob("*.png"):
        old.unlink()
    rep = Report(quick=args.quick, out=args.out)
    t0, c0 = time.perf_counter(), _children_cpu()
    runners = {"pytest": run_pytest, "ed25519": run_ed25519, "daemon": run_daemon, "scan": run_scan,
               "process": run_processes}
    for name in STEPS:
        if name in skip:
            rep.notes.append(f"step `{name}` skipped (--skip)")
            continue
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        runners[name](rep)
    path = write(rep, time.perf_counter() - t0, _children_cpu() - c0, sys.argv[1:] if argv is None else argv)
    print(path)
    return 0


def _children_cpu() -> float:
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


if __name__ == "__main__":
    raise SystemExit(main())
