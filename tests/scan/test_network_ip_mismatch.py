"""``credential_ip_mismatch`` from network discovery (healing.md §2.5 "Scan health"): the ARP table
(fixture files) binds a credential's stored address to a MAC; the MAC seen at another address while
the stored address no longer maps to it raises the finding, at most once per hour per host."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from tests.fakeclock import FakeClock

from agent.scan.model import Finding
from agent.scan.network import (
    BINDINGS_FILE,
    CredentialTarget,
    NetScanSettings,
    NetworkScanner,
    settings_from,
)
from agent.scan.windows import windows_label

from .conftest import Env, drain

ARP_HEAD = "IP address       HW type     Flags       HW address            Mask     Device\n"
MAC_A = "aa:bb:cc:00:00:01"
MAC_B = "aa:bb:cc:00:00:02"
STORED = "192.168.88.20"
MOVED = "192.168.88.57"
HOUR = 3600.0


def _arp(*rows: tuple[str, str]) -> str:
    return ARP_HEAD + "".join(
        f"{ip:<16} 0x1         0x2         {mac:<21} *        eth0\n" for ip, mac in rows
    )


class Net:
    """A scanner over a fixture ARP file only (no listeners, probes, DNS or routes)."""

    def __init__(self, tmp: Path, targets: list[CredentialTarget] | None = None) -> None:
        self.tmp = tmp
        self.arp = tmp / "arp"
        self.state = tmp / "state"
        self.state.mkdir(exist_ok=True)
        self.clock = FakeClock(1_700_000_000.0)
        self.targets = targets if targets is not None else [CredentialTarget(STORED, "linux", "web")]
        self.scanner = self.new_scanner()

    def new_scanner(self) -> NetworkScanner:
        settings = NetScanSettings(
            proc_tcp=(self.tmp / "no-tcp",),
            proc_arp=self.arp,
            proc_route=self.tmp / "no-route",
            reverse_dns=False,
            credential_targets=tuple(self.targets),
        )
        return NetworkScanner(settings, self.state, clock=self.clock)

    async def scan(self, *rows: tuple[str, str]) -> list[Finding]:
        self.arp.write_text(_arp(*rows))
        res = await self.scanner.scan()
        return [f for f in res.findings if f.check_type == "credential_ip_mismatch"]


@pytest.fixture
def net(tmp_path: Path) -> Net:
    return Net(tmp_path)


async def test_learn_then_move_is_one_finding(net: Net) -> None:
    assert await net.scan((STORED, MAC_A), ("192.168.88.1", MAC_B)) == []
    net.clock.t += 60
    found = await net.scan((MOVED, MAC_A), ("192.168.88.1", MAC_B))
    assert len(found) == 1
    f = found[0]
    assert (f.host, f.platform, f.label, f.source) == (STORED, "linux", "web", "netscan")
    assert (f.severity, f.hipaa_control) == ("medium", "164.312(a)(1)")
    assert dict(f.details) == {"stored_ip": STORED, "seen_ip": MOVED}
    assert f.discriminator == MOVED and MAC_A in f.actual
    assert f.observed_at == net.clock.t


async def test_stored_ip_taken_by_another_mac_still_mismatch(net: Net) -> None:
    await net.scan((STORED, MAC_A))
    found = await net.scan((STORED, MAC_B), (MOVED, MAC_A))
    assert [dict(f.details) for f in found] == [{"stored_ip": STORED, "seen_ip": MOVED}]


async def test_rate_limited_to_once_an_hour(net: Net) -> None:
    await net.scan((STORED, MAC_A))
    assert len(await net.scan((MOVED, MAC_A))) == 1
    net.clock.t += HOUR - 1
    assert await net.scan((MOVED, MAC_A)) == []
    assert await net.scan(("192.168.88.99", MAC_A)) == []  # per host, whatever the seen address
    net.clock.t += 1
    again = await net.scan((MOVED, MAC_A))
    assert [f.details["seen_ip"] for f in again] == [MOVED]


async def test_restart_keeps_binding_and_rate_limit(net: Net) -> None:
    await net.scan((STORED, MAC_A))
    net.scanner = net.new_scanner()  # restart: the binding comes from the state dir
    assert len(await net.scan((MOVED, MAC_A))) == 1
    path = net.state / BINDINGS_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    body = json.loads(path.read_text())
    assert body["bindings"][STORED]["mac"] == MAC_A and STORED in body["reported"]
    net.scanner = net.new_scanner()
    net.clock.t += 600
    assert await net.scan((MOVED, MAC_A)) == []  # the report time survived the restart
    net.clock.t += HOUR
    assert len(await net.scan((MOVED, MAC_A))) == 1


async def test_second_nic_is_no_mismatch(net: Net) -> None:
    await net.scan((STORED, MAC_A))
    assert await net.scan((STORED, MAC_A), (MOVED, MAC_A)) == []


async def test_target_never_seen_is_nothing(net: Net) -> None:
    assert await net.scan(("192.168.88.1", MAC_B)) == []
    assert await net.scan((MOVED, MAC_B), ("192.168.88.1", MAC_A)) == []
    assert not (net.state / BINDINGS_FILE).exists()


async def test_learned_host_gone_from_table_is_nothing(net: Net) -> None:
    await net.scan((STORED, MAC_A))
    assert await net.scan(("192.168.88.1", MAC_B)) == []


async def test_replaced_hardware_is_relearned(net: Net) -> None:
    await net.scan((STORED, MAC_A))
    assert await net.scan((STORED, MAC_B)) == []  # MAC_A gone, one other MAC: new NIC at the address
    assert await net.scan((MOVED, MAC_B)) != []  # the new binding is the one followed
    assert await net.scan((STORED, MAC_A)) == []


async def test_malformed_arp_lines_ignored(net: Net) -> None:
    bad = (
        "192.168.88.20\n"
        "not-an-ip        0x1         0x2         aa:bb:cc:00:00:01     *        eth0\n"
        "192.168.88.20    0x1         0xZZ        aa:bb:cc:00:00:01     *        eth0\n"
        "192.168.88.20    0x1         0x0         aa:bb:cc:00:00:01     *        eth0\n"  # incomplete
        "192.168.88.20    0x1         0x2         zz:bb                 *        eth0\n"
    )
    net.arp.write_text(ARP_HEAD + bad)
    await net.scanner.scan()
    assert not (net.state / BINDINGS_FILE).exists()  # nothing learned from a malformed line
    await net.scan((STORED, MAC_A))
    net.arp.write_text(_arp((MOVED, MAC_A)) + bad + "\x00garbage \xff\n")
    res = await net.scanner.scan()
    assert [f.details["seen_ip"] for f in res.findings if f.check_type == "credential_ip_mismatch"] == [MOVED]


async def test_named_and_unlisted_targets(tmp_path: Path) -> None:
    net = Net(
        tmp_path, [CredentialTarget("web.clinic.local", "linux"), CredentialTarget(STORED, "windows", "DC")]
    )
    await net.scan((STORED, MAC_A), ("192.168.88.30", MAC_B))
    found = await net.scan((MOVED, MAC_A), ("192.168.88.31", MAC_B))
    assert [(f.host, f.platform, f.label) for f in found] == [(STORED, "windows", "DC")]
    # A credential no longer in the checkin's (non-empty) list: its binding is dropped.
    net.targets = [CredentialTarget("192.168.88.30", "linux")]
    net.scanner = net.new_scanner()
    await net.scan((MOVED, MAC_A), ("192.168.88.30", MAC_B))
    assert set(json.loads((net.state / BINDINGS_FILE).read_text())["bindings"]) == {"192.168.88.30"}


async def test_corrupt_state_starts_empty(net: Net) -> None:
    (net.state / BINDINGS_FILE).write_text("{not json")
    net.scanner = net.new_scanner()
    assert await net.scan((MOVED, MAC_A)) == []
    await net.scan((STORED, MAC_A))
    assert len(await net.scan((MOVED, MAC_A))) == 1


def test_settings_from_lists_windows_and_ssh_targets() -> None:
    class Cfg:
        api_endpoint = "https://cc.example:443"

    class Win:
        def __init__(self, host: str, role: str) -> None:
            self.hostname, self.role, self.use_ssl = host, role, False

    class Lin:
        def __init__(self, host: str, distro: str) -> None:
            self.hostname, self.distro, self.port, self.label = host, distro, 22, "srv"

    s = settings_from(
        Cfg(),
        [Win("10.0.0.2", "domain_controller")],
        labeller=windows_label,
        linux_targets=[Lin("10.0.0.3", "ubuntu"), Lin("10.0.0.4", "macos")],
    )
    assert [(t.host, t.platform) for t in s.credential_targets] == [
        ("10.0.0.2", "windows"),
        ("10.0.0.3", "linux"),
        ("10.0.0.4", "macos"),
    ]


async def test_through_netscan_tick(env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    w = env.wired(
        [{"hostname": STORED, "port": 22, "username": "nobody", "password": "x", "label": "web"}]
    )
    h, healing = w.scan, w.healing
    arp = tmp_path / "arp"
    orig = h._netscan_settings
    monkeypatch.setattr(
        h,
        "_netscan_settings",
        lambda: replace(orig(), proc_arp=arp, proc_route=tmp_path / "none", reverse_dns=False),
    )
    arp.write_text(_arp((STORED, MAC_A)))
    res = await h.netscan_tick()
    assert not [f for f in res.findings if f.check_type == "credential_ip_mismatch"]
    drain(healing)
    arp.write_text(_arp((MOVED, MAC_A)))
    res = await h.netscan_tick()
    assert [f.host for f in res.findings if f.check_type == "credential_ip_mismatch"] == [STORED]
    incs = [i for i in drain(healing) if i.check_type == "credential_ip_mismatch"]
    assert [(i.host, i.details["stored_ip"], i.details["seen_ip"]) for i in incs] == [(STORED, STORED, MOVED)]
    assert (h.state_dir / BINDINGS_FILE).exists()


async def test_escalated_by_the_monitoring_rule(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = env.wired([{"hostname": STORED, "port": 22, "username": "nobody", "password": "x"}])
    h, healing = w.scan, w.healing
    arp = tmp_path / "arp"
    orig = h._netscan_settings
    monkeypatch.setattr(
        h,
        "_netscan_settings",
        lambda: replace(orig(), proc_arp=arp, proc_route=tmp_path / "none", reverse_dns=False),
    )
    arp.write_text(_arp((STORED, MAC_A)))
    await h.netscan_tick()
    drain(healing)
    arp.write_text(_arp((MOVED, MAC_A)))
    await h.netscan_tick()
    incs = [i for i in drain(healing) if i.check_type == "credential_ip_mismatch"]
    assert len(incs) == 1
    healing.queue.put(incs[0])  # only the mismatch goes on (the appliance's own ports vary)
    results = await healing.heal_pending()  # builtin monitoring rule L1-MONITOR-ESC-001 escalates it
    assert [(r.stage, r.reason) for r in results] == [("escalated", "monitoring_only")]
