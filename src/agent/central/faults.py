"""Fault injection for the agent's tests: the next ``count`` requests to a path get a chosen status,
body, headers and/or delay (5xx, slow, oversized, malformed, ``Retry-After``)."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import threading
from collections import deque
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from agent.log import get_logger

log = get_logger("central")


@dataclass
class Fault:
    status: int | None
    body: bytes | None
    delay_s: float
    remaining: int
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


@dataclass(frozen=True)
class CapturedRequest:
    """A request as it arrived, before any parsing: for tests that check what left the agent."""

    method: str
    path_qs: str
    headers: tuple[tuple[str, str], ...]
    body: bytes  # gunzipped when the request said Content-Encoding: gzip

    def text(self) -> str:
        """Everything but the Authorization header, as text (path, headers, body)."""
        hdrs = "\n".join(f"{k}: {v}" for k, v in self.headers if k.lower() != "authorization")
        return f"{self.method} {self.path_qs}\n{hdrs}\n\n{self.body.decode('utf-8', 'replace')}"


class FaultInjector:
    """Per-path queues of faults; the first fault of a path applies until its count is used up."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: dict[str, deque[Fault]] = {}
        #: When a list, every request is appended to it as it arrived (tests).
        self.capture: list[CapturedRequest] | None = None

    def add(
        self,
        path: str,
        *,
        status: int | None = None,
        body: bytes | None = None,
        delay_s: float = 0,
        count: int = 1,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        if count < 1:
            raise ValueError("count must be >= 1")
        if status is None and body is not None:
            raise ValueError("a fault body needs a status")
        fault = Fault(status, body, float(delay_s), count, dict(headers or {}), content_type)
        with self._lock:
            self._faults.setdefault(path.split("?", 1)[0], deque()).append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self, path: str) -> int:
        """Requests still to be faulted on ``path``."""
        with self._lock:
            return sum(f.remaining for f in self._faults.get(path, ()))

    def take(self, path: str, raw_path: str) -> Fault | None:
        with self._lock:
            for key in (path, raw_path):
                queue = self._faults.get(key)
                if not queue:
                    continue
                fault = queue[0]
                fault.remaining -= 1
                if fault.remaining <= 0:
                    queue.popleft()
                    if not queue:
                        del self._faults[key]
                return fault
        return None

    def middleware(self) -> Middleware:
        injector = self

        @web.middleware
        async def fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
            if injector.capture is not None:
                raw = await request.read()  # cached: the handler reads the same bytes
                if request.headers.get("Content-Encoding", "").lower() == "gzip":
                    with contextlib.suppress(OSError, EOFError):  # kept as it came
                        raw = gzip.decompress(raw)
                injector.capture.append(CapturedRequest(
                    request.method, request.path_qs, tuple(request.headers.items()), raw))
            fault = injector.take(request.path, request.raw_path.split("?", 1)[0])
            if fault is None:
                return await handler(request)
            log.info(
                "central.fault",
                "injecting fault",
                path=request.path,
                status=fault.status,
                delay_s=fault.delay_s,
            )
            if fault.delay_s > 0:
                await asyncio.sleep(fault.delay_s)
            if fault.status is None:
                return await handler(request)
            body = fault.body if fault.body is not None else b""
            if any(k.lower() == "content-type" for k in fault.headers):
                return web.Response(status=fault.status, body=body, headers=fault.headers)
            return web.Response(
                status=fault.status, body=body, headers=fault.headers, content_type=fault.content_type
            )

        return fault_middleware
