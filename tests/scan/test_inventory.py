"""The device inventory body (scan/inventory.py): what the scans saw, the Go daemon's keys."""

from __future__ import annotations

from agent.exec import Target
from agent.exec.types import Transport
from agent.scan.inventory import SeenHost, device_sync_body, server_mac
from agent.scan.model import HostResult
from agent.scan.network import Neighbour

T0 = 1_790_000_000.0


def _host(ip: str, transport: Transport, platform: str, checks: dict[str, str],
          status: str = "complete") -> SeenHost:
    res = HostResult(ip, platform, status=status, checks=checks)
    return SeenHost(Target(transport, ip, None, platform, ""), res, T0)


def test_devices_from_arp_and_scans() -> None:
    neighbours = [Neighbour("192.168.88.10", "84:3a:5b:91:b6:61", "eth0"),
                  Neighbour("192.168.88.20", "52:54:00:aa:bb:cc", "eth0"),
                  *(Neighbour(f"192.168.88.{n}", "de:ad:be:ef:00:01", "eth0") for n in (30, 31, 32))]
    hosts = [_host("192.168.88.10", Transport.WINRM, "windows", {"firewall_status": "drift"}),
             _host("192.168.88.20", Transport.SSH, "linux", {"linux_firewall": "pass"}),
             _host("192.168.88.40", Transport.SSH, "linux", {}, status="failed"),
             _host("dc01.clinic.local", Transport.WINRM, "windows", {"x": "pass"})]
    first: dict[str, float] = {}
    body = device_sync_body("site-84:3A:5B:91:B6:61", "site", neighbours, hosts, T0, first)
    by_ip = {d.ip_address: d for d in body.devices}
    assert set(by_ip) == {"192.168.88.10", "192.168.88.20", "192.168.88.30", "192.168.88.31",
                          "192.168.88.32", "192.168.88.40"}  # named targets have no address
    win = by_ip["192.168.88.10"]
    assert win.device_id == win.mac_address == "84:3A:5B:91:B6:61"
    assert (win.compliance_status, win.probe_winrm, win.probe_ssh) == ("drifted", True, False)
    assert win.open_ports == [5985] and win.os_name == "windows"
    lin = by_ip["192.168.88.20"]
    assert lin.compliance_status == "compliant" and lin.probe_ssh and lin.open_ports == [22]
    bridge = by_ip["192.168.88.31"]  # one MAC at three addresses: a bridge, keyed by IP
    assert bridge.device_id == "192.168.88.31" and bridge.mac_address is None
    down = by_ip["192.168.88.40"]
    assert down.compliance_status == "unknown" and down.probe_ssh is False
    assert body.total_devices == 6 and body.compliance_rate == 50.0
    assert all(d.discovery_source == "arp" for d in body.devices)
    later = device_sync_body("a", "site", neighbours, hosts, T0 + 600, first)
    again = {d.ip_address: d for d in later.devices}["192.168.88.10"]
    assert again.first_seen_at == win.first_seen_at != again.last_seen_at


def test_server_mac_forms() -> None:
    for form in ("84-3A-5B-91-B6-61", "843a5b91b661", "84:3a:5b:91:b6:61"):
        assert server_mac(form) == "84:3A:5B:91:B6:61"
    assert server_mac("84:3a") == ""
