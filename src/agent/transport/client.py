"""The HTTPS client for Central Command (central-api.md §1, §3, §4).

One keep-alive session, one pinned connection pool, every request with a total deadline and a
response-size cap, Bearer auth read from the shared :class:`Credentials` at send time, and
sigauth headers where asked. Transport problems raise :class:`TransportError` with a ``kind``
(``dns``, ``connect``, ``tls``, ``pin``, ``timeout``, ``too_large``, ``breaker_open``); any
HTTP status comes back as a :class:`Response` for the caller to classify.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy

from agent import __version__
from agent.crypto.keys import Ed25519Key
from agent.crypto.sigauth import sign_request
from agent.log import get_logger, register_secret
from agent.transport.connector import PinningConnector
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
    headers: CIMultiDictProxy[str]
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
    """Requests to Central Command through one pinned keep-alive session."""

    def __init__(self, base_url: str, credentials: Credentials, *, identity: Ed25519Key,
                 pins: PinStore | None, ssl_context: ssl.SSLContext | None = None,
                 ipv6: bool = False, breaker: Breaker | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.identity = identity
        self.pins = pins
        self.ssl_context = ssl_context or make_ssl_context()
        self.family = 0 if ipv6 else socket.AF_INET
        self.breaker = breaker or Breaker()
        self.user_agent = f"OsirisCare-Appliance/{__version__}"
        self._session: aiohttp.ClientSession | None = None
        self.last_error_kind: str | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = PinningConnector(
                self.pins, ssl=self.ssl_context, family=self.family, limit=MAX_IDLE * 2,
                limit_per_host=MAX_IDLE, keepalive_timeout=KEEPALIVE_S, enable_cleanup_closed=True,
            )
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=False, raise_for_status=False,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT_S),
                headers={"User-Agent": self.user_agent}, trust_env=False,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(self, method: str, path: str, body: bytes | memoryview | None,
                      endpoint: Endpoint, *, auth: bool = True, sign: bool = False,
                      headers: dict[str, str] | None = None) -> Response:
        """Send one request; raises :class:`TransportError`, never aiohttp's exceptions."""
        if endpoint.secondary and not self.breaker.allow():
            raise TransportError("breaker_open", "Central Command breaker is open")
        hdrs: dict[str, str] = {}
        payload = b"" if body is None else body
        if body is not None:
            hdrs["Content-Type"] = "application/json"
        if auth:
            hdrs["Authorization"] = f"Bearer {self.credentials.api_key}"
        if sign:
            hdrs.update(sign_request(self.identity, method, path, payload))
        if headers:
            hdrs.update(headers)
        try:
            async with asyncio.timeout(endpoint.deadline):
                return await self._send(method, path, payload, hdrs, endpoint)
        except TransportError as exc:
            self.last_error_kind = exc.kind
            raise
        except TimeoutError:
            self.last_error_kind = "timeout"
            raise TransportError("timeout", f"{endpoint.name} exceeded its {endpoint.deadline:.0f}s "
                                 "deadline") from None
        except PinMismatch as exc:
            self.last_error_kind = "pin"
            raise TransportError("pin", exc.reason) from None
        except aiohttp.ClientError as exc:
            kind = classify(exc)
            self.last_error_kind = kind
            raise TransportError(kind, _describe(exc)) from None
        except OSError as exc:
            self.last_error_kind = "connect"
            raise TransportError("connect", exc.strerror or type(exc).__name__) from None

    async def _send(self, method: str, path: str, payload: bytes | memoryview,
                    hdrs: dict[str, str], endpoint: Endpoint) -> Response:
        session = self._get_session()
        async with session.request(method, self.base_url + path, data=payload, headers=hdrs,
                                   allow_redirects=False) as resp:
            declared = resp.content_length
            if declared is not None and declared > endpoint.cap:
                resp.close()
                raise TransportError("too_large", f"{endpoint.name} response declared {declared} "
                                     f"bytes (cap {endpoint.cap})")
            chunks: list[bytes] = []
            size = 0
            async for chunk in resp.content.iter_chunked(64 * KiB):
                size += len(chunk)
                if size > endpoint.cap:
                    resp.close()
                    raise TransportError("too_large", f"{endpoint.name} response exceeded "
                                         f"{endpoint.cap} bytes")
                chunks.append(chunk)
            return Response(resp.status, resp.headers, b"".join(chunks))


def classify(exc: BaseException) -> str:
    """dns, tls, pin, connect or server for an aiohttp exception."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, PinMismatch):
            return "pin"
        if isinstance(cur, socket.gaierror) or type(cur).__name__ == "ClientConnectorDNSError":
            return "dns"
        if isinstance(cur, aiohttp.ClientConnectorCertificateError | aiohttp.ClientConnectorSSLError
                      | ssl.SSLError):
            return "tls"
        cur = cur.__cause__ or cur.__context__ or getattr(cur, "os_error", None)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connect"
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return "server"
    return "connect"


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]


def retry_after_of(headers: Any) -> float | None:
    value = str(headers.get("Retry-After", "")).strip() if headers is not None else ""
    return float(value) if value.isdigit() else None
