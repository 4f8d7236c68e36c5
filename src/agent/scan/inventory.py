"""Device inventory sync and mesh acknowledgement (central-api.md §7.5, §7.4; docs/server-compat.md).

:class:`InventoryComponent` sends, through the Uplink:

* ``POST /api/devices/sync`` after each network scan (the Go daemon's ``syncDiscoveredDevices``):
  every device the scans see — the ARP neighbours of the network scan and the hosts the scan
  scheduler scanned — one entry each, keyed by the MAC (the IP for a device without one, or whose
  MAC appears at three or more addresses: a bridge), with the compliance status of its last scan
  (``compliant``, ``drifted`` or ``unknown``) and what the scan proved of it (``probe_ssh`` /
  ``probe_winrm``, the OS). Host names leave PHI-scrubbed (the Uplink scrubs every payload).
* ``POST /api/appliances/mesh/ack`` after each successful checkin while the server's fresh
  ``target_assignments`` gives this appliance targets (the Go daemon's ``PostMeshAck``): each of
  them with ``target_type: "device"``; ``reassigned > 0`` is logged. No retry.

Both are best effort: a failure is logged, the next scan or checkin sends again.
"""

from __future__ import annotations

import ipaddress
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

import msgspec

from agent.events import CheckinSucceeded
from agent.exec import Target, Transport
from agent.jobs import BaseComponent, Job, JobHost
from agent.log import get_logger
from agent.protocol.devices import Device, DeviceSync
from agent.protocol.mesh import MeshAck, MeshAckTarget
from agent.scan.events import HostScanned
from agent.scan.model import HostResult
from agent.scan.network import Neighbour
from agent.timefmt import format_rfc3339
from agent.uplink import TransportError, Uplink, UplinkRefused, routes

log = get_logger("scan")

BRIDGE_MAC_MIN: Final = 3  # one MAC at this many addresses is a bridge, not a device
INVENTORY_DEADLINE_S: Final = 60.0
PROBE_PORTS: Final = {"ssh": 22, "winrm": 5985}


def server_mac(mac: str) -> str:
    """The server's MAC form: upper case, colon separated (sites.py ``normalize_mac``)."""
    clean = "".join(c for c in mac.upper() if c in "0123456789ABCDEF")
    return ":".join(clean[i:i + 2] for i in range(0, len(clean), 2)) if len(clean) == 12 else ""


@dataclass
class SeenHost:
    """One scanned host: how it was reached and its last result."""

    target: Target
    result: HostResult
    first_seen: float


def _compliance(res: HostResult) -> str:
    if res.status == "failed" or not res.checks:
        return "unknown"
    if any(v == "drift" for v in res.checks.values()):
        return "drifted"
    return "compliant" if all(v == "pass" for v in res.checks.values()) else "unknown"


def device_sync_body(appliance_id: str, site_id: str, neighbours: Sequence[Neighbour],
                     hosts: Sequence[SeenHost], now: float,
                     first_seen: dict[str, float] | None = None) -> DeviceSync:
    """The ``/api/devices/sync`` body for what the scans saw (pure; ``first_seen`` remembers
    when each device id was first seen and is updated)."""
    seen = first_seen if first_seen is not None else {}
    macs = Counter(server_mac(n.mac) for n in neighbours if server_mac(n.mac))
    by_ip: dict[str, dict[str, Any]] = {}
    for n in neighbours:
        mac = server_mac(n.mac)
        bridge = bool(mac) and macs[mac] >= BRIDGE_MAC_MIN
        by_ip[n.ip] = {"ip_address": n.ip, "mac_address": None if bridge else (mac or None),
                       "discovery_source": "arp", "compliance_status": "unknown"}
    for h in hosts:
        ip = h.target.host
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            continue  # named targets: no address to key the device by
        entry = by_ip.setdefault(ip, {"ip_address": ip, "mac_address": None,
                                      "discovery_source": "arp"})
        entry["compliance_status"] = _compliance(h.result)
        entry["os_name"] = h.target.platform
        reached = h.result.status != "failed"
        kind = "winrm" if h.target.transport is Transport.WINRM else "ssh"
        entry["probe_ssh"] = reached and kind == "ssh"
        entry["probe_winrm"] = reached and kind == "winrm"
        entry["open_ports"] = [PROBE_PORTS[kind]] if reached else []
        entry["device_type"] = "workstation" if h.target.platform in ("windows", "macos") \
            else "server"
    stamp = format_rfc3339(now)
    devices = []
    for ip in sorted(by_ip):
        entry = by_ip[ip]
        device_id = entry["mac_address"] or ip
        first = seen.setdefault(device_id, now)
        devices.append(Device(device_id=device_id, first_seen_at=format_rfc3339(first),
                              last_seen_at=stamp, **entry))
    known = [d for d in devices if d.compliance_status in ("compliant", "drifted")]
    rate = 100.0 * sum(d.compliance_status == "compliant" for d in known) / len(known) \
        if known else 0.0
    return DeviceSync(appliance_id=appliance_id, site_id=site_id, devices=devices,
                      total_devices=len(devices), monitored_devices=len(devices),
                      excluded_devices=0, medical_devices=0, compliance_rate=round(rate, 1),
                      scan_timestamp=stamp)


class InventorySite(Protocol):
    @property
    def appliance_id(self) -> str | None: ...

    @property
    def directives(self) -> Any: ...


class InventoryComponent(BaseComponent):
    name = "inventory"

    def __init__(self, site_id: str, *, site: InventorySite, uplink: Uplink | None,
                 neighbours: Callable[[], Sequence[Neighbour]],
                 clock: Callable[[], float] = time.time) -> None:
        self.site_id = site_id
        self.site = site
        self.uplink = uplink
        self.neighbours = neighbours
        self.clock = clock
        self.hosts: dict[str, SeenHost] = {}
        self.first_seen: dict[str, float] = {}
        self.sync_due = False
        self.ack_due = False
        self.host: JobHost | None = None
        self.stats = {"device_syncs": 0, "mesh_acks": 0, "failures": 0}

    # --- events --------------------------------------------------------------------------------

    def on_host_scanned(self, event: HostScanned) -> None:
        res = event.result
        if res.platform == "network":  # the network scan: its neighbours are fresh
            self.sync_due = True
            self._run()
            return
        prev = self.hosts.get(event.target.host)
        self.hosts[event.target.host] = SeenHost(event.target, res,
                                                 prev.first_seen if prev else self.clock())

    def after_checkin(self, event: CheckinSucceeded | None = None) -> None:
        self.ack_due = True
        self._run()

    def _run(self) -> None:
        if self.host is not None:
            self.host.run_job_now(self.name)

    # --- sending -------------------------------------------------------------------------------

    async def run_once(self) -> None:
        if self.ack_due:
            self.ack_due = False
            await self.mesh_ack()
        if self.sync_due:
            self.sync_due = False
            await self.sync_devices()

    async def sync_devices(self) -> bool:
        appliance_id = self.site.appliance_id
        if self.uplink is None or not appliance_id:
            return False
        body = device_sync_body(appliance_id, self.site_id, self.neighbours(),
                                list(self.hosts.values()), self.clock(), self.first_seen)
        if not body.devices:
            return False
        return await self._post(routes.DEVICES_SYNC, body, "device_sync",
                                devices=len(body.devices))

    async def mesh_ack(self) -> bool:
        appliance_id = self.site.appliance_id
        assignment = self.site.directives.fresh_assignment()
        targets = sorted(assignment.your_targets) if assignment is not None else []
        if self.uplink is None or not appliance_id or not targets:
            return False
        body = MeshAck(site_id=self.site_id, appliance_id=appliance_id,
                       targets=[MeshAckTarget(target_key=t) for t in targets])
        return await self._post(routes.MESH_ACK, body, "mesh_ack", targets=len(targets))

    async def _post(self, route: Any, body: Any, what: str, **fields: Any) -> bool:
        assert self.uplink is not None
        try:
            answer_raw = await self.uplink.send(route, body)
        except (OSError, TransportError, UplinkRefused) as exc:
            self.stats["failures"] += 1
            log.warning(f"inventory.{what}_failed", f"{what} not sent: {exc}", **fields)
            return False
        status, reply = answer_raw.status, answer_raw.body
        if status != 200:
            self.stats["failures"] += 1
            log.warning(f"inventory.{what}_failed", f"{what} answered HTTP {status}",
                        status=status, **fields)
            return False
        self.stats["device_syncs" if what == "device_sync" else "mesh_acks"] += 1
        answer = _json_object(reply)
        if what == "mesh_ack" and isinstance(answer.get("reassigned"), int) \
                and answer["reassigned"] > 0:
            log.info("inventory.mesh_reassigned", "the server reassigned mesh targets",
                     reassigned=answer["reassigned"], acked=answer.get("acked"))
        else:
            log.info(f"inventory.{what}_ok", f"{what} sent", **fields)
        return True

    # --- component hooks -------------------------------------------------------------------------

    def install(self, host: JobHost) -> None:
        self.host = host
        host.add_job(Job(name=self.name, run=self.run_once, delay=lambda: 3600.0,
                         deadline=INVENTORY_DEADLINE_S, first_delay=3600.0,
                         from_completion=True))

    def status(self) -> dict[str, Any]:
        return {**self.stats, "hosts": len(self.hosts)}


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        doc = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return {}
    return doc if isinstance(doc, dict) else {}
