"""The Uplink: the one way out to Central Command (central-api.md §1–§4, phi.md §1).

Every request leaves through :meth:`Uplink.send`, which does, in this order and for every endpoint:

1. **scrub** the typed payload (:func:`agent.phi.egress.egress`: PHI, the secret-key rule, known
   secret values), fail closed. Verbatim (signed) fields are only checked: a payload whose signed
   bytes the scrubber would change is refused, never rewritten;
2. **encode** it (compact JSON into a pooled buffer; gzip where the route says so);
3. **authenticate** (Bearer API key, read at send time; sigauth headers where the route carries
   them);
4. **send** with the route's deadline and response-size cap, through the one pinned TLS client.

A pre-encoded body (a queued file) is first decoded into the route's request Struct, so it is
scrubbed like any other payload; a body that does not decode is refused the same way (it is never
sent as it is). Refusals raise :class:`UplinkRefused` (an :class:`~agent.phi.egress.EgressError`):
the caller keeps the item queued, and its drainer dead-letters it after a bounded number of tries.
Transport trouble raises :class:`~agent.transport.TransportError`; any HTTP status comes back as a
:class:`Reply` for the caller to classify.

The HTTP client is private to this package (an import-linter contract in CI says so).
"""

from __future__ import annotations

import gzip
import os
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from agent.config import Config
from agent.crypto.keys import Ed25519Key
from agent.log import get_logger
from agent.phi.egress import EgressError, egress
from agent.protocol.bufpool import POOL
from agent.transport import CentralClient, Credentials, PinStore, TransportError
from agent.transport.client import retry_after_of
from agent.transport.policy import Breaker
from agent.uplink.routes import Route

log = get_logger("uplink")

GZIP_LEVEL = 6

__all__ = ["Reply", "TransportError", "Uplink", "UplinkRefused"]


class UplinkRefused(EgressError):
    """The payload was not sent: it could not be decoded, scrubbed or encoded (fail closed)."""


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP answer from Central Command."""

    status: int
    body: bytes
    headers: Any = None

    def retry_after(self) -> float | None:
        return retry_after_of(self.headers)


#: ``post(path, body) -> (status, reply body)``: the shape the queue drainers send with.
Poster = Callable[[str, bytes], Awaitable[tuple[int, bytes]]]


class Uplink:
    """Owns the Central Command client; every component sends through one instance."""

    def __init__(self, base_url: str, credentials: Credentials, *, identity: Ed25519Key,
                 pins: PinStore | None, ssl_context: ssl.SSLContext | None = None,
                 ipv6: bool = False, breaker: Breaker | None = None) -> None:
        self._client = CentralClient(base_url, credentials, identity=identity, pins=pins,
                                     ssl_context=ssl_context, ipv6=ipv6, breaker=breaker)
        self.credentials = credentials
        self.pins = pins
        self.sent = 0
        self.refused = 0

    @classmethod
    def for_config(cls, config: Config, identity: Ed25519Key, *,
                   ssl_context: ssl.SSLContext | None = None) -> Uplink:
        """The Uplink to ``config``'s Central Command (TLS pins under the state directory for an
        ``https://`` endpoint; ``OSIRIS_DAEMON_IPV6=1`` allows IPv6, as for the Go daemon)."""
        https = config.api_endpoint.startswith("https://")
        pins = PinStore(Path(config.state_dir), config.tls_pins) if https else None
        return cls(config.api_endpoint, Credentials(config.api_key), identity=identity, pins=pins,
                   ssl_context=ssl_context, ipv6=os.environ.get("OSIRIS_DAEMON_IPV6") == "1")

    # --- read-only views for components ---------------------------------------------------

    @property
    def breaker(self) -> Breaker:
        """The Central Command breaker (components read its state; the checkin moves it)."""
        return self._client.breaker

    @property
    def breaker_state(self) -> str:
        return self._client.breaker.state

    @property
    def last_error_kind(self) -> str | None:
        return self._client.last_error_kind

    @property
    def base_url(self) -> str:
        return self._client.base_url

    # --- sending ----------------------------------------------------------------------------

    async def send(self, route: Route, payload: Any = None, *, path: str | None = None,
                   kind: str | None = None) -> Reply:
        """Scrub, encode, authenticate and send ``payload`` (a msgspec Struct of the route's
        request type, or None for a body-less route) to ``path`` (default: the route's)."""
        what = kind or route.name
        if route.request is None:
            if payload is not None:
                raise UplinkRefused(what, f"the {route.name} endpoint takes no body")
            return await self._send(route, path, None)
        if not isinstance(payload, route.request):
            raise UplinkRefused(what, f"the {route.name} endpoint takes a "
                                f"{route.request.__name__}, not a {type(payload).__name__}")
        try:
            clean = egress(payload, kind=what)
        except EgressError:
            self.refused += 1
            raise
        with POOL.encode(clean) as body:
            data: bytes | memoryview = body
            if route.gzip:
                data = gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
            return await self._send(route, path, data)

    async def send_encoded(self, route: Route, body: bytes, *, path: str | None = None,
                           kind: str | None = None) -> Reply:
        """A pre-encoded (queued) body: decoded into the route's request Struct, then sent as
        :meth:`send` sends any payload. A body that does not decode is refused, never sent."""
        what = kind or route.name
        if route.request is None:
            raise UplinkRefused(what, f"the {route.name} endpoint takes no body")
        try:
            payload = msgspec.json.decode(body, type=route.request)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self.refused += 1
            log.error("uplink.undecodable", "a queued body is not a valid request for its "
                      "endpoint; not sent", kind=what, error=str(exc)[:200])
            raise UplinkRefused(what, f"the queued {what} body is not a {route.request.__name__}"
                                ) from None
        return await self.send(route, payload, path=path, kind=what)

    def poster(self, route: Route, *, kind: str | None = None) -> Poster:
        """``post(path, body)`` for a queue drainer: :meth:`send_encoded` on ``route``."""

        async def post(path: str, body: bytes) -> tuple[int, bytes]:
            reply = await self.send_encoded(route, body, path=path, kind=kind)
            return reply.status, reply.body

        return post

    async def _send(self, route: Route, path: str | None,
                    body: bytes | memoryview | None) -> Reply:
        headers = {"Content-Encoding": "gzip"} if route.gzip else None
        resp = await self._client.request(route.method, path or route.path, body, route.endpoint,
                                          auth=route.auth, sign=route.sign, headers=headers)
        self.sent += 1
        return Reply(resp.status, resp.body, resp.headers)

    async def close(self) -> None:
        await self._client.close()

    def status(self) -> dict[str, Any]:
        return {"sent": self.sent, "refused": self.refused, "breaker": self.breaker_state,
                "last_error_kind": self.last_error_kind}
