"""SSH host-key pins: trust on first use, then enforce (exec.md §2.2).

``<state_dir>/ssh_known_hosts`` in OpenSSH known_hosts syntax, mode 0600:
``<host> <key-type> <base64>`` for port 22, ``[<host>]:<port> <key-type> <base64>`` otherwise. A
port-less entry (the Go daemon's only form) applies to every port of that host. Writes are atomic
and serialised; readers use the in-memory copy. A corrupt file is quarantined, logged as a security
event, and its hosts are re-pinned on first use (runtime.md §3.4).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
from pathlib import Path

from agent.log import get_logger
from agent.state.atomic import atomic_write, quarantine

log = get_logger("exec")

HostKey = tuple[str, bytes]  # (key type, key blob)


def host_spec(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


class KnownHostsCorrupt(ValueError):
    pass


def parse_known_hosts(text: str) -> dict[str, list[HostKey]]:
    entries: dict[str, list[HostKey]] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if fields[0].startswith("@") or fields[0].startswith("|"):
            continue  # markers and hashed names are not written by us or the Go daemon
        if len(fields) < 3:
            raise KnownHostsCorrupt(f"line {lineno}: expected '<host> <type> <base64>'")
        try:
            blob = base64.b64decode(fields[2], validate=True)
        except binascii.Error:
            raise KnownHostsCorrupt(f"line {lineno}: bad base64") from None
        for name in fields[0].split(","):
            if name:
                entries.setdefault(name, []).append((fields[1], blob))
    return entries


def render_known_hosts(entries: dict[str, list[HostKey]]) -> bytes:
    lines = []
    for name in sorted(entries):
        for ktype, blob in entries[name]:
            lines.append(f"{name} {ktype} {base64.b64encode(blob).decode()}")
    return ("\n".join(lines) + "\n").encode() if lines else b""


class KnownHosts:
    """In-memory pins plus one serialised writer."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._entries: dict[str, list[HostKey]] = {}
        self._write_lock = asyncio.Lock()
        self.corrupt_quarantined: Path | None = None
        self._load()

    def _load(self) -> None:
        try:
            text = self.path.read_text("utf-8")
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError) as exc:
            self._quarantine(type(exc).__name__)
            return
        try:
            self._entries = parse_known_hosts(text)
        except KnownHostsCorrupt as exc:
            self._quarantine(str(exc))

    def _quarantine(self, why: str) -> None:
        try:
            self.corrupt_quarantined = quarantine(self.path)
        except OSError:
            self.corrupt_quarantined = None
        self._entries = {}
        log.error(
            "security.pin_store_corrupt",
            "ssh_known_hosts is corrupt; quarantined, hosts re-pin on first use",
            store="ssh_known_hosts",
            reason=why,
            quarantined_to=str(self.corrupt_quarantined) if self.corrupt_quarantined else None,
        )

    def lookup(self, host: str, port: int) -> list[HostKey]:
        """Pins for (host, port): the ``[host]:port`` entry, else a port-less ``host`` entry."""
        keys = self._entries.get(host_spec(host, port))
        if keys:
            return list(keys)
        return list(self._entries.get(host, []))

    async def pin(self, host: str, port: int, key: HostKey) -> None:
        """Persist a first-use key atomically; raises OSError when that fails."""
        async with self._write_lock:
            if self.lookup(host, port):
                return  # pinned meanwhile by a concurrent first use; the caller re-checks
            new = {k: list(v) for k, v in self._entries.items()}
            new.setdefault(host_spec(host, port), []).append(key)
            data = render_known_hosts(new)
            await asyncio.to_thread(atomic_write, self.path, data, 0o600)
            self._entries = new
        log.info("exec.ssh_pinned", "ssh host key pinned on first use", host=host, port=port, key_type=key[0])

    async def clear(self, host: str, port: int | None = None) -> bool:
        """Remove pins of ``host`` (one port, or every entry of the host); True if any was removed."""
        async with self._write_lock:
            new = {k: list(v) for k, v in self._entries.items()}
            if port is None:
                names = [k for k in new if k == host or k.startswith(f"[{host}]:")]
            else:
                names = [n for n in (host_spec(host, port), host) if n in new]
            if not names:
                return False
            for n in names:
                del new[n]
            await asyncio.to_thread(atomic_write, self.path, render_known_hosts(new), 0o600)
            self._entries = new
        log.warning("exec.ssh_pin_cleared", "ssh host key pin cleared", host=host, port=port)
        return True
