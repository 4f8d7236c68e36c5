"""The network scan (healing.md §2.5 "Network scan", §6.1, §6.3) and name resolution (§6.2 item 1).

Findings have ``source=netscan``, platform ``network`` and host ``network``:

* ``net_unexpected_ports`` — the appliance listens (non-loopback) on a watched common service port
  that is not one of its expected services; read from ``/proc/net/tcp{,6}`` (no ``ss``).
* ``net_expected_service`` — an expected local service is not listening (any address).
* ``net_host_reachability`` — TCP connect with a timeout to the DC's WinRM port (high), Central
  Command 443 (critical), deployed workstations' WinRM port (medium); discriminator = target.
* ``net_dns_resolution`` — the Central Command host name does not resolve (event-loop resolver,
  with a timeout).
* ``NETWORK-ROGUE-DEVICE`` — a MAC not seen before in ``/proc/net/arp`` after a 24 h learning
  period, at most 10 per hour; the seen set lives in ``netscan_macs.json`` (0600).
* ``NETWORK-UNEXPECTED-SUBNET`` — an ARP neighbour outside the primary subnet (the connected route
  of the default-route interface in ``/proc/net/route``).
* ``credential_ip_mismatch`` (§2.5 "Scan health") — on the credential's own host (its stored
  address, platform and label), not on ``network``; see :class:`IpBindings`.

Network discovery for ``credential_ip_mismatch`` is the ARP table. Each Windows/SSH credential
whose stored hostname is an IPv4 address is bound to the MAC the ARP table shows at that address
(learned the first time it is seen there; ``netscan_ip_bindings.json``, 0600). When a later table
shows that MAC at a different address and the stored address no longer maps to it (absent, or
another MAC), the finding is raised with ``stored_ip``/``seen_ip`` (discriminator ``seen_ip``), at
most once per hour per host (report times persisted, so a restart does not re-alert). The stored
address still mapped to the learned MAC (the host has a second NIC) is no mismatch. A learned MAC
absent from the table while the stored address shows exactly one other MAC is re-learned (replaced
hardware). Targets configured by name are skipped: their address follows DNS, so there is no
stored address to disagree with. Limitation: the ARP table holds only neighbours that talked with
the appliance recently, so a moved host is seen only once something brings its new address in.

Every probe has its own timeout; probes and reverse lookups run at most 16 at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import math
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeGuard, TypeVar

from agent.log import get_logger
from agent.scan.model import Finding, HostResult, catalog_finding
from agent.state.atomic import atomic_write, read_json_object

log = get_logger("netscan")

SOURCE: Final = "netscan"
HOST: Final = "network"
PLATFORM: Final = "network"
PARALLEL: Final = 16
PROBE_TIMEOUT_S: Final = 3.0
DNS_TIMEOUT_S: Final = 2.0
RDNS_TIMEOUT_S: Final = 2.0
LEARNING_S: Final = 24 * 3600.0
ROGUE_PER_HOUR: Final = 10
MAX_MACS: Final = 8192
PROC_READ_CAP: Final = 8 * 1024 * 1024
MACS_FILE: Final = "netscan_macs.json"
BINDINGS_FILE: Final = "netscan_ip_bindings.json"
MAX_BINDINGS: Final = 4096
MISMATCH_REPEAT_S: Final = 3600.0
WINRM_HTTP: Final = 5985
WINRM_HTTPS: Final = 5986
CHECKS: Final = (
    "net_unexpected_ports",
    "net_expected_service",
    "net_host_reachability",
    "net_dns_resolution",
)

# Common service ports an appliance should not expose unless they are its own expected services.
WATCHED_PORTS: Final[Mapping[int, str]] = {
    21: "ftp",
    23: "telnet",
    25: "smtp",
    53: "dns",
    80: "http",
    110: "pop3",
    111: "rpcbind",
    135: "msrpc",
    139: "netbios-ssn",
    143: "imap",
    389: "ldap",
    443: "https",
    445: "smb",
    1433: "mssql",
    1521: "oracle",
    2049: "nfs",
    3306: "mysql",
    3389: "rdp",
    5432: "postgresql",
    5900: "vnc",
    5985: "winrm",
    5986: "winrm-https",
    6379: "redis",
    8080: "http-alt",
    8443: "https-alt",
    9200: "elasticsearch",
    11211: "memcached",
    27017: "mongodb",
}

_TCP_LISTEN: Final = "0A"
_T = TypeVar("_T")


# --- /proc parsing ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Listener:
    address: str
    port: int

    @property
    def loopback(self) -> bool:
        try:
            ip = ipaddress.ip_address(self.address)
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            return ip.ipv4_mapped.is_loopback
        return ip.is_loopback


def _hex_ip(text: str) -> str:
    """``/proc/net/tcp{,6}`` addresses: 32-bit words in host (little-endian) byte order."""
    raw = bytes.fromhex(text)
    if len(raw) not in (4, 16):
        raise ValueError("bad address length")
    swapped = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(swapped))


def parse_proc_tcp(text: str) -> list[Listener]:
    """Listening sockets from the text of ``/proc/net/tcp`` or ``/proc/net/tcp6``."""
    out = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 4 or parts[3] != _TCP_LISTEN:
            continue
        addr, _, port = parts[1].partition(":")
        try:
            out.append(Listener(_hex_ip(addr), int(port, 16)))
        except ValueError:
            continue
    return out


@dataclass(frozen=True, slots=True)
class Neighbour:
    ip: str
    mac: str
    device: str


def normalise_mac(mac: str) -> str:
    hexes = "".join(c for c in mac.lower() if c in "0123456789abcdef")
    return ":".join(hexes[i : i + 2] for i in range(0, 12, 2)) if len(hexes) == 12 else ""


def parse_proc_arp(text: str) -> list[Neighbour]:
    """Complete entries of ``/proc/net/arp`` (flag ATF_COM set, non-zero MAC)."""
    out = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 6:
            continue
        ip, flags, mac, dev = parts[0], parts[2], normalise_mac(parts[3]), parts[5]
        try:
            ipaddress.IPv4Address(ip)
            complete = int(flags, 16) & 0x2
        except ValueError:
            continue
        if complete and mac and mac != "00:00:00:00:00:00":
            out.append(Neighbour(ip, mac, dev))
    return out


def _le_ip4(text: str) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(bytes.fromhex(text)[::-1])


def parse_routes(text: str) -> tuple[str, list[tuple[str, ipaddress.IPv4Network]]]:
    """``(default interface, connected routes)`` from ``/proc/net/route``."""
    default_if = ""
    connected: list[tuple[str, ipaddress.IPv4Network]] = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 8:
            continue
        try:
            dest, gw, flags, mask = _le_ip4(parts[1]), _le_ip4(parts[2]), int(parts[3], 16), _le_ip4(parts[7])
            if not flags & 0x1:  # RTF_UP
                continue
            if int(dest) == 0 and int(mask) == 0:
                default_if = default_if or parts[0]
            elif int(gw) == 0 and not flags & 0x2:  # no RTF_GATEWAY: a connected subnet
                connected.append((parts[0], ipaddress.IPv4Network(f"{dest}/{mask}", strict=False)))
        except ValueError:
            continue
    return default_if, connected


def primary_subnet(routes_text: str) -> ipaddress.IPv4Network | None:
    """The connected subnet of the default-route interface (the widest if several)."""
    default_if, connected = parse_routes(routes_text)
    nets = [n for dev, n in connected if dev == default_if] if default_if else []
    if not nets and not default_if and len({d for d, _ in connected}) == 1:
        nets = [n for _, n in connected]
    return min(nets, key=lambda n: n.prefixlen) if nets else None


def _read(path: Path) -> str:
    with path.open("rb") as fh:
        return fh.read(PROC_READ_CAP).decode("ascii", "replace")


# --- probes -------------------------------------------------------------------------------------


async def tcp_probe(host: str, port: int, timeout_s: float) -> str:
    """``""`` when a TCP connection opened within ``timeout_s``, else the failure kind."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=timeout_s)
    except TimeoutError:
        return "connect_timeout"
    except socket.gaierror:
        return "dns_failure"
    except OSError:
        return "unreachable"
    writer.close()
    with contextlib.suppress(OSError, TimeoutError):
        await asyncio.wait_for(writer.wait_closed(), timeout=1.0)
    return ""


async def resolve_a(name: str, timeout_s: float = DNS_TIMEOUT_S) -> str | None:
    """The first A record of ``name`` through the event loop's resolver, or None."""
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(name, None, family=socket.AF_INET, type=socket.SOCK_STREAM), timeout=timeout_s
        )
    except (TimeoutError, OSError, UnicodeError):
        return None
    for info in infos:
        addr = info[4][0]
        if isinstance(addr, str):
            return addr
    return None


async def reverse_name(ip: str, timeout_s: float = RDNS_TIMEOUT_S) -> str:
    loop = asyncio.get_running_loop()
    try:
        name, _ = await asyncio.wait_for(loop.getnameinfo((ip, 0), socket.NI_NAMEREQD), timeout=timeout_s)
    except (TimeoutError, OSError, UnicodeError):
        return ""
    return name[:253]


async def bounded(items: Iterable[Awaitable[_T]], limit: int = PARALLEL) -> list[_T]:
    """Await ``items`` with at most ``limit`` in flight; results in order."""
    sem = asyncio.Semaphore(max(1, limit))

    async def one(aw: Awaitable[_T]) -> _T:
        async with sem:
            return await aw

    return list(await asyncio.gather(*(one(a) for a in items)))


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class NameCache:
    """§6.2 item 1: a target configured by name is resolved (A record, first address, 2 s timeout,
    cached 10 min; failures cached 60 s). ``clock`` is monotonic."""

    def __init__(
        self,
        *,
        ttl_s: float = 600.0,
        negative_ttl_s: float = 60.0,
        timeout_s: float = DNS_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
        resolver: Callable[[str, float], Awaitable[str | None]] = resolve_a,
        max_entries: int = 4096,
    ) -> None:
        self.ttl_s, self.negative_ttl_s, self.timeout_s = ttl_s, negative_ttl_s, timeout_s
        self.clock = clock
        self.resolver = resolver
        self.max_entries = max_entries
        self._cache: dict[str, tuple[float, str | None]] = {}

    async def resolve(self, name: str) -> str | None:
        now = self.clock()
        hit = self._cache.get(name)
        if hit is not None and hit[0] > now:
            return hit[1]
        addr = await self.resolver(name, self.timeout_s)
        if len(self._cache) >= self.max_entries:
            for k in [k for k, (exp, _) in self._cache.items() if exp <= now] or list(self._cache)[:1]:
                del self._cache[k]
        self._cache[name] = (now + (self.ttl_s if addr else self.negative_ttl_s), addr)
        return addr

    async def keys(self, host: str) -> tuple[str, ...]:
        """Ownership keys of a target: ``(address,)``, or ``(name, address)`` for a resolved name
        (the address last: the ring keys on it), or ``(name,)`` when it does not resolve."""
        if not host or is_ip(host):
            return (host,)
        addr = await self.resolve(host)
        return (host, addr) if addr else (host,)


# --- the scan -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReachTarget:
    host: str
    port: int
    role: str  # dc | central | workstation
    severity: str


@dataclass(frozen=True, slots=True)
class CredentialTarget:
    """A Windows or SSH credential's stored hostname with the platform and label of its target."""

    host: str
    platform: str
    label: str = ""


@dataclass
class NetScanSettings:
    central_host: str = ""
    reach_targets: Sequence[ReachTarget] = ()
    watched_ports: Mapping[int, str] = field(default_factory=lambda: dict(WATCHED_PORTS))
    expected_services: Mapping[str, int] = field(default_factory=dict)  # service name -> port
    probe_timeout_s: float = PROBE_TIMEOUT_S
    dns_timeout_s: float = DNS_TIMEOUT_S
    parallel: int = PARALLEL
    proc_tcp: Sequence[Path] = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))
    proc_arp: Path = Path("/proc/net/arp")
    proc_route: Path = Path("/proc/net/route")
    reverse_dns: bool = True  # names for new devices (PTR lookups, 16 at a time)
    credential_targets: Sequence[CredentialTarget] = ()  # for credential_ip_mismatch


def _f(
    check_type: str,
    expected: str,
    actual: str,
    details: dict[str, Any],
    now: float,
    *,
    severity: str = "",
    discriminator: str = "",
) -> Finding:
    return catalog_finding(
        HOST,
        check_type,
        expected,
        actual,
        details,
        platform=PLATFORM,
        source=SOURCE,
        label="network",
        now=now,
        severity=severity,
        discriminator=discriminator,
    )


def port_findings(listeners: Sequence[Listener], settings: NetScanSettings, now: float) -> list[Finding]:
    out = []
    expected_ports = set(settings.expected_services.values())
    exposed = sorted(
        {
            li.port
            for li in listeners
            if not li.loopback and li.port in settings.watched_ports and li.port not in expected_ports
        }
    )
    if exposed:
        names = [f"{p}/{settings.watched_ports[p]}" for p in exposed]
        out.append(
            _f(
                "net_unexpected_ports",
                "no watched service port open beyond the expected services",
                "listening on " + ", ".join(names),
                {"ports": exposed},
                now,
            )
        )
    listening = {li.port for li in listeners}
    for name, port in sorted(settings.expected_services.items()):
        if port not in listening:
            out.append(
                _f(
                    "net_expected_service",
                    f"{name} listening on {port}",
                    f"{name} not listening",
                    {"service": name, "port": port},
                    now,
                    discriminator=name,
                )
            )
    return out


def _read_state(path: Path | None, what: str) -> dict[str, Any] | None:
    """A netscan state file's object; None when there is none or it is unreadable (logged)."""
    if path is None:
        return None
    try:
        return read_json_object(path)
    except ValueError as exc:
        log.warning("netscan.state_unreadable", f"{what} ignored", error=str(exc)[:80])
        return None


class SeenMacs:
    """The learned MAC set, the learning start and the last hour's reports (``netscan_macs.json``)."""

    def __init__(self, path: Path | None, clock: Callable[[], float]) -> None:
        self.path = path
        self.clock = clock
        self.learning_since: float | None = None
        self.macs: dict[str, float] = {}
        self.reported: list[float] = []
        self._load()

    def _load(self) -> None:
        raw = _read_state(self.path, "seen-MAC state")
        if raw is None:
            return
        since = raw.get("learning_since")
        self.learning_since = float(since) if _num(since) else None
        macs = raw.get("macs")
        if isinstance(macs, dict):
            self.macs = {m: float(t) for m, t in macs.items() if normalise_mac(m) == m and _num(t)}
        rep = raw.get("reported")
        if isinstance(rep, list):
            self.reported = [float(t) for t in rep if _num(t)][-ROGUE_PER_HOUR:]

    def save(self) -> None:
        if self.path is None:
            return
        if len(self.macs) > MAX_MACS:
            keep = sorted(self.macs.items(), key=lambda kv: kv[1])[-MAX_MACS:]
            self.macs = dict(keep)
        body = {
            "version": 1,
            "learning_since": self.learning_since,
            "macs": self.macs,
            "reported": self.reported,
        }
        try:
            atomic_write(self.path, json.dumps(body, sort_keys=True).encode(), 0o600)
        except OSError as exc:
            log.warning("netscan.state_write_failed", "seen-MAC state not saved", error=type(exc).__name__)

    def new_devices(self, neighbours: Sequence[Neighbour]) -> list[Neighbour]:
        """Neighbours to report as rogue now (learning and the hourly cap applied); learns the rest.
        A device held back by the cap stays unlearned, so it is reported in a later hour."""
        now = self.clock()
        changed = False
        if self.learning_since is None:
            self.learning_since = now
            changed = True
        learning = now - self.learning_since < LEARNING_S
        self.reported = [t for t in self.reported if 0.0 <= now - t < 3600.0]  # a clock step back: forgotten
        out: list[Neighbour] = []
        for n in sorted(neighbours, key=lambda n: n.mac):
            if n.mac in self.macs:
                continue
            if not learning:
                if len(self.reported) >= ROGUE_PER_HOUR:
                    continue
                self.reported.append(now)
                out.append(n)
            self.macs[n.mac] = now
            changed = True
        if changed:
            self.save()
        return out


def _ipv4(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class IpMismatch:
    target: CredentialTarget
    mac: str
    seen_ip: str


class IpBindings:
    """Learned credential address → MAC bindings and the last ``credential_ip_mismatch`` report
    per host (``netscan_ip_bindings.json``). See the module docstring for the rules."""

    def __init__(self, path: Path | None, clock: Callable[[], float]) -> None:
        self.path = path
        self.clock = clock
        self.bindings: dict[str, tuple[str, float]] = {}  # stored ip -> (mac, learned at)
        self.reported: dict[str, float] = {}  # stored ip -> last report
        self._load()

    def _load(self) -> None:
        raw = _read_state(self.path, "IP binding state")
        if raw is None:
            return
        binds = raw.get("bindings")
        if isinstance(binds, dict):
            for ip, b in binds.items():
                if not (_ipv4(ip) and isinstance(b, dict)):
                    continue
                mac, at = b.get("mac"), b.get("learned")
                if isinstance(mac, str) and normalise_mac(mac) == mac and _num(at):
                    self.bindings[ip] = (mac, float(at))
        rep = raw.get("reported")
        if isinstance(rep, dict):
            self.reported = {ip: float(t) for ip, t in rep.items() if _ipv4(ip) and _num(t)}

    def save(self) -> None:
        if self.path is None:
            return
        if len(self.bindings) > MAX_BINDINGS:
            self.bindings = dict(sorted(self.bindings.items(), key=lambda kv: kv[1][1])[-MAX_BINDINGS:])
        self.reported = {ip: t for ip, t in self.reported.items() if ip in self.bindings}
        body = {
            "version": 1,
            "bindings": {ip: {"mac": m, "learned": t} for ip, (m, t) in self.bindings.items()},
            "reported": self.reported,
        }
        try:
            atomic_write(self.path, json.dumps(body, sort_keys=True).encode(), 0o600)
        except OSError as exc:
            log.warning("netscan.state_write_failed", "IP binding state not saved", error=type(exc).__name__)

    def check(self, targets: Sequence[CredentialTarget], neighbours: Sequence[Neighbour]) -> list[IpMismatch]:
        """Learn bindings from this ARP table and return the mismatches to report now. A non-empty
        target list is the checkin's whole credential list: bindings of other addresses are dropped
        (an empty list, e.g. before the first checkin, keeps them)."""
        now = self.clock()
        changed = False
        by_ip: dict[str, set[str]] = {}
        by_mac: dict[str, set[str]] = {}
        for n in neighbours:
            by_ip.setdefault(n.ip, set()).add(n.mac)
            by_mac.setdefault(n.mac, set()).add(n.ip)
        wanted = {t.host: t for t in targets if _ipv4(t.host)}
        if targets:
            for ip in [ip for ip in self.bindings if ip not in wanted]:
                del self.bindings[ip]
                self.reported.pop(ip, None)
                changed = True
        out: list[IpMismatch] = []
        for ip, t in sorted(wanted.items()):
            at_stored = by_ip.get(ip, set())
            bound = self.bindings.get(ip)
            if bound is None or (bound[0] not in by_mac and len(at_stored) == 1):
                # First sight, or replaced hardware: (re)learn an unambiguous binding.
                if len(at_stored) == 1:
                    self.bindings[ip] = (next(iter(at_stored)), now)
                    changed = True
                continue
            mac = bound[0]
            if mac in at_stored:
                continue  # still at the stored address (other addresses are further NICs)
            elsewhere = sorted(by_mac.get(mac, set()), key=ipaddress.IPv4Address)
            if not elsewhere:
                continue
            last = self.reported.get(ip)
            if last is not None and 0.0 <= now - last < MISMATCH_REPEAT_S:
                continue  # a clock step back forgets the report time
            self.reported[ip] = now
            changed = True
            out.append(IpMismatch(t, mac, elsewhere[0]))
        if changed:
            self.save()
        return out


def mismatch_finding(m: IpMismatch, now: float) -> Finding:
    t = m.target
    return catalog_finding(
        t.host,
        "credential_ip_mismatch",
        f"{t.host} answers at its stored address",
        f"{t.host}'s device ({m.mac}) seen at {m.seen_ip}",
        {"stored_ip": t.host, "seen_ip": m.seen_ip},
        platform=t.platform,
        source=SOURCE,
        label=t.label,
        now=now,
        discriminator=m.seen_ip,
    )


class NetworkScanner:
    def __init__(
        self,
        settings: NetScanSettings,
        state_dir: Path | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.seen = SeenMacs(state_dir / MACS_FILE if state_dir is not None else None, clock)
        self.bindings = IpBindings(state_dir / BINDINGS_FILE if state_dir is not None else None, clock)
        #: The ARP neighbours of the last scan that could read the table.
        self.neighbours: list[Neighbour] = []

    async def _listeners(self) -> list[Listener] | None:
        out: list[Listener] = []
        ok = False
        for p in self.settings.proc_tcp:
            try:
                out += parse_proc_tcp(await asyncio.to_thread(_read, p))
                ok = True
            except OSError:
                continue
        return out if ok else None

    async def _reachability(self, now: float) -> list[Finding]:
        s = self.settings
        targets = list(s.reach_targets)
        kinds = await bounded((tcp_probe(t.host, t.port, s.probe_timeout_s) for t in targets), s.parallel)
        return [
            _f(
                "net_host_reachability",
                f"{t.host}:{t.port} reachable",
                f"{t.role} {t.host}:{t.port} {kind}",
                {"target": t.host, "port": t.port, "role": t.role, "error": kind},
                now,
                severity=t.severity,
                discriminator=t.host,
            )
            for t, kind in zip(targets, kinds, strict=True)
            if kind
        ]

    async def _dns(self, now: float) -> list[Finding] | None:
        name = self.settings.central_host
        if not name or is_ip(name):
            return None
        if await resolve_a(name, self.settings.dns_timeout_s) is not None:
            return []
        return [_f("net_dns_resolution", f"{name} resolves", f"{name} does not resolve", {"name": name}, now)]

    async def _neighbours(self, now: float) -> list[Finding]:
        s = self.settings
        try:
            neigh = parse_proc_arp(await asyncio.to_thread(_read, s.proc_arp))
        except OSError:
            return []
        self.neighbours = neigh  # the device inventory (scan/inventory.py)
        out = [mismatch_finding(m, now) for m in self.bindings.check(s.credential_targets, neigh)]
        rogue = self.seen.new_devices(neigh)
        if s.reverse_dns:
            names = await bounded((reverse_name(n.ip) for n in rogue), s.parallel)
        else:
            names = [""] * len(rogue)
        for n, name in zip(rogue, names, strict=True):
            out.append(
                _f(
                    "NETWORK-ROGUE-DEVICE",
                    "only known devices on the LAN",
                    f"new device {n.mac} at {n.ip}",
                    {"mac": n.mac, "ip": n.ip, "hostname": name, "interface": n.device},
                    now,
                    discriminator=n.mac,
                )
            )
        try:
            routes = await asyncio.to_thread(_read, s.proc_route)
        except OSError:
            return out
        primary = primary_subnet(routes)
        if primary is None:
            return out
        _, connected = parse_routes(routes)
        for n in neigh:
            ip = ipaddress.IPv4Address(n.ip)
            if ip in primary:
                continue
            nets = [net for _, net in connected if ip in net]
            subnet = str(nets[0] if nets else ipaddress.IPv4Network(f"{ip}/24", strict=False))
            out.append(
                _f(
                    "NETWORK-UNEXPECTED-SUBNET",
                    f"devices on {primary}",
                    f"{n.ip} on {subnet}",
                    {"subnet": subnet, "ip": n.ip, "primary": str(primary)},
                    now,
                    discriminator=n.ip,
                )
            )
        return out

    async def scan(self) -> HostResult:
        """One network scan; ``checks`` covers the four evidence check types (§6.6)."""
        now = self.clock()
        res = HostResult(HOST, PLATFORM, started_at=now)
        listeners = await self._listeners()
        reach, dns, neigh = await asyncio.gather(
            self._reachability(now), self._dns(now), self._neighbours(now)
        )
        if listeners is not None:
            res.findings += port_findings(listeners, self.settings, now)
        res.findings += reach
        res.findings += dns or []
        res.findings += neigh
        drifted = {f.check_type for f in res.findings}
        res.checks = {ct: "drift" if ct in drifted else "pass" for ct in CHECKS}
        if listeners is None:
            res.checks["net_unexpected_ports"] = res.checks["net_expected_service"] = "unknown"
        if dns is None:
            res.checks["net_dns_resolution"] = "unknown"
        # DNS not applicable (no name, or an address) is unknown but not a collection failure.
        res.status = "complete" if listeners is not None else "partial"
        res.finished_at = self.clock()
        return res


def _num(v: Any) -> TypeGuard[int | float]:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def settings_from(
    config: Any,
    windows_targets: Sequence[Any],
    *,
    labeller: Callable[[str], str],
    expected_services: Mapping[str, int] | None = None,
    linux_targets: Sequence[Any] = (),
) -> NetScanSettings:
    """Settings from the agent config and the checkin's Windows (and SSH) targets. The DC is
    ``domain_controller`` (else the target labelled DC); workstations are the targets labelled WS.
    Every Windows and SSH target is a credential target (``credential_ip_mismatch``)."""
    from urllib.parse import urlsplit

    from agent.exec.types import Target

    creds = [Target.from_windows(wt) for wt in windows_targets] + [
        Target.from_linux(lt) for lt in linux_targets
    ]
    credential_targets = tuple(CredentialTarget(t.host, t.platform, t.label) for t in creds)

    central = urlsplit(getattr(config, "api_endpoint", "") or "")
    central_host = central.hostname or ""
    targets: list[ReachTarget] = []
    if central_host:
        targets.append(ReachTarget(central_host, central.port or 443, "central", "critical"))
    dc = getattr(config, "domain_controller", None) or ""
    dc_port = WINRM_HTTP
    seen = set()
    for wt in windows_targets:
        label = labeller(getattr(wt, "role", "") or "")
        port = WINRM_HTTPS if getattr(wt, "use_ssl", False) else WINRM_HTTP
        host = wt.hostname
        if label == "DC" and (not dc or dc == host):
            dc, dc_port = host, port
        if label == "WS" and host not in seen:
            seen.add(host)
            targets.append(ReachTarget(host, port, "workstation", "medium"))
    if dc:
        targets.insert(1 if central_host else 0, ReachTarget(dc, dc_port, "dc", "high"))
    expected = dict(expected_services or {})
    if getattr(config, "grpc_hub_enabled", False):
        expected.setdefault("grpc_hub", int(config.grpc_port))
    return NetScanSettings(
        central_host=central_host,
        reach_targets=tuple(targets),
        expected_services=expected,
        credential_targets=credential_targets,
    )
