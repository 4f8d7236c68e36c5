"""A small workstation agent for the tests: speaks the Go agents' wire format to the hub over
real TLS (grpclib client), with or without a client certificate, in CSR or compatibility mode."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpclib.client import Channel, StreamStreamMethod, UnaryUnaryMethod

from agent.hub.proto import compliance_pb2 as pb

SERVICE = "/compliance.ComplianceAgent/"


def make_csr(hostname: str) -> tuple[bytes, bytes]:
    """(CSR PEM, key PEM) for ``hostname``, as a CSR-mode agent makes them."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"agent-{hostname}")]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
           .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    return csr.public_bytes(serialization.Encoding.PEM), key_pem


@dataclass
class Agent:
    """One workstation agent: host name, the hub's address and CA, its own certificate."""

    hostname: str
    port: int
    ca_pem: bytes
    workdir: Path
    cert_pem: bytes = b""
    key_pem: bytes = b""
    agent_id: str = ""
    channels: list[Channel] = field(default_factory=list)
    _open: dict[tuple[bool, bytes], Channel] = field(default_factory=dict)

    def _ssl(self, with_cert: bool) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cadata=self.ca_pem.decode())
        if with_cert and self.cert_pem:
            cert, key = self.workdir / f"{self.hostname}.crt", self.workdir / f"{self.hostname}.key"
            cert.write_bytes(self.cert_pem)
            key.write_bytes(self.key_pem)
            ctx.load_cert_chain(cert, key)
        ctx.set_alpn_protocols(["h2"])
        return ctx

    def channel(self, with_cert: bool = True) -> Channel:
        """One connection per identity (as a real agent keeps one): reused until the
        certificate changes or :meth:`close`."""
        key = (with_cert, self.cert_pem if with_cert else b"")
        ch = self._open.get(key)
        if ch is None:
            ch = self._open[key] = Channel("127.0.0.1", self.port, ssl=self._ssl(with_cert))
            self.channels.append(ch)
        return ch

    def close(self) -> None:
        for ch in self.channels:
            ch.close()
        self.channels.clear()
        self._open.clear()

    async def register(self, *, csr: bytes = b"", token: str = "", needs_certs: bool = False,
                       with_cert: bool = True, os_version: str = "Windows 11 Pro") -> Any:
        call = UnaryUnaryMethod(self.channel(with_cert), SERVICE + "Register",
                                pb.RegisterRequest, pb.RegisterResponse)
        resp = await call(pb.RegisterRequest(hostname=self.hostname, os_version=os_version,
                                             agent_version="0.4.2", needs_certificates=needs_certs,
                                             csr_pem=csr, enrollment_token=token), timeout=10)
        self.agent_id = resp.agent_id
        if resp.agent_cert_pem:
            self.cert_pem = bytes(resp.agent_cert_pem)
        if resp.agent_key_pem:
            self.key_pem = bytes(resp.agent_key_pem)
        return resp

    async def enroll(self, token: str) -> Any:
        """CSR mode: a new key, a CSR, the token; keeps the returned certificate."""
        csr, key = make_csr(self.hostname)
        self.key_pem = key
        return await self.register(csr=csr, token=token, with_cert=False)

    async def heartbeat(self, *, with_cert: bool = True) -> Any:
        call = UnaryUnaryMethod(self.channel(with_cert), SERVICE + "Heartbeat",
                                pb.HeartbeatRequest, pb.HeartbeatResponse)
        return await call(pb.HeartbeatRequest(agent_id=self.agent_id, timestamp=1,
                                              agent_version="0.4.2"), timeout=10)

    async def healing(self, *, check_type: str, command_id: str, success: bool = True,
                      artifacts: dict[str, str] | None = None, with_cert: bool = True) -> Any:
        call = UnaryUnaryMethod(self.channel(with_cert), SERVICE + "ReportHealing",
                                pb.HealingResult, pb.HealingAck)
        return await call(pb.HealingResult(agent_id=self.agent_id, hostname=self.hostname,
                                           check_type=check_type, success=success,
                                           command_id=command_id, artifacts=artifacts or {}),
                          timeout=10)

    async def rmm(self, *, with_cert: bool = True) -> Any:
        call = UnaryUnaryMethod(self.channel(with_cert), SERVICE + "ReportRMMStatus",
                                pb.RMMStatusReport, pb.RMMAck)
        return await call(pb.RMMStatusReport(
            agent_id=self.agent_id, hostname=self.hostname,
            detected_agents=[pb.RMMAgent(name="ScreenConnect", version="23.1", running=True)]),
            timeout=10)

    @asynccontextmanager
    async def drift_stream(self, *, with_cert: bool = True,
                           deadline_s: float = 30.0) -> AsyncIterator[Any]:
        method = StreamStreamMethod(self.channel(with_cert), SERVICE + "ReportDrift",
                                    pb.DriftEvent, pb.DriftAck)
        async with method.open(timeout=deadline_s) as stream:
            yield stream

    def drift(self, check_type: str, *, passed: bool = False, **metadata: str) -> Any:
        return pb.DriftEvent(agent_id=self.agent_id, hostname=self.hostname,
                             check_type=check_type, passed=passed, expected="on", actual="off",
                             hipaa_control="164.312(a)(1)", timestamp=1_700_000_000,
                             metadata=metadata)
