"""``bench/daemon.py`` keeps working: its arithmetic, the Go daemon's namespace command (run with a
dummy executable) and one short run against the local Central Command. No figure is asserted
(performance lives in the benchmark's own output)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from tests.conftest import clean_env

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_daemon", BENCH / "daemon.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (dataclasses look their module up)
    spec.loader.exec_module(module)
    return module


def test_cadence_and_cpu_per_cycle_arithmetic() -> None:
    bench = _bench()
    c = bench.cadence([1.0, 11.2, 21.0, 31.7], 10.0)
    assert c["gaps"] == 3 and c["cadence_error_max_s"] == pytest.approx(0.7)
    assert c["cadence_allowed_s"] == pytest.approx(0.6) and c["cadence_within"] is False
    assert bench.cadence([1.0, 11.2, 21.0], 10.0)["cadence_within"] is True
    s = bench.Sample
    samples = [s(0.5, 1, 1, 0.1), s(1.5, 1, 1, 0.5), s(11.5, 1, 1, 0.52), s(21.5, 1, 1, 0.56)]
    # After the first checkin (t=1.0): 60 ms of CPU over the two checkins in (1.5, 21.5].
    assert bench.cpu_per_cycle(samples, [1.0, 11.0, 21.0]) == pytest.approx(30.0)
    assert bench.cpu_per_cycle(samples, [1.0]) is None


def test_floor_modules_leave_out_the_agent_and_aiohttp() -> None:
    bench = _bench()
    mods = ["agent", "agent.wiring", "asyncio", "aiohttp.web", "yarl", "msgspec", "__main__"]
    assert bench.floor_modules(mods) == ["aiohttp.web", "asyncio", "msgspec", "yarl"]
    assert bench.floor_modules(mods, without=bench.AIOHTTP_TREE) == ["asyncio", "msgspec"]


def test_read_proc_of_this_process() -> None:
    rss, anon, cpu = _bench().read_proc(os.getpid())
    assert rss > anon > 0 and cpu > 0
    assert _bench().read_proc(2**22 + 1) is None  # above pid_max's default: no such process


def test_go_daemon_namespace_keeps_its_writes_in_the_scratch_dir(tmp_path: Path) -> None:
    if shutil.which("unshare") is None or subprocess.run(
            ["unshare", "-rm", "true"], capture_output=True, check=False).returncode != 0:
        pytest.skip("unprivileged user and mount namespaces are not available here")
    bench = _bench()
    dummy = tmp_path / "go-daemon"
    dummy.write_text("#!/bin/sh\n"
                     "echo '{\"site\": 1}' > /etc/osiriscare-identity.json\n"
                     "mkdir -p /var/lib/msp/state && cp \"$2\" /var/lib/msp/state/seen.yaml\n"
                     "test -r /etc/passwd\n")  # the rest of /etc is still there
    dummy.chmod(0o755)
    config = tmp_path / "config.yaml"
    config.write_text("site_id: s\n")
    scratch = tmp_path / "ns"
    scratch.mkdir()
    argv = bench.go_namespace_command(dummy, scratch, config)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert json.loads((scratch / "etc" / "osiriscare-identity.json").read_text()) == {"site": 1}
    assert (scratch / "var-lib" / "msp" / "state" / "seen.yaml").read_text() == "site_id: s\n"
    assert not Path("/etc/osiriscare-identity.json").exists() or \
        Path("/etc/osiriscare-identity.json").read_text() != '{"site": 1}\n'


def test_a_short_run_writes_the_json_the_report_reads(tmp_path: Path) -> None:
    out = tmp_path / "daemon.json"
    env = clean_env()
    r = subprocess.run([sys.executable, str(BENCH / "daemon.py"), "--seconds", "3",
                        "--targets", "0", "--json", str(out)], env=env, capture_output=True,
                       text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no targets agent" in r.stdout
    doc = json.loads(out.read_text())
    (scenario,) = doc["scenarios"]
    assert scenario["targets"] == 0 and scenario["go"] is None
    samples = scenario["agent"]["samples"]
    assert samples and set(samples[0]) == {"t", "rss_kib", "rss_anon_kib", "cpu_s"}
    assert all(s["rss_kib"] > 0 for s in samples)
    for key in ("rss_median_mib", "rss_anon_median_mib", "checkins", "first_checkin_ms",
                "cpu_ms_per_cycle", "cadence_error_max_s", "gen2_collections"):
        assert key in scenario["agent"]
