"""The hub's agent registry: known agents (persisted), their live state, enrollment tokens,
issued and revoked certificates, all in ``agent_registry.json`` (state dir, atomic writes).

The Go daemon's file is a JSON list of ``{agent_id, hostname}``; it is read as the agents of
an empty registry (adoption). Our file is an object:

* ``agents``: ``[{agent_id, hostname}]`` — the id a host keeps across re-registrations;
* ``tokens``: ``[{sha256, hostname, expires_at, used_at}]`` — one-time enrollment tokens, stored
  hashed only (the token itself leaves in the order that deploys the agent and nowhere else);
* ``certs``: ``[{serial, hostname, mode, not_after}]`` — certificates issued (compatibility
  mode: one per host until revoked);
* ``revoked``: ``[serial]`` — refused on every call (as decimal strings: serials are 159-bit);
* ``revoked_hosts``: ``{host: time}`` — every certificate of the host valid from before that
  time is refused too, including ones this registry never recorded (a Go daemon's CA in
  ``ca_dir`` is adopted, and with it the certificates it issued).

Live state (heartbeats, counters, versions, RMM reports) is memory only, as in the Go daemon.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import msgspec

from agent.hub.ca import normalize_host
from agent.log import get_logger
from agent.protocol.checkin import ConnectedAgent
from agent.state.atomic import atomic_write, quarantine
from agent.timefmt import format_rfc3339

log = get_logger("hub")

REGISTRY_NAME: Final = "agent_registry.json"
RECENT_HEARTBEAT_S: Final = 600.0  # healing.md §6.2: pushed hosts are not pulled over WinRM
TOKEN_TTL_S: Final = 24 * 3600.0
MAX_TOKENS: Final = 1024


@dataclass
class AgentState:
    """One agent's live state (memory only)."""

    agent_id: str
    hostname: str
    connected_at: float = 0.0
    last_heartbeat: float = 0.0
    agent_version: str = ""
    os_version: str = ""
    ip_address: str = ""
    tier: int = 0
    drift_count: int = 0
    checks_passed: int = 0
    checks_total: int = 0
    rmm: list[dict[str, Any]] = field(default_factory=list)


class TokenError(Exception):
    """An enrollment token that is unknown, used, expired or for another host."""


class AgentRegistry:
    def __init__(self, state_dir: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = state_dir / REGISTRY_NAME
        self.clock = clock
        self.agents: dict[str, AgentState] = {}
        self._by_host: dict[str, str] = {}
        self.tokens: list[dict[str, Any]] = []
        self.certs: list[dict[str, Any]] = []
        self.revoked: set[int] = set()
        self.revoked_hosts: dict[str, float] = {}
        #: Certificates valid from before this time are refused (set when the file was lost to
        #: corruption: revocations cannot be told apart any more, so every agent re-enrolls).
        self.epoch = 0.0
        self._seen: tuple[int, int, int] | None = None
        self._load()

    # --- persistence ------------------------------------------------------------------------
    # The daemon and the operator's ``msp-agent hub`` commands share the file: every change is a
    # read-modify-write under an advisory lock (``agent_registry.lock``), and readers re-load the
    # file when it changed on disk (a token issued or a host revoked while the daemon runs).

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def refresh(self) -> None:
        """Re-read the file if someone else wrote it since this process last did."""
        if self._stat() != self._seen:
            self._load()

    @contextlib.contextmanager
    def _changing(self) -> Iterator[None]:
        fd = os.open(self.path.with_suffix(".lock"), os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self.refresh()
            yield
            self.save()
        finally:
            os.close(fd)  # releases the lock

    def _load(self) -> None:
        self._seen = self._stat()
        if self._seen is None:
            return
        try:
            doc = json.loads(self.path.read_bytes())
            agents = doc if isinstance(doc, list) else doc.get("agents", [])
            for a in agents:
                self._add(str(a["agent_id"]), str(a["hostname"]))
            if isinstance(doc, dict):
                self.tokens = [dict(t) for t in doc.get("tokens", [])]
                self.certs = [dict(c) for c in doc.get("certs", [])]
                self.revoked = {int(s) for s in doc.get("revoked", [])}
                self.epoch = float(doc.get("epoch", 0.0))
                self.revoked_hosts = {str(h): float(t)
                                      for h, t in doc.get("revoked_hosts", {}).items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            moved = quarantine(self.path)
            # Fail closed: certificates issued before cannot be told from revoked ones, so
            # every agent must enroll again (a new token per host).
            log.error("hub.registry_corrupt", "agent registry unreadable; quarantined, agents "
                      "must enroll again", path=str(moved))
            self.agents.clear()
            self._by_host.clear()
            self.tokens, self.certs, self.revoked = [], [], set()
            self.epoch = self.clock()
            self.save()

    def save(self) -> None:
        doc = {"agents": [{"agent_id": a.agent_id, "hostname": a.hostname}
                          for a in self.agents.values()],
               "tokens": self.tokens, "certs": self.certs,
               "revoked": sorted(str(s) for s in self.revoked), "epoch": self.epoch,
               "revoked_hosts": self.revoked_hosts}
        atomic_write(self.path, json.dumps(doc, indent=1, sort_keys=True).encode(), 0o600)
        self._seen = self._stat()

    # --- agents -------------------------------------------------------------------------------

    def _add(self, agent_id: str, hostname: str) -> AgentState:
        host = normalize_host(hostname)
        old = self._by_host.get(host)
        if old is not None and old != agent_id:
            self.agents.pop(old, None)
        state = self.agents.get(agent_id) or AgentState(agent_id, hostname)
        self.agents[agent_id] = state
        self._by_host[host] = agent_id
        return state

    def agent_for_host(self, hostname: str) -> AgentState | None:
        aid = self._by_host.get(normalize_host(hostname))
        return self.agents.get(aid) if aid else None

    def register(self, hostname: str, *, os_version: str, agent_version: str,
                 ip_address: str) -> AgentState:
        """The host's agent (its id is kept across registrations; new hosts get a new one)."""
        self.refresh()
        existing = self.agent_for_host(hostname)
        if existing is None:
            with self._changing():
                existing = self.agent_for_host(hostname)
                agent_id = existing.agent_id if existing else f"go-{hostname}-{secrets.token_hex(4)}"
                state = self._add(agent_id, hostname)
        else:
            state = existing
        now = self.clock()
        state.connected_at = state.connected_at or now
        state.last_heartbeat = now
        state.os_version, state.ip_address = os_version, ip_address
        state.agent_version = agent_version or state.agent_version
        return state

    def touch(self, agent_id: str) -> AgentState | None:
        state = self.agents.get(agent_id)
        if state is not None:
            state.last_heartbeat = self.clock()
            state.connected_at = state.connected_at or state.last_heartbeat
        return state

    # --- what others read (Protocols of the checkin and the scan) ------------------------------

    def connected_agents(self) -> list[ConnectedAgent]:
        """central-api.md §6.2 (hostnames are scrubbed by the Uplink at egress)."""
        out = []
        for a in self.agents.values():
            if not a.last_heartbeat:
                continue  # known from disk, not connected since the start
            out.append(ConnectedAgent(
                agent_id=a.agent_id[:100], hostname=a.hostname,
                agent_version=a.agent_version or _unset(), ip_address=a.ip_address or _unset(),
                os_version=a.os_version or _unset(), capability_tier=a.tier,
                connected_at=format_rfc3339(a.connected_at),
                last_heartbeat=format_rfc3339(a.last_heartbeat), drift_count=a.drift_count,
                checks_passed=a.checks_passed, checks_total=a.checks_total))
        return out

    def pushes_own_results(self, host: str) -> bool:
        """The host's agent sent a heartbeat in the last 10 minutes (healing.md §6.2)."""
        a = self.agent_for_host(host)
        return a is not None and self.clock() - a.last_heartbeat < RECENT_HEARTBEAT_S

    # --- enrollment tokens ----------------------------------------------------------------------

    def issue_token(self, hostname: str, ttl_s: float = TOKEN_TTL_S) -> str:
        """A new one-time token for ``hostname`` (returned once; only its hash is stored). An
        unused earlier token of the same host is withdrawn."""
        host, now = normalize_host(hostname), self.clock()
        token = secrets.token_urlsafe(32)
        with self._changing():
            self.tokens = [t for t in self.tokens
                           if t["hostname"] != host and t["expires_at"] > now and not t["used_at"]]
            self.tokens = self.tokens[-(MAX_TOKENS - 1):]
            self.tokens.append({"sha256": _hash(token), "hostname": host,
                                "expires_at": now + ttl_s, "used_at": 0})
        return token

    def redeem_token(self, token: str, hostname: str) -> None:
        """Spend ``token`` for ``hostname`` (durably, before any certificate is returned)."""
        digest, host, now = _hash(token), normalize_host(hostname), self.clock()
        with self._changing():
            for t in self.tokens:
                if hmac.compare_digest(t["sha256"], digest):
                    if t["used_at"]:
                        raise TokenError("enrollment token already used")
                    if t["expires_at"] <= now:
                        raise TokenError("enrollment token expired")
                    if t["hostname"] != host:
                        raise TokenError("enrollment token is for another host")
                    t["used_at"] = now
                    return
        raise TokenError("unknown enrollment token")

    # --- certificates ---------------------------------------------------------------------------

    def record_cert(self, serial: int, hostname: str, mode: str, not_after: float) -> None:
        now = self.clock()
        with self._changing():
            self.certs.append({"serial": str(serial), "hostname": normalize_host(hostname),
                               "mode": mode, "not_after": not_after})
            self.certs = [c for c in self.certs if c["not_after"] > now or int(c["serial"]) in
                          self.revoked]

    def live_compat_cert(self, hostname: str) -> bool:
        """A compatibility certificate of this host that is neither revoked nor expired."""
        host, now = normalize_host(hostname), self.clock()
        self.refresh()
        return any(c["hostname"] == host and c["mode"] == "compat" and c["not_after"] > now
                   and int(c["serial"]) not in self.revoked for c in self.certs)

    def revoke_host(self, hostname: str) -> int:
        """Revoke every certificate of ``hostname`` issued until now (recorded or not); how many
        recorded ones were revoked."""
        host = normalize_host(hostname)
        with self._changing():
            serials = {int(c["serial"]) for c in self.certs if c["hostname"] == host}
            new = serials - self.revoked
            self.revoked |= serials
            self.revoked_hosts[host] = self.clock()
        return len(new)

    def revoke_serial(self, serial: int) -> None:
        with self._changing():
            self.revoked.add(serial)

    def is_revoked(self, serial: int, hostname: str = "", not_before: float = 0.0) -> bool:
        """Revoked by serial; or, for a certificate this registry did not issue (so has no
        serial of), valid from before its host's revocation."""
        self.refresh()
        if serial in self.revoked:
            return True
        if any(int(c["serial"]) == serial for c in self.certs):
            return False
        cutoff = self.revoked_hosts.get(normalize_host(hostname)) if hostname else None
        return cutoff is not None and not_before <= cutoff


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _unset() -> Any:
    return msgspec.UNSET
