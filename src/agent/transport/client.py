"""The HTTPS client for Central Command (central-api.md §1, §3, §4).

One pinned keep-alive connection pool (:mod:`agent.http1`: asyncio streams, ``ssl``, h11), every
request with a total deadline and a response-size cap, Bearer auth read from the shared
:class:`Credentials` at send time, and sigauth headers where asked. Responses may come gzip-encoded
(``Accept-Encoding: gzip``, as the Go daemon's client asks); they are decoded under the same cap.
Transport problems raise :class:`TransportError` with a ``kind`` (``dns``, ``connect``, ``tls``,
``pin``, ``timeout``, ``too_large``, ``breaker_open``, ``server``: closed early or malformed HTTP);
any HTTP status comes back as a :class:`Response` for the caller to classify.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from dataclasses import dataclass
from typing import Any

from agent import __version__
from agent.crypto.keys import Ed25519Key
from agent.crypto.sigauth import sign_request
from agent.http1 import Connection, Headers, HttpError, Origin, Pool, connect
from agent.log import get_logger, register_secret
from agent.transport.pinning import pin_verifier
from agent.transport.pins import PinMismatch, PinStore
from agent.transport.policy import Breaker

log = get_logger("transport")

KiB = 1024
MiB = 1024 * KiB


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Deadline and response cap of one endpoint (central-api.md §3.1)."""

    name: str
    deadline: float
    cap: int
    secondary: bool = True  # refused while the Central Command breaker is open


CHECKIN = Endpoint("checkin", 30.0, 10 * MiB, secondary=False)
REKEY = Endpoint("rekey", 30.0, 64 * KiB, secondary=False)
# First-boot enrollment (claim-v2, provision-code claim, MAC lookup): no breaker, like rekey.
PROVISION = Endpoint("provision", 30.0, 64 * KiB, secondary=False)
ORDER_COMPLETE = Endpoint("order_complete", 30.0, 64 * KiB)
EVIDENCE_SUBMIT = Endpoint("evidence_submit", 30.0, 64 * KiB)
EVIDENCE_VERIFY = Endpoint("evidence_verify", 15.0, 64 * KiB)
ACKS = Endpoint("ack", 15.0, 64 * KiB)
SYNC = Endpoint("sync", 30.0, 64 * KiB)  # devices/sync, logs/ingest, security-events/archive
REPORTS = Endpoint("reports", 10.0, 64 * KiB)  # incidents, incidents/resolve, executions
L2_PLAN = Endpoint("l2_plan", 30.0, 1 * MiB)
RULES = Endpoint("rules", 30.0, 4 * MiB)

CONNECT_TIMEOUT_S = 15.0
TLS_HANDSHAKE_S = 10.0
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})  # sent with a Content-Length even when empty
KEEPALIVE_S = 90.0
MAX_IDLE = 5


class Credentials:
    """The one holder of the API key; every request reads it at send time (central-api.md §4.1)."""

    def __init__(self, api_key: str) -> None:
        self._api_key = api_key
        register_secret(api_key)
        self.generation = 0

    @property
    def api_key(self) -> str:
        return self._api_key

    def replace(self, api_key: str) -> None:
        register_secret(api_key)
        self._api_key = api_key
        self.generation += 1

    def __repr__(self) -> str:
        return f"Credentials(generation={self.generation})"


class TransportError(Exception):
    """The request did not produce an HTTP response we may use."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(f"{kind}: {message}")


@dataclass(slots=True)
class Response:
    status: int
    headers: Headers
    body: bytes

    def retry_after(self) -> float | None:
        value = self.headers.get("Retry-After", "").strip()
        return float(value) if value.isdigit() else None


def make_ssl_context(cafile: str | None = None) -> ssl.SSLContext:
    """TLS ≥ 1.2 with normal chain and host-name validation."""
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


class CentralClient:
    """Requests to Central Command through one pinned keep-alive connection pool."""

    def __init__(self, base_url: str, credentials: Credentials, *, identity: Ed25519Key,
                 pins: PinStore | None, ssl_context: ssl.SSLContext | None = None,
                 ipv6: bool = False, breaker: Breaker | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.origin = Origin.parse(self.base_url)
        self.credentials = credentials
        self.identity = identity
        self.pins = pins
        # Made at the first TLS connection: loading the system's CA bundle is a few tens of ms
        # of the start, and a plain-HTTP endpoint (the local Central Command) never needs it.
        self._ssl_context = ssl_context
        self.family = 0 if ipv6 else socket.AF_INET
        self.breaker = breaker or Breaker()
        self.user_agent = f"OsirisCare-Appliance/{__version__}"
        self._verify = pin_verifier(pins) if pins is not None else None
        self.pool = Pool(self._open, max_idle=MAX_IDLE, keepalive_s=KEEPALIVE_S)
        self.last_error_kind: str | None = None

    @property
    def ssl_context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = make_ssl_context()
        return self._ssl_context

    async def _open(self) -> Connection:
        return await connect(self.origin, ssl_context=self.ssl_context if self.origin.tls else None,
                             family=self.family,
                             connect_timeout=CONNECT_TIMEOUT_S, tls_timeout=TLS_HANDSHAKE_S,
                             verify=self._verify)

    async def close(self) -> None:
        self.pool.close()

    async def request(self, method: str, path: str, body: bytes | memoryview | None,
                      endpoint: Endpoint, *, auth: bool = True, sign: bool = False,
                      headers: dict[str, str] | None = None) -> Response:
        """Send one request; raises :class:`TransportError` for anything but an HTTP response."""
        if endpoint.secondary and not self.breaker.allow():
            raise TransportError("breaker_open", "Central Command breaker is open")
        hdrs = {"Host": self.origin.authority, "User-Agent": self.user_agent,
                "Accept-Encoding": "gzip"}
        if body is not None:
            hdrs["Content-Type"] = "application/json"
        if auth:
            hdrs["Authorization"] = f"Bearer {self.credentials.api_key}"
        if sign:
            hdrs.update(sign_request(self.identity, method, path, b"" if body is None else body))
        if headers:
            hdrs.update(headers)
        if body is None and method in _BODY_METHODS:
            body = b""
        try:
            async with asyncio.timeout(endpoint.deadline):
                reply = await self.pool.exchange(method, self.origin.prefix + path,
                                                 list(hdrs.items()), body, endpoint.cap)
        except HttpError as exc:
            self.last_error_kind = exc.kind
            raise TransportError(exc.kind, f"{endpoint.name}: {exc.message}") from None
        except TimeoutError:
            self.last_error_kind = "timeout"
            raise TransportError("timeout", f"{endpoint.name} exceeded its {endpoint.deadline:.0f}s "
                                 "deadline") from None
        except PinMismatch as exc:
            self.last_error_kind = "pin"
            raise TransportError("pin", exc.reason) from None
        except OSError as exc:
            self.last_error_kind = "connect"
            raise TransportError("connect", exc.strerror or type(exc).__name__) from None
        return Response(reply.status, reply.headers, reply.body)


def retry_after_of(headers: Any) -> float | None:
    value = str(headers.get("Retry-After", "")).strip() if headers is not None else ""
    return float(value) if value.isdigit() else None
