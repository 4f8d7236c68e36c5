"""The hub's listener: grpclib over TLS with optional client certificates (verified when
presented; each call but Register then demands one, see :mod:`agent.hub.service`), and a stop
with a grace period for the calls in flight."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from grpclib.server import Server

from agent.hub.ca import AgentCA
from agent.hub.service import ComplianceService
from agent.log import get_logger

log = get_logger("hub")


def tls_context(cert: Path, key: Path, ca_cert: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    ctx.load_verify_locations(cafile=str(ca_cert))
    ctx.verify_mode = ssl.CERT_OPTIONAL  # Register may come without one; the others may not
    ctx.set_alpn_protocols(["h2"])
    return ctx


def site_address(peers: Iterable[str]) -> str | None:
    """The local address the site is reached through: the source address toward the first
    peer given as an IP address (a UDP connect sends nothing), else the first non-loopback
    IPv4 address of this host; None when neither is known."""
    for peer in peers:
        try:
            ipaddress.ip_address(peer)
        except ValueError:
            continue
        with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((peer, 9))
            return str(s.getsockname()[0])
    with contextlib.suppress(OSError):
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            addr = str(info[4][0])
            if not ipaddress.ip_address(addr).is_loopback:
                return addr
    return None


class _PeerConnections:
    """Open connections per peer address, capped: one over the cap is closed at once (an agent
    needs one; the cap leaves room for reconnects)."""

    def __init__(self, cap: Callable[[], int]) -> None:
        self.cap = cap
        self.open: collections.Counter[str] = collections.Counter()
        self.refused = 0

    def wrap(self, inner: asyncio.Protocol) -> asyncio.Protocol:
        return _Counted(inner, self)


class _Counted(asyncio.Protocol):
    def __init__(self, inner: asyncio.Protocol, peers: _PeerConnections) -> None:
        self.inner = inner
        self.peers = peers
        self.ip: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        ip = str(peer[0]) if peer else ""
        if self.peers.open[ip] >= self.peers.cap():
            self.peers.refused += 1
            transport.close()
            return
        self.ip = ip
        self.peers.open[ip] += 1
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.ip is not None:
            self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.ip is not None else None

    def pause_writing(self) -> None:
        if self.ip is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.ip is not None:
            self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.ip is None:
            return
        self.peers.open[self.ip] -= 1
        if self.peers.open[self.ip] <= 0:
            del self.peers.open[self.ip]
        self.inner.connection_lost(exc)


class _CappedServer(Server):
    """grpclib's server with connections per peer capped (it has no such setting)."""

    def __init__(self, handlers: list[Any], peers: _PeerConnections) -> None:
        super().__init__(handlers)
        self.peers = peers

    def _protocol_factory(self) -> Any:
        return self.peers.wrap(super()._protocol_factory())


class HubServer:
    def __init__(self, service: ComplianceService, ca: AgentCA, *, host: str, port: int,
                 names: list[str]) -> None:
        self.service = service
        self.ca = ca
        self.host = host
        self.port = port
        self.names = names  # what the server certificate names (the bind address at least)
        self._server: Server | None = None
        self.connections = _PeerConnections(lambda: 2 * service.limits.max_streams_per_peer)

    async def start(self) -> int:
        """Listen; the bound port (``port`` 0 picks one)."""
        self.ca.ensure()
        cert, key = self.ca.server_credentials(self.names)
        ctx = tls_context(cert, key, self.ca.ca_cert_path)
        self._server = _CappedServer([self.service], self.connections)
        await self._server.start(self.host, self.port, ssl=ctx, backlog=64)
        listener: Any = self._server._server  # the asyncio.Server grpclib keeps
        self.port = int(listener.sockets[0].getsockname()[1])
        return self.port

    async def stop(self, grace_s: float) -> None:
        """Stop accepting, let calls in flight finish for up to ``grace_s`` (drift streams end
        cleanly before their next message; one under way is read and acknowledged), then
        cancel and reset what is left."""
        server, self._server = self._server, None
        if server is None:
            return
        listener: Any = server._server
        listener.close()
        self.service.stopping.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.service.no_calls.wait(), timeout=grace_s)
        left = self.service.streams
        server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), timeout=1.0)
        log.info("hub.stopped", "workstation hub stopped", cancelled_calls=left)
