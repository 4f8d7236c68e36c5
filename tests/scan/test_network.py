"""The network scan (healing.md §2.5 "Network scan", §6.3) and name resolution for ownership (§6.2
item 1): real sockets on loopback and the real /proc/net/tcp{,6}; ARP and route tables from files."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import random
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.fakeclock import FakeClock

from agent.exec import Target, Transport
from agent.protocol import TargetAssignments
from agent.scan.model import HostResult
from agent.scan.network import (
    MACS_FILE,
    NameCache,
    NetScanSettings,
    NetworkScanner,
    ReachTarget,
    bounded,
    parse_proc_arp,
    parse_proc_tcp,
    parse_routes,
    primary_subnet,
    resolve_a,
    reverse_name,
    settings_from,
    tcp_probe,
)
from agent.scan.scheduler import Ownership, ScanScheduler
from agent.scan.windows import windows_label

ARP_HEAD = "IP address       HW type     Flags       HW address            Mask     Device\n"
ROUTES = (
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
    "eth0\t00000000\t0158A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
    "eth0\t0058A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
    "eth1\t00000A0A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"
)


def _arp(*rows: tuple[str, str, str]) -> str:
    return ARP_HEAD + "".join(
        f"{ip:<16} 0x1         {fl:<11} {mac:<21} *        eth0\n" for ip, mac, fl in rows
    )


def _listen(host: str) -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, 0))
    s.listen(4)
    return s


def _port(s: socket.socket) -> int:
    return int(s.getsockname()[1])


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return _port(s)


@pytest.fixture
def listeners() -> Iterator[tuple[int, int]]:
    """(a port listening on every address, a port listening on loopback only)."""
    exposed, local = _listen("0.0.0.0"), _listen("127.0.0.1")
    yield _port(exposed), _port(local)
    exposed.close()
    local.close()


def _empty_neighbours(tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "arp").write_text(ARP_HEAD)
    (tmp_path / "route").write_text(ROUTES)
    return {"proc_arp": tmp_path / "arp", "proc_route": tmp_path / "route"}


# --- ports --------------------------------------------------------------------------------------


async def test_listening_watched_port_is_unexpected(tmp_path: Path, listeners: tuple[int, int]) -> None:
    exposed, local = listeners
    closed = _closed_port()
    settings = NetScanSettings(
        watched_ports={exposed: "test-svc", local: "loopback-svc", closed: "x"}, **_empty_neighbours(tmp_path)
    )
    res = await NetworkScanner(settings, clock=FakeClock()).scan()
    (f,) = [f for f in res.findings if f.check_type == "net_unexpected_ports"]
    assert f.details == {"ports": [exposed]} and f.severity == "high" and f.hipaa_control == "164.312(e)(1)"
    assert (f.host, f.platform, f.source) == ("network", "network", "netscan")
    assert f"{exposed}/test-svc" in f.actual
    assert res.checks["net_unexpected_ports"] == "drift" and res.status == "complete"
    # An expected service on that port is not unexpected.
    settings.expected_services = {"test-svc": exposed}
    res = await NetworkScanner(settings, clock=FakeClock()).scan()
    assert res.checks["net_unexpected_ports"] == "pass" and res.checks["net_expected_service"] == "pass"


async def test_expected_service_not_listening(tmp_path: Path, listeners: tuple[int, int]) -> None:
    _, local = listeners
    closed = _closed_port()
    settings = NetScanSettings(
        watched_ports={},
        expected_services={"agent-hub": closed, "local-svc": local},
        **_empty_neighbours(tmp_path),
    )
    res = await NetworkScanner(settings, clock=FakeClock()).scan()
    (f,) = [f for f in res.findings if f.check_type == "net_expected_service"]
    assert f.details == {"service": "agent-hub", "port": closed} and f.severity == "medium"
    assert f.discriminator == "agent-hub" and res.checks["net_expected_service"] == "drift"


def test_proc_tcp_parsing_v4_and_v6() -> None:
    v4 = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1\n"
        "   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2\n"
        "   2: 0100007F:0016 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 3\n"
        "   3: garbage\n"
    )
    got = [(li.address, li.port, li.loopback) for li in parse_proc_tcp(v4)]
    assert got == [("127.0.0.1", 8080, True), ("0.0.0.0", 22, False)]
    v6 = (
        "  sl  local_address                         remote_address                        st\n"
        "   0: 00000000000000000000000001000000:0277 00000000000000000000000000000000:0000 0A\n"
        "   1: 0000000000000000FFFF00000100007F:1A0B 00000000000000000000000000000000:0000 0A\n"
        "   2: 00000000000000000000000000000000:01BB 00000000000000000000000000000000:0000 0A\n"
    )
    got = [(li.address, li.port, li.loopback) for li in parse_proc_tcp(v6)]
    assert got == [
        ("::1", 631, True),
        (str(ipaddress.ip_address("::ffff:127.0.0.1")), 6667, True),
        ("::", 443, False),
    ]


async def test_unreadable_proc_tcp_is_unknown_not_pass(tmp_path: Path) -> None:
    settings = NetScanSettings(
        proc_tcp=(tmp_path / "missing",), expected_services={"x": 1}, **_empty_neighbours(tmp_path)
    )
    res = await NetworkScanner(settings, clock=FakeClock()).scan()
    assert res.checks["net_unexpected_ports"] == "unknown" and res.checks["net_expected_service"] == "unknown"
    assert res.status == "partial" and res.findings == []


# --- reachability and DNS -----------------------------------------------------------------------


async def test_reachability_closed_port_and_unresolvable_name(
    tmp_path: Path, listeners: tuple[int, int]
) -> None:
    _, up = listeners
    closed = _closed_port()
    settings = NetScanSettings(
        central_host="nonexistent.invalid",
        reach_targets=(
            ReachTarget("nonexistent.invalid", 443, "central", "critical"),
            ReachTarget("127.0.0.1", closed, "dc", "high"),
            ReachTarget("127.0.0.1", up, "workstation", "medium"),
        ),
        watched_ports={},
        **_empty_neighbours(tmp_path),
    )
    res = await NetworkScanner(settings, clock=FakeClock()).scan()
    reach = sorted(
        (f.discriminator, f.severity, f.details["error"])
        for f in res.findings
        if f.check_type == "net_host_reachability"
    )
    assert reach == [("127.0.0.1", "high", "unreachable"), ("nonexistent.invalid", "critical", "dns_failure")]
    (dns,) = [f for f in res.findings if f.check_type == "net_dns_resolution"]
    assert dns.details == {"name": "nonexistent.invalid"} and dns.severity == "high"
    assert res.checks["net_host_reachability"] == "drift" and res.checks["net_dns_resolution"] == "drift"


async def test_resolvable_central_host_and_open_port_pass(tmp_path: Path, listeners: tuple[int, int]) -> None:
    _, up = listeners
    settings = NetScanSettings(
        central_host="localhost",
        reach_targets=(ReachTarget("localhost", up, "central", "critical"),),
        watched_ports={},
        **_empty_neighbours(tmp_path),
    )
    res = await NetworkScanner(settings, clock=FakeClock()).scan()
    assert res.findings == [] and res.checks["net_dns_resolution"] == "pass"
    assert res.checks["net_host_reachability"] == "pass"


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A loopback port whose accept queue is full: further SYNs are dropped, connects hang."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    filler = socket.socket()
    filler.connect(srv.getsockname())
    yield _port(srv)
    filler.close()
    srv.close()


async def test_tcp_probe_outcomes(listeners: tuple[int, int], blackhole: int) -> None:
    assert await tcp_probe("127.0.0.1", listeners[1], 2.0) == ""
    assert await tcp_probe("127.0.0.1", _closed_port(), 2.0) == "unreachable"
    assert await tcp_probe("127.0.0.1", blackhole, 0.3) == "connect_timeout"  # its own deadline ends it
    assert await tcp_probe("nonexistent.invalid", 443, 2.0) == "dns_failure"


async def test_bounded_parallelism() -> None:
    inflight = peak = 0

    async def job(i: int) -> int:
        nonlocal inflight, peak
        inflight += 1
        peak = max(peak, inflight)
        await asyncio.sleep(0)
        inflight -= 1
        return i

    assert await bounded((job(i) for i in range(50)), 16) == list(range(50))
    assert peak == 16


# --- ARP: rogue devices and subnets ---------------------------------------------------------------


def test_arp_parsing(tmp_path: Path) -> None:
    text = _arp(
        ("192.168.88.10", "AA:BB:CC:00:00:01", "0x2"),
        ("192.168.88.11", "00:00:00:00:00:00", "0x0"),  # incomplete
        ("192.168.88.12", "aa:bb:cc:00:00:02", "0x0"),  # not complete
        ("bogus", "aa:bb:cc:00:00:03", "0x2"),
        ("10.10.3.4", "aa-bb-cc-00-00-04", "0x6"),
    )
    got = [(n.ip, n.mac, n.device) for n in parse_proc_arp(text)]
    assert got == [("192.168.88.10", "aa:bb:cc:00:00:01", "eth0"), ("10.10.3.4", "aa:bb:cc:00:00:04", "eth0")]


def test_primary_subnet_from_routes() -> None:
    assert str(primary_subnet(ROUTES)) == "192.168.88.0/24"
    default_if, connected = parse_routes(ROUTES)
    assert default_if == "eth0" and [str(n) for _, n in connected] == ["192.168.88.0/24", "10.10.0.0/16"]
    assert primary_subnet(ROUTES.splitlines()[0]) is None


def _scanner(tmp_path: Path, clock: FakeClock, state: Path) -> tuple[NetworkScanner, Path]:
    arp = tmp_path / "arp"
    (tmp_path / "route").write_text(ROUTES)
    settings = NetScanSettings(
        watched_ports={}, proc_tcp=(), proc_arp=arp, proc_route=tmp_path / "route", reverse_dns=False
    )
    return NetworkScanner(settings, state, clock=clock), arp


def _macs(n: int, base: int = 0) -> list[tuple[str, str, str]]:
    return [
        (f"192.168.88.{base + i + 10}", f"02:00:00:00:{(base + i) // 256:02x}:{(base + i) % 256:02x}", "0x2")
        for i in range(n)
    ]


async def _rogue(scanner: NetworkScanner) -> list[str]:
    res = await scanner.scan()
    return [f.details["mac"] for f in res.findings if f.check_type == "NETWORK-ROGUE-DEVICE"]


async def test_rogue_devices_after_learning_with_hourly_cap(tmp_path: Path) -> None:
    clock = FakeClock()
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    scanner, arp = _scanner(tmp_path, clock, state)
    arp.write_text(_arp(*_macs(3)))
    assert await _rogue(scanner) == []  # learning
    clock.t += 23 * 3600
    arp.write_text(_arp(*_macs(5)))
    assert await _rogue(scanner) == []  # still learning: the two new ones are learned silently
    clock.t += 3600 + 1
    arp.write_text(_arp(*_macs(5), *_macs(12, base=100)))
    found = await _rogue(scanner)
    assert len(found) == 10 and found == sorted(found)  # at most 10 per hour
    clock.t += 1800
    assert await _rogue(scanner) == []  # the cap still holds within the hour
    path = state / MACS_FILE
    assert path.stat().st_mode & 0o777 == 0o600
    # A restart keeps the learned set, the learning start and the hour's reports.
    again, _ = _scanner(tmp_path, clock, state)
    assert await _rogue(again) == []
    clock.t += 3600
    late = await _rogue(again)
    assert len(late) == 2  # the two held back by the cap are reported in a later hour
    assert await _rogue(again) == []
    saved = json.loads(path.read_text())
    assert len(saved["macs"]) == 17 and saved["learning_since"] == 1_700_000_000.0


async def test_rogue_finding_shape(tmp_path: Path) -> None:
    clock = FakeClock()
    scanner, arp = _scanner(tmp_path, clock, tmp_path)
    arp.write_text(ARP_HEAD)
    await scanner.scan()
    clock.t += 25 * 3600
    arp.write_text(_arp(("192.168.88.77", "02:aa:bb:cc:dd:ee", "0x2")))
    res = await scanner.scan()
    (f,) = res.findings
    assert (
        f.check_type == "NETWORK-ROGUE-DEVICE"
        and f.severity == "medium"
        and f.hipaa_control == "164.312(a)(1)"
    )
    assert f.discriminator == "02:aa:bb:cc:dd:ee" and f.details["ip"] == "192.168.88.77"


async def test_device_on_another_subnet(tmp_path: Path) -> None:
    scanner, arp = _scanner(tmp_path, FakeClock(), tmp_path)
    arp.write_text(
        _arp(
            ("192.168.88.20", "02:00:00:00:00:01", "0x2"),
            ("10.10.4.5", "02:00:00:00:00:02", "0x2"),
            ("172.16.9.9", "02:00:00:00:00:03", "0x2"),
        )
    )
    res = await scanner.scan()
    got = sorted(
        (f.discriminator, f.details["subnet"], f.severity)
        for f in res.findings
        if f.check_type == "NETWORK-UNEXPECTED-SUBNET"
    )
    assert got == [("10.10.4.5", "10.10.0.0/16", "low"), ("172.16.9.9", "172.16.9.0/24", "low")]


# --- settings -------------------------------------------------------------------------------------


def test_settings_from_config_and_targets() -> None:
    class Cfg:
        api_endpoint = "https://api.example.test"
        domain_controller = None
        grpc_hub_enabled = True
        grpc_port = 50051

    class Wt:
        def __init__(self, hostname: str, role: str, use_ssl: bool = False) -> None:
            self.hostname, self.role, self.use_ssl = hostname, role, use_ssl

    s = settings_from(
        Cfg(), [Wt("dc1", "dc", True), Wt("ws1", "workstation"), Wt("srv1", "server")], labeller=windows_label
    )
    assert s.central_host == "api.example.test" and s.expected_services == {"grpc_hub": 50051}
    assert [(t.host, t.port, t.role, t.severity) for t in s.reach_targets] == [
        ("api.example.test", 443, "central", "critical"),
        ("dc1", 5986, "dc", "high"),
        ("ws1", 5985, "workstation", "medium"),
    ]


# --- §6.2 item 1: named targets -----------------------------------------------------------------


async def test_resolve_a_localhost_and_invalid() -> None:
    assert await resolve_a("localhost") == "127.0.0.1"
    assert await resolve_a("nonexistent.invalid") is None
    assert await reverse_name("127.0.0.1") == "localhost"


async def test_name_cache_ttls() -> None:
    calls: list[str] = []
    answers = {"a.example": "10.0.0.5"}
    clock = FakeClock()

    async def resolver(name: str, timeout_s: float) -> str | None:
        assert timeout_s == 2.0
        calls.append(name)
        return answers.get(name)

    cache = NameCache(clock=clock, resolver=resolver)
    assert await cache.keys("a.example") == ("a.example", "10.0.0.5")
    assert await cache.keys("b.example") == ("b.example",)
    assert await cache.keys("10.1.1.1") == ("10.1.1.1",)  # addresses are not looked up
    clock.t += 59
    await cache.keys("a.example")
    await cache.keys("b.example")
    assert calls == ["a.example", "b.example"]
    clock.t += 2  # the failure was cached shortly, the answer for 10 minutes
    await cache.keys("a.example")
    await cache.keys("b.example")
    assert calls == ["a.example", "b.example", "b.example"]
    clock.t += 600
    await cache.keys("a.example")
    assert calls[-1] == "a.example" and len(calls) == 4


async def test_assignment_matches_a_named_target_by_address() -> None:
    own = Ownership(own_mac="AABBCCDDEEFF")
    own.update(TargetAssignments(your_targets=["127.0.0.1"], ring_members=[]), 1.0, [])
    own.now = lambda: 2.0
    cache = NameCache()
    assert own.owns(*await cache.keys("localhost"))
    assert not own.owns(*await cache.keys("nonexistent.invalid"))
    scanned: list[str] = []

    async def scan(target: Target, cred: Any, deadline_s: float) -> HostResult:
        scanned.append(target.host)
        return HostResult(target.host, target.platform, status="complete")

    async def on_result(target: Target, res: HostResult) -> bool:
        return False

    sched = ScanScheduler(
        scan_host=scan, on_result=on_result, ownership=own, owner_keys=cache.keys, rng=random.Random(1)
    )
    sched.set_targets(
        [
            (Target(Transport.SSH, h, 22, "linux"), None)
            for h in ("localhost", "nonexistent.invalid", "10.9.9.9")
        ]
        + [(Target.local(), None)]
    )
    sched.force()
    report = await sched.run_round()
    assert sorted(scanned) == ["localhost", "localhost"]  # the named target, and the appliance itself
    assert report.skipped_not_owned == 2


async def test_ring_keys_on_the_resolved_address() -> None:
    async def resolver(name: str, timeout_s: float) -> str | None:
        return {"dc.clinic.test": "192.168.88.1"}.get(name)

    cache = NameCache(resolver=resolver)
    keys = await cache.keys("dc.clinic.test")
    assert keys == ("dc.clinic.test", "192.168.88.1")
    peers = ["AABBCCDDEEFF", "112233445566", "7CD30A7C5518"]
    for mac, owner in (("7CD30A7C5518", True), ("AABBCCDDEEFF", False)):
        own = Ownership(own_mac=mac)
        own.update(None, None, [p for p in peers if p != mac])
        assert own.mode() == "ring" and own.owns(*keys) is owner  # 192.168.88.1 -> 7CD30A7C5518 (§6.2)
