"""Facts about the appliance for the checkin body (central-api.md §6.1), read from the system.

Blocking reads of ``/proc``, ``/sys`` and small state files: call :func:`collect` from a
worker thread.
"""

from __future__ import annotations

import array
import fcntl
import ipaddress
import os
import socket
import struct
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from agent.state.atomic import atomic_write

_SKIP_PREFIXES = ("lo", "wg", "docker", "veth", "br-", "virbr", "tun", "tap")
_INSTALLED_FS = {"ext2", "ext3", "ext4", "btrfs", "xfs", "zfs", "f2fs"}
_LIVE_FS = {"tmpfs", "ramfs", "squashfs", "overlay", "rootfs"}
_SIOCGIFCONF = 0x8912
_MAX_IPS = 100
_KEEP_LINK_LOCAL = "169.254.88.1"


@dataclass(slots=True)
class SystemFacts:
    hostname: str
    mac_address: str
    all_mac_addresses: list[str]
    ip_addresses: list[str]
    uptime_seconds: int
    proc_uptime_raw: str
    nixos_version: str
    boot_source: str
    boot_counter: int
    generation_uuid: str
    clocksource: str
    num_cpu: int
    hardware_id: str = ""
    notes: list[str] = field(default_factory=list)


def _read(path: str | Path, limit: int = 4096) -> str:
    """Up to ``limit`` bytes of a small file, read in 4 KiB steps: ``/proc`` files report a
    size of 0, and ``read(limit)`` would allocate the whole limit up front."""
    chunks: list[bytes] = []
    total = 0
    try:
        with open(path, "rb", buffering=0) as fh:
            while total < limit:
                chunk = fh.read(min(4096, limit - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
    except OSError:
        return ""
    return b"".join(chunks).decode("utf-8", "replace").strip()


def interface_macs(sys_net: Path = Path("/sys/class/net")) -> list[tuple[str, str]]:
    """(interface, MAC upper-case) of physical NICs, sorted by interface name."""
    out: list[tuple[str, str]] = []
    try:
        names = sorted(os.listdir(sys_net))
    except OSError:
        return out
    physical: list[tuple[str, str]] = []
    for name in names:
        if name.startswith(_SKIP_PREFIXES):
            continue
        mac = _read(sys_net / name / "address").upper()
        if len(mac) != 17 or mac.replace(":", "").strip("0") == "":
            continue
        out.append((name, mac))
        if (sys_net / name / "device").exists():
            physical.append((name, mac))
    # Prefer interfaces backed by a device; fall back to the name filter alone (containers).
    return physical or out


def ipv4_addresses() -> list[str]:
    """Non-loopback IPv4 addresses of this host, sorted, at most 100 (§6.1)."""
    found: set[str] = set()
    size = 40  # sizeof(struct ifreq) on 64-bit Linux
    buf = array.array("B", b"\0" * size * 128)
    addr, length = buf.buffer_info()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            out = fcntl.ioctl(s.fileno(), _SIOCGIFCONF, struct.pack("iL", length, addr))
    except OSError:
        return []
    used = struct.unpack("iL", out)[0]
    raw = buf.tobytes()[:used]
    for off in range(0, used, size):
        ip = socket.inet_ntoa(raw[off + 20:off + 24])
        parsed = ipaddress.ip_address(ip)
        if parsed.is_loopback or parsed.is_unspecified:
            continue
        if parsed.is_link_local and ip != _KEEP_LINK_LOCAL:
            continue
        found.add(ip)
    return sorted(found, key=lambda x: tuple(int(p) for p in x.split(".")))[:_MAX_IPS]


def os_version(path: str = "/etc/os-release") -> str:
    for line in _read(path, 16384).splitlines():
        if line.startswith("VERSION_ID="):
            value = line.split("=", 1)[1].strip().strip('"').strip("'")
            return value[:20] or "unknown"
    return "unknown"


def boot_source(mounts: str = "/proc/mounts") -> str:
    fstype = ""
    for line in _read(mounts, 1 << 20).splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] == "/":
            fstype = parts[2]  # the last mount on / wins
    if fstype in _INSTALLED_FS:
        return "installed_disk"
    if fstype in _LIVE_FS:
        return "live_usb"
    return "unknown"


def boot_counter(state_dir: Path) -> int:
    """Continue ``boot_counter``; add 1 once per OS boot (a new kernel boot id), never decrease."""
    path = state_dir / "boot_counter"
    text = _read(path)
    count = int(text) if text.isdigit() else 0
    boot_id = _read("/proc/sys/kernel/random/boot_id")
    seen_path = state_dir / "last_boot_id"
    if boot_id and _read(seen_path) != boot_id:
        count += 1
        atomic_write(path, f"{count}\n".encode())
        atomic_write(seen_path, f"{boot_id}\n".encode())
    return count


def generation_uuid(state_dir: Path) -> str:
    text = _read(state_dir / "generation_uuid")
    try:
        return str(uuid.UUID(text)) if text else ""
    except ValueError:
        return ""


def collect(state_dir: Path, previous: SystemFacts | None = None) -> SystemFacts:
    """The facts for one checkin. ``previous``: this process's facts of an earlier checkin; what
    cannot change while the system runs (the root file system's type, the boot counter, the
    hardware id) is taken from it instead of read again."""
    macs = interface_macs()
    uptime_raw = _read("/proc/uptime")
    try:
        uptime = int(float(uptime_raw.split()[0]))
    except (IndexError, ValueError):
        uptime = 0
    notes = [] if macs else ["no physical network interface found"]
    return SystemFacts(
        hostname=socket.gethostname()[:255],
        mac_address=macs[0][1] if macs else "00:00:00:00:00:00",
        all_mac_addresses=[m for _, m in macs],
        ip_addresses=ipv4_addresses(),
        uptime_seconds=uptime,
        proc_uptime_raw=uptime_raw,
        nixos_version=os_version(),
        boot_source=previous.boot_source if previous else boot_source(),
        boot_counter=previous.boot_counter if previous else boot_counter(state_dir),
        generation_uuid=generation_uuid(state_dir),
        clocksource=_read("/sys/devices/system/clocksource/clocksource0/current_clocksource"),
        num_cpu=os.cpu_count() or 1,
        hardware_id=previous.hardware_id if previous else _read("/sys/class/dmi/id/product_uuid"),
        notes=notes,
    )
