"""Scan health through the scan component (healing.md §2.5, §6.4): targets as a checkin would set
them (no checkin needed), real SSH attempts on loopback, incidents in the heal queue."""

from __future__ import annotations

import socket
from typing import Any

from tests.exec.sshd import USER
from tests.sshfixtures import SshEnv

from agent.evidence.bundle import scan_result_from_host

from .conftest import Env, drain


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _closed(host: str) -> dict[str, Any]:
    return {"hostname": host, "port": _closed_port(), "username": "nobody", "password": "x"}


async def test_four_of_five_unreachable_is_one_subnet_dark(env: Env, ssh_env: SshEnv) -> None:
    targets = [_closed(f"127.0.0.{i}") for i in range(2, 6)]
    targets.append(
        {"hostname": "127.0.0.1", "port": ssh_env.sshd.port, "username": USER, "password": "wrong-password"}
    )
    w = env.wired(targets)
    await w.scan.scan_now()
    incs = {(i.host, i.check_type): i for i in drain(w.healing)}
    assert set(incs) == {("network", "subnet_dark"), ("127.0.0.1", "credential_stale")}
    dark = incs[("network", "subnet_dark")]
    assert dark.severity == "high" and dark.details["unreachable"] == 4 and dark.details["total"] == 5
    assert dark.details["hosts"] == [f"127.0.0.{i}" for i in range(2, 6)]
    assert dark.data_map()["check_type"] == "subnet_dark" and dark.platform == "network"
    assert incs[("127.0.0.1", "credential_stale")].severity == "high"


async def test_two_of_two_unreachable_is_not_dark(env: Env) -> None:
    w = env.wired([_closed("127.0.0.2"), _closed("127.0.0.3")])
    await w.scan.scan_now()
    h = w.healing
    assert sorted((i.host, i.check_type, i.details["error_kind"]) for i in h.queue._items.values()) == [
        ("127.0.0.2", "device_unreachable", "unreachable"),
        ("127.0.0.3", "device_unreachable", "unreachable"),
    ]
    results = await h.heal_pending()  # the same pipeline as host findings: the monitoring rule escalates
    assert [(r.stage, r.reason) for r in results] == [("escalated", "monitoring_only")] * 2


async def test_netscan_findings_reach_the_heal_queue(env: Env) -> None:
    w = env.wired([])
    res = await w.scan.netscan_tick()
    assert [f"{e.target.host}:{e.result.platform}" for e in env.scanned] == ["network:network"]
    assert set(res.checks) == {
        "net_unexpected_ports",
        "net_expected_service",
        "net_host_reachability",
        "net_dns_resolution",
    }
    # Central Command (the loopback server) is reachable and addressed by IP: no reachability or DNS drift.
    assert res.checks["net_host_reachability"] == "pass" and res.checks["net_dns_resolution"] == "unknown"
    queued = {(i.host, i.check_type) for i in drain(w.healing)}
    assert queued == {("network", f.check_type) for f in res.findings}
    scan = scan_result_from_host(res)  # the evidence hand-off accepts it as a network scan (§6.6)
    assert scan is not None and scan.scan_type == "network" and len(scan.results) == 4


async def test_netscan_is_its_own_periodic_job(env: Env) -> None:
    from agent.runtime.supervisor import Supervisor

    h = env.wired([]).scan
    sup = Supervisor()
    h.install(sup)
    try:
        job = sup.jobs["netscan"]
        assert job.delay() == 180.0 and job.deadline == 150.0 and job.enabled()
        assert sup.jobs["scan"].delay() == 15.0  # the host scan keeps its own tick
        task = sup.run_job_now("netscan")
        assert task is not None
        await task
        assert job.runs == 1 and job.failures == 0
    finally:
        sup.stop_accepting()
        await sup.drain(5.0)
