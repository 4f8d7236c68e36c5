"""Shared executor machinery: concurrency limits, deadlines, retries, result and log helpers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from agent.backoff import Backoff
from agent.exec.capture import StreamCapture
from agent.exec.types import ErrorKind, ExecError, ExecRequest, ExecResult, Stage, Target
from agent.log import get_logger

log = get_logger("exec")

IDLE_SEMAPHORE_S = 600.0
#: The connect retry (exec.md §1.5): ``min(10 s, 2 s × 2^n)`` with full jitter.
RETRY_BACKOFF = Backoff(2.0, 10.0, jitter="full")


class Deadline:
    """An absolute monotonic deadline for one request."""

    __slots__ = ("at",)

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.at

    def cap(self, seconds: float) -> float:
        return max(0.0, min(seconds, self.remaining()))


class Limiter:
    """Global and per-host ``asyncio.Semaphore``s, taken global → per-host (§1.6).

    Per-host semaphores are created lazily and dropped after 10 minutes idle. Waiting counts
    against the request's deadline (the caller wraps acquisition in its deadline).
    """

    def __init__(self, total: int, per_host: int) -> None:
        self.total = total
        self.per_host = per_host
        self._global = asyncio.Semaphore(total)
        self._hosts: dict[str, tuple[asyncio.Semaphore, list[float]]] = {}  # sem, [last_used, users]

    def _sweep(self, now: float) -> None:
        stale = [
            h for h, (_s, meta) in self._hosts.items() if meta[1] == 0 and now - meta[0] > IDLE_SEMAPHORE_S
        ]
        for h in stale:
            del self._hosts[h]

    @asynccontextmanager
    async def slot(self, host: str, wait_s: float | None = None) -> AsyncIterator[None]:
        """Hold a global and a per-host slot; TimeoutError if they are not free within ``wait_s``."""
        now = time.monotonic()
        self._sweep(now)
        entry = self._hosts.get(host)
        if entry is None:
            entry = (asyncio.Semaphore(self.per_host), [now, 0])
            self._hosts[host] = entry
        sem, meta = entry
        meta[1] += 1
        try:
            async with asyncio.timeout(wait_s):
                await self._global.acquire()
            try:
                async with asyncio.timeout(wait_s):
                    await sem.acquire()
                try:
                    yield
                finally:
                    sem.release()
            finally:
                self._global.release()
        finally:
            meta[1] -= 1
            meta[0] = time.monotonic()

    @property
    def host_count(self) -> int:
        return len(self._hosts)


def backoff_s(attempt: int) -> float:
    """Full-jitter backoff before retry ``attempt`` (0-based): U(0, min(10, 2 × 2^n))."""
    return RETRY_BACKOFF.delay(attempt + 1)


def may_retry(err: ExecError, request: ExecRequest) -> bool:
    if err.kind in (
        ErrorKind.AUTH_FAILED,
        ErrorKind.HOST_KEY_MISMATCH,
        ErrorKind.TLS_PIN_MISMATCH,
        ErrorKind.PRIVILEGE_FAILED,
        ErrorKind.REMOTE_NONZERO_EXIT,
        ErrorKind.COMMAND_TIMEOUT,
        ErrorKind.OUTPUT_TRUNCATED,
        ErrorKind.NO_CREDENTIALS,
        ErrorKind.CANCELLED,
    ):
        return False
    if err.started:
        return request.idempotent and err.kind in (ErrorKind.CONNECTION_LOST, ErrorKind.PROTOCOL_ERROR)
    return err.retryable


@dataclass(slots=True)
class Outcome:
    """What one attempt produced (the executor turns it into an :class:`ExecResult`)."""

    stdout: StreamCapture
    stderr: StreamCapture
    exit_code: int | None = None
    error: ExecError | None = None
    remote_may_be_running: bool = False


def build_result(
    target: Target,
    port: int | None,
    request: ExecRequest,
    outcome: Outcome,
    attempts: int,
    started_wall: float,
    started_mono: float,
    stderr_text: str | None = None,
) -> ExecResult:
    err = outcome.error
    if err is None and (outcome.stdout.flooded or outcome.stderr.flooded):
        err = ExecError(
            ErrorKind.OUTPUT_TRUNCATED,
            Stage.RUN,
            "output exceeded 4x the cap; command terminated",
            started=True,
        )
    if err is None and outcome.exit_code not in (None, 0):
        err = ExecError(
            ErrorKind.REMOTE_NONZERO_EXIT, Stage.RUN, f"exit status {outcome.exit_code}", started=True
        )
    if err is None and outcome.exit_code is None:
        err = ExecError(ErrorKind.CONNECTION_LOST, Stage.RUN, "no exit status received", started=True)
    outcome.stdout.finish()
    outcome.stderr.finish()
    return ExecResult(
        transport=target.transport,
        host=target.host,
        port=port,
        exit_code=outcome.exit_code,
        stdout=outcome.stdout.text(),
        stderr=outcome.stderr.text() if stderr_text is None else stderr_text,
        stdout_truncated=outcome.stdout.truncated,
        stderr_truncated=outcome.stderr.truncated,
        stdout_bytes=outcome.stdout.total,
        stderr_bytes=outcome.stderr.total,
        error=err,
        attempts=attempts,
        duration_s=time.monotonic() - started_mono,
        started_at=started_wall,
        remote_may_be_running=outcome.remote_may_be_running,
    )


def log_start(target: Target, port: int | None, request: ExecRequest) -> None:
    log.info(
        "exec.start",
        "execution started",
        transport=target.transport.value,
        host=target.host,
        port=port,
        purpose=request.purpose,
        script_sha256=request.script_sha256,
        script_len=len(request.script.encode("utf-8")),
        privilege=request.privilege.value,
    )


def log_end(result: ExecResult, request: ExecRequest) -> None:
    err = result.error
    log.info(
        "exec.end",
        "execution finished",
        transport=result.transport.value,
        host=result.host,
        port=result.port,
        purpose=request.purpose,
        duration_ms=round(result.duration_s * 1000),
        exit_code=result.exit_code,
        error_kind=err.kind.value if err else None,
        error_stage=err.stage.value if err else None,
        stdout_bytes=result.stdout_bytes,
        stderr_bytes=result.stderr_bytes,
        stdout_truncated=result.stdout_truncated,
        stderr_truncated=result.stderr_truncated,
        attempts=result.attempts,
        remote_may_be_running=result.remote_may_be_running,
    )
