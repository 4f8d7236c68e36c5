"""The five RPCs of ``compliance.ComplianceAgent`` (issue 23), on grpclib.

Every call but ``Register`` requires a client certificate issued by the hub's CA, valid now,
not revoked, and whose host owns the ``agent_id`` the message names (the TLS layer only
verifies certificates that are presented; the check that one *was* presented is here, per
call). ``Register`` enrolls (CSR + token; compatibility mode when switched on), renews over
mTLS, or re-configures a known agent. Caps: message size (read before the body), concurrent
streams in total and per peer address; each refusal is a gRPC status with a short reason.
"""

from __future__ import annotations

import asyncio
import collections
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from grpclib.const import Cardinality, Handler, Status
from grpclib.exceptions import GRPCError

from agent.hub import checktypes
from agent.hub.ca import AgentCA, CAError, ClientIdentity, normalize_host
from agent.hub.proto import compliance_pb2 as pb
from agent.hub.registry import AgentRegistry, AgentState, TokenError
from agent.hub.wire import peer_cert_der, peer_ip, read_message, reset
from agent.log import get_logger
from agent.scan.model import Finding

log = get_logger("hub")

R = TypeVar("R", pb.HealingResult, pb.HeartbeatRequest, pb.RMMStatusReport)

SERVICE: Final = "compliance.ComplianceAgent"
HOSTNAME_RE: Final = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9-]{1,63})*\.?$")
MAX_RMM_AGENTS: Final = 50
MAX_TEXT: Final = 4096
CHECK_INTERVAL_S: Final = 300
#: Go agents renew when under 30 days remain: their certificates must outlive that by far.
COMPAT_CERT_DAYS: Final = 90
WINDOWS_CHECKS: Final = ("bitlocker", "defender", "patches", "firewall", "screenlock",
                         "rmm_detection", "winrm", "dns_service")
MACOS_CHECKS: Final = ("macos_filevault", "macos_gatekeeper", "macos_sip", "macos_firewall",
                       "macos_auto_update", "macos_screen_lock", "macos_remote_login",
                       "macos_file_sharing", "macos_time_machine", "macos_ntp_sync",
                       "macos_admin_users", "macos_disk_space")


@dataclass(frozen=True, slots=True)
class Limits:
    max_message_bytes: int = 1 << 20
    max_streams: int = 200
    max_streams_per_peer: int = 4
    compat_per_addr: int = 3  # compatibility enrollments per source address ...
    compat_window_s: float = 600.0  # ... per this window


@dataclass(frozen=True, slots=True)
class HealResult:
    """What the hub passes on of a ``HealingResult`` (never its artifacts)."""

    agent_id: str
    host: str
    check_type: str
    success: bool
    command_id: str
    ours: bool  # answers a heal command this hub sent


class ComplianceService:
    def __init__(self, ca: AgentCA, registry: AgentRegistry, *, compat: Callable[[], bool],
                 targets: Callable[[], Iterable[str]],
                 on_findings: Callable[[list[Finding]], None],
                 heal_allowed: Callable[[], bool],
                 on_heal_result: Callable[[HealResult], None] = lambda r: None,
                 limits: Limits | None = None, clock: Callable[[], float] = time.time) -> None:
        self.ca = ca
        self.registry = registry
        self.compat = compat
        self.targets = targets
        self.on_findings = on_findings
        self.heal_allowed = heal_allowed
        self.on_heal_result = on_heal_result
        self.limits = limits or Limits()
        self.clock = clock
        self.streams = 0
        self.no_calls = asyncio.Event()  # set while no call is in flight
        self.no_calls.set()
        #: set by the server's stop: drift streams end before their next message
        self.stopping = asyncio.Event()
        self.per_peer: collections.Counter[str] = collections.Counter()
        self._compat_hits: dict[str, collections.deque[float]] = {}
        self.commands: dict[str, tuple[str, str]] = {}  # command id -> (agent id, check type)
        self.stats: collections.Counter[str] = collections.Counter()

    # --- grpclib --------------------------------------------------------------------------------

    def __mapping__(self) -> dict[str, Handler]:
        def h(name: str, fn: Any, card: Cardinality, req: Any, resp: Any) -> tuple[str, Handler]:
            return f"/{SERVICE}/{name}", Handler(fn, card, req, resp)

        return dict([
            h("Register", self.register, Cardinality.UNARY_UNARY, pb.RegisterRequest,
              pb.RegisterResponse),
            h("ReportDrift", self.report_drift, Cardinality.STREAM_STREAM, pb.DriftEvent,
              pb.DriftAck),
            h("ReportHealing", self.report_healing, Cardinality.UNARY_UNARY, pb.HealingResult,
              pb.HealingAck),
            h("Heartbeat", self.heartbeat, Cardinality.UNARY_UNARY, pb.HeartbeatRequest,
              pb.HeartbeatResponse),
            h("ReportRMMStatus", self.report_rmm, Cardinality.UNARY_UNARY, pb.RMMStatusReport,
              pb.RMMAck),
        ])

    # --- caps and authentication -----------------------------------------------------------------

    @asynccontextmanager
    async def _slot(self, stream: Any) -> AsyncIterator[str]:
        ip = peer_ip(stream)
        if self.streams >= self.limits.max_streams:
            self.stats["refused_busy"] += 1
            raise GRPCError(Status.RESOURCE_EXHAUSTED, "too many concurrent calls")
        if self.per_peer[ip] >= self.limits.max_streams_per_peer:
            self.stats["refused_busy"] += 1
            raise GRPCError(Status.RESOURCE_EXHAUSTED, "too many concurrent calls from this address")
        self.streams += 1
        self.no_calls.clear()
        self.per_peer[ip] += 1
        try:
            yield ip
        except asyncio.CancelledError:
            if self.stopping.is_set():
                reset(stream)  # cancelled at the end of the grace: tell the client
            raise
        finally:
            self.streams -= 1
            if not self.streams:
                self.no_calls.set()
            self.per_peer[ip] -= 1
            if self.per_peer[ip] <= 0:
                del self.per_peer[ip]

    def _identity(self, stream: Any) -> ClientIdentity | None:
        """The verified client certificate's identity; None when no certificate was sent."""
        der = peer_cert_der(stream)
        if der is None:
            return None
        try:
            ident = self.ca.verify_client(der)
        except CAError as exc:
            raise GRPCError(Status.UNAUTHENTICATED, str(exc)) from None
        if self.registry.is_revoked(ident.serial, ident.hostname, ident.not_before):
            raise GRPCError(Status.UNAUTHENTICATED, "client certificate revoked")
        if ident.not_before < self.registry.epoch:
            raise GRPCError(Status.UNAUTHENTICATED, "client certificate predates the registry; "
                                                    "enroll again")
        return ident

    def _require(self, stream: Any, agent_id: str) -> AgentState:
        """mTLS on every call but Register: a valid certificate whose host owns ``agent_id``."""
        ident = self._identity(stream)
        if ident is None:
            self.stats["refused_no_cert"] += 1
            raise GRPCError(Status.UNAUTHENTICATED, "a client certificate is required")
        agent = self.registry.agent_for_host(ident.hostname)
        if agent is None or agent.agent_id != agent_id:
            self.stats["refused_wrong_agent"] += 1
            raise GRPCError(Status.PERMISSION_DENIED, "agent_id does not belong to this certificate")
        return agent

    # --- Register -------------------------------------------------------------------------------

    async def register(self, stream: Any) -> None:
        async with self._slot(stream) as ip:
            req = await read_message(stream, pb.RegisterRequest, self.limits.max_message_bytes)
            if req is None:
                raise GRPCError(Status.INVALID_ARGUMENT, "no request")
            await stream.send_message(self._register(req, ip, self._identity(stream)))

    def _register(self, req: pb.RegisterRequest, ip: str,
                  ident: ClientIdentity | None) -> pb.RegisterResponse:
        host = req.hostname
        if not HOSTNAME_RE.match(host) or len(host) > 253:
            raise GRPCError(Status.INVALID_ARGUMENT, "invalid hostname")
        if ident is not None and ident.hostname != normalize_host(host):
            raise GRPCError(Status.PERMISSION_DENIED, "certificate is for another host")
        ca_pem = cert_pem = key_pem = b""
        if req.csr_pem:
            if ident is None and not req.enrollment_token:
                self.stats["refused_no_token"] += 1
                raise GRPCError(Status.UNAUTHENTICATED, "an enrollment token is required")
            try:
                cert_pem, serial = self.ca.sign_csr(bytes(req.csr_pem), host)
            except CAError as exc:
                self.stats["refused_csr"] += 1
                raise GRPCError(Status.INVALID_ARGUMENT, str(exc)) from None
            if ident is None:  # first enrollment: the token is spent before the answer
                try:
                    self.registry.redeem_token(req.enrollment_token, host)
                except TokenError as exc:
                    self.stats["refused_token"] += 1
                    raise GRPCError(Status.PERMISSION_DENIED, str(exc)) from None
            mode = "csr" if ident is None else "renew"
            ca_pem = self.ca.ca_pem()
        elif ident is None:
            cert_pem, key_pem, serial = self._compat_enroll(host, ip, renewing=None)
            mode, ca_pem = "compat", self.ca.ca_pem()
        elif req.needs_certificates and self.compat():
            # a Go agent renewing over mTLS (it does so when under 30 days remain): a new key
            # and certificate, and the one it presented is revoked (one per host)
            cert_pem, key_pem, serial = self._compat_enroll(host, ip, renewing=ident)
            mode, ca_pem = "compat", self.ca.ca_pem()
        else:
            mode = "refresh"
        agent = self.registry.register(host, os_version=req.os_version[:256],
                                       agent_version=req.agent_version[:64], ip_address=ip)
        if cert_pem:
            from cryptography import x509

            not_after = x509.load_pem_x509_certificate(cert_pem).not_valid_after_utc.timestamp()
            self.registry.record_cert(serial, host, mode, not_after)
        self.stats[f"register_{mode}"] += 1
        log.info("hub.register", "workstation agent registered", agent_id=agent.agent_id,
                 mode=mode)
        os_lower = req.os_version.lower()
        checks: tuple[str, ...] = WINDOWS_CHECKS
        if "darwin" in os_lower or "macos" in os_lower:
            checks = MACOS_CHECKS
        elif "linux" in os_lower:
            checks = ()
        return pb.RegisterResponse(agent_id=agent.agent_id, check_interval_seconds=CHECK_INTERVAL_S,
                                   enabled_checks=list(checks), capability_tier=pb.MONITOR_ONLY,
                                   ca_cert_pem=ca_pem, agent_cert_pem=cert_pem,
                                   agent_key_pem=key_pem)

    def _compat_enroll(self, host: str, ip: str,
                       renewing: ClientIdentity | None) -> tuple[bytes, bytes, int]:
        if not self.compat():
            self.stats["refused_no_token"] += 1
            raise GRPCError(Status.UNAUTHENTICATED, "enrollment needs a CSR and an enrollment token")
        listed = {normalize_host(t) for t in self.targets()}
        if normalize_host(host) not in listed and ip not in listed:
            self.stats["refused_unlisted"] += 1
            log.warning("hub.compat_refused", "compatibility enrollment refused: host not on the "
                        "site's target list", peer=ip)
            raise GRPCError(Status.PERMISSION_DENIED, "host is not on this site's target list")
        if renewing is None and self.registry.live_compat_cert(host):
            self.stats["refused_compat_again"] += 1
            raise GRPCError(Status.PERMISSION_DENIED, "host already holds a certificate; revoke it "
                                                      "first")
        now = self.clock()
        hits = self._compat_hits.setdefault(ip, collections.deque())
        while hits and now - hits[0] > self.limits.compat_window_s:
            hits.popleft()
        if len(hits) >= self.limits.compat_per_addr:
            self.stats["refused_rate"] += 1
            raise GRPCError(Status.RESOURCE_EXHAUSTED, "too many enrollments from this address")
        hits.append(now)
        issued = self.ca.issue_with_key(host, days=COMPAT_CERT_DAYS)
        if renewing is not None:
            self.registry.revoke_serial(renewing.serial)
        return issued

    # --- ReportDrift ------------------------------------------------------------------------------

    async def report_drift(self, stream: Any) -> None:
        async with self._slot(stream):
            agent: AgentState | None = None
            while True:
                ev = await read_message(stream, pb.DriftEvent, self.limits.max_message_bytes,
                                        self.stopping)
                if ev is None:
                    return
                if agent is None or ev.agent_id != agent.agent_id:
                    agent = self._require(stream, ev.agent_id)
                await stream.send_message(self._drift(agent, ev))

    def _drift(self, agent: AgentState, ev: pb.DriftEvent) -> pb.DriftAck:
        now = self.clock()
        agent.last_heartbeat = now
        agent.checks_total += 1
        ack = pb.DriftAck(event_id=f"{ev.agent_id}-{ev.timestamp}", received=True)
        if ev.passed:
            agent.checks_passed += 1
            return ack
        agent.drift_count += 1
        self.stats["drift_events"] += 1
        check = checktypes.catalogue_name(ev.check_type[:128])
        details = {str(k)[:128]: str(v)[:MAX_TEXT] for k, v in list(ev.metadata.items())[:64]}
        hipaa = ev.hipaa_control[:64]
        self.on_findings([Finding(
            host=agent.hostname, check_type=check, severity="high" if hipaa else "medium",
            hipaa_control=hipaa, expected=ev.expected[:MAX_TEXT], actual=ev.actual[:MAX_TEXT],
            details=details, platform=checktypes.platform_of(check),
            source=f"grpc:{agent.agent_id}", label="WS",
            observed_at=float(ev.timestamp) if 0 < ev.timestamp <= now + 300 else now)])
        spec = checktypes.WORKSTATION_HEALS.get(ev.check_type)
        if spec is not None and self.heal_allowed():
            cmd_id = f"drift-heal-{secrets.token_hex(12)}"
            if len(self.commands) >= 4096:
                self.commands.pop(next(iter(self.commands)))
            self.commands[cmd_id] = (agent.agent_id, ev.check_type)
            ack.heal_command.CopyFrom(pb.HealCommand(command_id=cmd_id, check_type=ev.check_type,
                                                     action=spec.action,
                                                     timeout_seconds=spec.timeout_s))
            self.stats["heal_commands"] += 1
        return ack

    # --- unary reports ----------------------------------------------------------------------------

    async def _authenticated(self, stream: Any, message_type: type[R]) -> tuple[R, AgentState]:
        """The request of a unary report and its agent (mTLS checked), whose liveness it is."""
        req = await read_message(stream, message_type, self.limits.max_message_bytes)
        if req is None:
            raise GRPCError(Status.INVALID_ARGUMENT, "no request")
        agent = self._require(stream, getattr(req, "agent_id", ""))
        agent.last_heartbeat = self.clock()
        return req, agent

    async def report_healing(self, stream: Any) -> None:
        async with self._slot(stream):
            req, agent = await self._authenticated(stream, pb.HealingResult)
            sent = self.commands.pop(req.command_id, None) if req.command_id else None
            ours = sent is not None and sent[0] == agent.agent_id
            # Artifacts (e.g. a BitLocker recovery key) are neither logged nor kept: only
            # their number is (the Go daemon does not forward them either).
            log.info("hub.healing_result", "workstation heal reported", agent_id=agent.agent_id,
                     check_type=req.check_type[:128], success=req.success, ours=ours,
                     artifacts=len(req.artifacts))
            self.stats["heal_results"] += 1
            self.on_heal_result(HealResult(agent.agent_id, agent.hostname,
                                           checktypes.catalogue_name(req.check_type[:128]),
                                           req.success, req.command_id[:128], ours))
            await stream.send_message(pb.HealingAck(event_id=f"{req.agent_id}-{req.timestamp}",
                                                    received=True))

    async def heartbeat(self, stream: Any) -> None:
        async with self._slot(stream):
            req, agent = await self._authenticated(stream, pb.HeartbeatRequest)
            if req.agent_version:
                agent.agent_version = req.agent_version[:64]
            self.stats["heartbeats"] += 1
            await stream.send_message(pb.HeartbeatResponse(acknowledged=True))

    async def report_rmm(self, stream: Any) -> None:
        async with self._slot(stream):
            req, agent = await self._authenticated(stream, pb.RMMStatusReport)
            # Kept in memory for the local status, as the Go daemon does (it sends RMM
            # reports nowhere).
            agent.rmm = [{"name": a.name[:128], "version": a.version[:64], "running": a.running,
                          "service_name": a.service_name[:128]}
                         for a in list(req.detected_agents)[:MAX_RMM_AGENTS]]
            self.stats["rmm_reports"] += 1
            await stream.send_message(pb.RMMAck(received=True))
