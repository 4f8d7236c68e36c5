"""WinRM executor: PowerShell over WS-Management over HTTP/1.1 (:mod:`agent.http1`) (exec.md §3).

A new shell per execution, always deleted. Short scripts go inline as ``-EncodedCommand``
(UTF-16LE base64); long ones run a fixed bootstrap that reads the base64 UTF-8 script from stdin
(sent with ``Send`` in chunks of at most 64 KiB), checks its SHA-256 and runs it as a script block.
The client enforces the deadline; on expiry or cancellation it signals terminate, deletes the shell
and closes the connection.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import re
import secrets
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from agent.exec import wsman
from agent.exec.capture import StreamCapture
from agent.exec.common import (
    Deadline,
    Limiter,
    Outcome,
    backoff_s,
    build_result,
    log,
    log_end,
    log_start,
    may_retry,
)
from agent.exec.preamble import encode_params, ps_preamble
from agent.exec.types import ErrorKind, ExecError, ExecRequest, ExecResult, Stage, Target, WinrmCredential
from agent.exec.winrm_transport import TlsPinMismatch, WinrmChannel, WinrmPins, pin_key
from agent.http1 import HttpError

DEFAULT_CONNECT_TIMEOUT_S = 10.0
PROBE_TIMEOUT_S = 3.0
CHOICE_TTL_S = 600.0
INLINE_MAX = 8000
CHUNK_B64 = 64 * 1024
MAX_OPERATION_TIMEOUT_S = 20
CLEANUP_BUDGET_S = 5.0
EXIT_HASH = 252

POWERSHELL = "powershell.exe"
PS_ARGS = ["-NoLogo", "-NoProfile", "-NonInteractive", "-EncodedCommand"]

# Fixed bootstrap for long scripts; only the payload's SHA-256 is substituted.
BOOTSTRAP = """# MSP-BOOTSTRAP v1
$ErrorActionPreference = 'Stop'
$d = [Console]::In.ReadToEnd()
$b = [Convert]::FromBase64String(($d -replace '\\s', ''))
$h = -join ([Security.Cryptography.SHA256]::Create().ComputeHash($b) | ForEach-Object { $_.ToString('x2') })
if ($h -ne '{sha}') { [Console]::Error.WriteLine('MSP_HASH_MISMATCH'); exit 252 }
& ([ScriptBlock]::Create([Text.Encoding]::UTF8.GetString($b)))
exit $LASTEXITCODE
"""


# The compatibility fallback (exec.md §3.6, ``winrm_script_transfer: tempfile``): the payload is
# written in chunks by PowerShell (never ``cmd echo``) to a randomly named file in the account's
# temp directory, then a bootstrap checks its SHA-256, runs it and deletes it in ``finally``.
TEMP_CHUNK = """# MSP-CHUNK v1
$ErrorActionPreference = 'Stop'
$p = Join-Path ([IO.Path]::GetTempPath()) '{name}'
[IO.File]::{op}($p, '{data}')
exit 0
"""
TEMP_BOOTSTRAP = r"""# MSP-BOOTSTRAP-FILE v1
$ErrorActionPreference = 'Stop'
$p = Join-Path ([IO.Path]::GetTempPath()) '{name}'
try {
    $b = [Convert]::FromBase64String(([IO.File]::ReadAllText($p) -replace '\s', ''))
    $s = [Security.Cryptography.SHA256]::Create()
    $h = -join ($s.ComputeHash($b) | ForEach-Object { $_.ToString('x2') })
    if ($h -ne '{sha}') { [Console]::Error.WriteLine('MSP_HASH_MISMATCH'); exit 252 }
    & ([ScriptBlock]::Create([Text.Encoding]::UTF8.GetString($b)))
    exit $LASTEXITCODE
} finally {
    Remove-Item -LiteralPath $p -Force -ErrorAction SilentlyContinue
}
"""
TEMP_REMOVE = """# MSP-CHUNK-CLEANUP v1
Remove-Item -LiteralPath (Join-Path ([IO.Path]::GetTempPath()) '{name}') -Force -ErrorAction SilentlyContinue
exit 0
"""
#: Base64 characters per chunk command: its encoded command stays far below INLINE_MAX.
TEMP_CHUNK_CHARS = 2600
SCRIPT_TRANSFERS = ("stdin", "tempfile")


def encode_ps(script: str) -> str:
    return base64.b64encode(script.encode("utf-16-le")).decode("ascii")


@dataclass(frozen=True)
class TempfilePlan:
    """The commands of one tempfile delivery: chunk writers, the bootstrap, the cleanup."""

    name: str
    chunks: list[list[str]]
    run: list[str]
    cleanup: list[str]


def plan_tempfile(full_script: str, name: str | None = None) -> TempfilePlan:
    """The tempfile fallback's commands for a script too long to go inline (exec.md §3.6)."""
    raw = full_script.encode("utf-8")
    payload = base64.b64encode(raw).decode("ascii")
    fname = name or f"msp-{secrets.token_hex(12)}.b64"
    if not re.fullmatch(r"msp-[0-9a-f]{24}\.b64", fname):
        raise ValueError("temp file names are msp-<24 hex>.b64")
    chunks = []
    for i in range(0, len(payload), TEMP_CHUNK_CHARS):
        op = "WriteAllText" if i == 0 else "AppendAllText"
        text = TEMP_CHUNK.replace("{name}", fname).replace("{op}", op)
        chunks.append([*PS_ARGS, encode_ps(text.replace("{data}", payload[i:i + TEMP_CHUNK_CHARS]))])
    boot = TEMP_BOOTSTRAP.replace("{name}", fname).replace("{sha}", hashlib.sha256(raw).hexdigest())
    return TempfilePlan(fname, chunks, [*PS_ARGS, encode_ps(boot)],
                        [*PS_ARGS, encode_ps(TEMP_REMOVE.replace("{name}", fname))])


def plan_delivery(full_script: str) -> tuple[list[str], bytes | None]:
    """(powershell arguments, stdin payload or None) for the script (exec.md §3.6)."""
    inline = encode_ps(full_script)
    if len(inline) <= INLINE_MAX:
        return [*PS_ARGS, inline], None
    raw = full_script.encode("utf-8")
    boot = BOOTSTRAP.replace("{sha}", hashlib.sha256(raw).hexdigest())
    return [*PS_ARGS, encode_ps(boot)], base64.b64encode(raw)


_XESC = re.compile(r"_x([0-9A-Fa-f]{4})_")


def decode_clixml(text: str) -> str:
    """PowerShell CLIXML on stderr → the error strings (``_xHHHH_`` decoded); progress dropped."""
    if not text.startswith("#< CLIXML"):
        return text
    body = text[len("#< CLIXML") :].strip()
    out: list[str] = []
    for doc in re.findall(r"<Objs\b.*?</Objs>", body, flags=re.S):
        try:
            root = wsman.parse(doc.encode("utf-8"))
        except wsman.WsmanParseError:
            return text
        for el in root.iter():
            if el.tag.endswith("}S") and el.get("S") == "Error" and el.text:
                out.append(_XESC.sub(lambda m: chr(int(m.group(1), 16)), el.text))
    return "".join(out)


def _fault_error(fault: wsman.Fault, stage: Stage, started: bool) -> ExecError:
    text = (fault.subcode + " " + fault.reason).lower()
    if fault.wsman_code == wsman.ACCESS_DENIED or "accessdenied" in text or "access is denied" in text:
        return ExecError(
            ErrorKind.PRIVILEGE_FAILED, Stage.SHELL, "access denied creating the shell", retryable=False
        )
    if "quota" in text:
        return ExecError(ErrorKind.PROTOCOL_ERROR, stage, "shell quota exceeded", retryable=not started)
    return ExecError(
        ErrorKind.PROTOCOL_ERROR, stage, f"WS-Man fault {fault.wsman_code or fault.subcode}", started=started
    )


class WinrmExecutor:
    """Runs PowerShell on Windows targets. One instance per agent; ``close()`` on shutdown."""

    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        *,
        per_host_concurrency: int = 2,
        max_concurrency: int = 6,
        http_port: int = 5985,
        https_port: int = 5986,
        script_transfer: str = "stdin",
        pins: WinrmPins | None = None,
    ) -> None:
        if script_transfer not in SCRIPT_TRANSFERS:
            raise ValueError(f"winrm_script_transfer must be one of {SCRIPT_TRANSFERS}")
        self.script_transfer = script_transfer
        self.pins = pins or WinrmPins(os.path.join(os.fspath(state_dir), "winrm_pins.json"))
        self.http_port = http_port
        self.https_port = https_port
        self._limiter = Limiter(max_concurrency, per_host_concurrency)
        self._choice: dict[str, tuple[bool, float]] = {}  # host -> (https, chosen at)

    @classmethod
    def from_config(cls, cfg: Any) -> WinrmExecutor:
        return cls(
            cfg.state_dir,
            per_host_concurrency=cfg.winrm_per_host_concurrency,
            max_concurrency=cfg.winrm_max_concurrency,
            script_transfer=cfg.winrm_script_transfer,
        )

    async def close(self) -> None:
        return None  # channels are per operation and closed by it

    async def clear_pin(self, host: str, port: int | None = None) -> bool:
        return await self.pins.clear(pin_key(host, port or self.https_port))

    async def _select(self, target: Target, cred: WinrmCredential, deadline: Deadline) -> tuple[int, bool]:
        if target.port is not None:
            return target.port, cred.use_ssl or target.port == self.https_port
        if cred.use_ssl:
            return self.https_port, True
        cached = self._choice.get(target.host)
        if cached is not None and time.monotonic() - cached[1] < CHOICE_TTL_S:
            return (self.https_port, True) if cached[0] else (self.http_port, False)
        https = False
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(deadline.cap(PROBE_TIMEOUT_S)):
                _, w = await asyncio.open_connection(target.host, self.https_port)
                w.close()
                https = True
        self._choice[target.host] = (https, time.monotonic())
        return (self.https_port, True) if https else (self.http_port, False)

    async def run(self, target: Target, credential: WinrmCredential, request: ExecRequest) -> ExecResult:
        started_wall, started_mono = time.time(), time.monotonic()
        deadline = Deadline(request.deadline_s)
        encode_params(request.params)
        port, https = await self._select(target, credential, deadline)
        log_start(target, port, request)
        attempts = 0
        while True:
            attempts += 1
            outcome = Outcome(
                StreamCapture(request.stdout_cap, request.on_line), StreamCapture(request.stderr_cap)
            )
            await self._attempt(target.host, port, https, credential, request, deadline, outcome)
            err = outcome.error
            if err is not None and err.kind in (ErrorKind.UNREACHABLE, ErrorKind.CONNECT_TIMEOUT):
                self._choice.pop(target.host, None)
            if err is None or attempts >= 2 or not may_retry(err, request):
                break
            pause = backoff_s(attempts - 1)
            if pause >= deadline.remaining():
                break
            await asyncio.sleep(pause)
        outcome.stderr.finish()
        stderr_text = decode_clixml(outcome.stderr.text())
        result = build_result(
            target, port, request, outcome, attempts, started_wall, started_mono, stderr_text=stderr_text
        )
        log_end(result, request)
        return result

    async def _attempt(
        self,
        host: str,
        port: int,
        https: bool,
        cred: WinrmCredential,
        request: ExecRequest,
        deadline: Deadline,
        outcome: Outcome,
    ) -> None:
        connect_timeout = deadline.cap(request.connect_timeout_s or DEFAULT_CONNECT_TIMEOUT_S)
        try:
            async with self._limiter.slot(host, deadline.remaining()):
                channel = WinrmChannel(host, port, https, cred, self.pins, connect_timeout)
                try:
                    await self._operate(channel, request, deadline, outcome)
                finally:
                    await channel.close()
        except TimeoutError:
            if outcome.error is None:
                outcome.error = ExecError(
                    ErrorKind.CONNECT_TIMEOUT, Stage.CONNECT, "deadline expired before start"
                )
        except ExecError as exc:
            outcome.error = exc

    async def _operate(
        self, ch: WinrmChannel, request: ExecRequest, deadline: Deadline, outcome: Outcome
    ) -> None:
        to = ch.url
        state: dict[str, Any] = {"shell": None, "command": None, "started": False, "signalled": False}

        def op_timeout() -> int:
            return max(1, int(min(MAX_OPERATION_TIMEOUT_S, deadline.remaining())))

        async def call(
            action: str,
            body: str,
            stage: Stage,
            *,
            shell: str | None = None,
            options: dict[str, str] | None = None,
            read_extra: float = 10.0,
            op: int | None = None,
        ) -> ET.Element:
            op_s = op if op is not None else op_timeout()
            soap = wsman.envelope(
                action, body, to=to, operation_timeout_s=op_s, shell_id=shell, options=options
            )
            try:
                status, plain = await ch.call(soap, op_s + read_extra)
            except ExecError as exc:
                if exc.kind is ErrorKind.CONNECTION_LOST or exc.kind is ErrorKind.PROTOCOL_ERROR:
                    exc.started = state["started"]
                    exc.retryable = exc.retryable and not state["started"]
                raise
            except BaseException as exc:
                if isinstance(exc, asyncio.CancelledError):
                    raise
                raise _map_http_error(exc, stage, state["started"]) from None
            try:
                root = wsman.parse(plain)
            except wsman.WsmanParseError:
                raise ExecError(
                    ErrorKind.PROTOCOL_ERROR,
                    stage,
                    f"malformed response (HTTP {status})",
                    started=state["started"],
                ) from None
            fault = wsman.find_fault(root)
            if fault is not None:
                raise _WsmanFault(fault)
            if status != 200:
                raise ExecError(ErrorKind.PROTOCOL_ERROR, stage, f"HTTP {status}", started=state["started"])
            return root

        full = ps_preamble(request.params) + request.script
        args, stdin_payload = plan_delivery(full)
        temp: TempfilePlan | None = None
        if stdin_payload is not None and self.script_transfer == "tempfile":
            temp = plan_tempfile(full)
            args, stdin_payload = temp.run, None
        try:
            async with asyncio.timeout(deadline.remaining()):
                try:
                    root = await call(
                        wsman.A_CREATE, wsman.create_body(), Stage.SHELL, options=wsman.CREATE_OPTIONS
                    )
                except _WsmanFault as f:
                    raise _fault_error(f.fault, Stage.SHELL, False) from None
                state["shell"] = wsman.shell_id_of(root)
                if not state["shell"]:
                    raise ExecError(ErrorKind.PROTOCOL_ERROR, Stage.SHELL, "no ShellId in Create response")
                if temp is not None:
                    await self._upload_tempfile(call, state, temp)
                try:
                    root = await call(
                        wsman.A_COMMAND,
                        wsman.command_body(POWERSHELL, args),
                        Stage.SHELL,
                        shell=state["shell"],
                        options=wsman.COMMAND_OPTIONS,
                    )
                except _WsmanFault as f:
                    raise _fault_error(f.fault, Stage.SHELL, False) from None
                state["command"] = wsman.command_id_of(root)
                if not state["command"]:
                    raise ExecError(ErrorKind.PROTOCOL_ERROR, Stage.SHELL, "no CommandId in Command response")
                state["started"] = True
                if stdin_payload is not None:
                    chunks = [
                        stdin_payload[i : i + CHUNK_B64] for i in range(0, len(stdin_payload), CHUNK_B64)
                    ]
                    for i, chunk in enumerate(chunks):
                        try:
                            await call(
                                wsman.A_SEND,
                                wsman.send_body(state["command"], chunk, i == len(chunks) - 1),
                                Stage.TRANSFER,
                                shell=state["shell"],
                            )
                        except _WsmanFault as f:
                            raise _fault_error(f.fault, Stage.TRANSFER, True) from None
                await self._receive(call, state, outcome)
        except TimeoutError:
            outcome.error = ExecError(
                ErrorKind.COMMAND_TIMEOUT if state["started"] else ErrorKind.CONNECT_TIMEOUT,
                Stage.RUN if state["started"] else Stage.CONNECT,
                "deadline expired",
                started=state["started"],
            )
            await self._terminate(call, state, outcome)
        except asyncio.CancelledError:
            await self._terminate(call, state, outcome)
            raise
        except ExecError as exc:
            if exc.kind is ErrorKind.OUTPUT_TRUNCATED:
                await self._terminate(call, state, outcome)
            outcome.error = exc
        finally:
            if state["shell"]:
                if temp is not None and state.get("temp_partial"):
                    await self._quiet_command(call, state["shell"], temp.cleanup, budget=True)
                await self._delete_shell(call, state["shell"])

    async def _upload_tempfile(self, call: Any, state: dict[str, Any], temp: TempfilePlan) -> None:
        """Write the payload chunk by chunk (one command each, in this shell); a chunk that does
        not exit 0 stops the run (``protocol_error`` at ``transfer``), and the partial file is
        removed before the shell is deleted."""
        state["temp_partial"] = True
        for n, args in enumerate(temp.chunks):
            code = await self._quiet_command(call, state["shell"], args)
            if code != 0:
                raise ExecError(ErrorKind.PROTOCOL_ERROR, Stage.TRANSFER,
                                f"script upload chunk {n + 1}/{len(temp.chunks)} failed "
                                f"(exit {code})", started=False)
        state["temp_partial"] = False  # from here on the bootstrap deletes it in its finally

    async def _quiet_command(self, call: Any, shell: str, args: list[str], *,
                             budget: bool = False) -> int | None:
        """Run one helper command in ``shell`` to its end; its output is not kept. Returns its
        exit code (None when it did not finish, or failed when ``budget`` makes it best effort)."""

        async def run() -> int | None:
            try:
                root = await call(wsman.A_COMMAND, wsman.command_body(POWERSHELL, args),
                                  Stage.TRANSFER, shell=shell, options=wsman.COMMAND_OPTIONS)
                command = wsman.command_id_of(root)
                if not command:
                    raise ExecError(ErrorKind.PROTOCOL_ERROR, Stage.TRANSFER, "no CommandId")
                while True:
                    try:
                        root = await call(wsman.A_RECEIVE, wsman.receive_body(command),
                                          Stage.TRANSFER, shell=shell)
                    except _WsmanFault as f:
                        if f.fault.wsman_code == wsman.WSMAN_TIMED_OUT:
                            continue
                        raise
                    rec = wsman.parse_receive(root)
                    if rec.done:
                        return rec.exit_code
            except _WsmanFault as f:
                raise _fault_error(f.fault, Stage.TRANSFER, False) from None

        if not budget:
            return await run()
        try:
            async with asyncio.timeout(CLEANUP_BUDGET_S):
                return await run()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - cleanup never masks the execution's result
            kind = exc.kind.value if isinstance(exc, ExecError) else type(exc).__name__
            log.warning("exec.winrm_tempfile_cleanup_failed", "partial script file not removed",
                        shell=shell, error=kind)
            return None

    async def _delete_shell(self, call: Any, shell: str) -> None:
        """Best effort within its own budget (exec.md §3); a shell left behind is logged, since
        the host keeps it until its idle timeout."""
        try:
            async with asyncio.timeout(CLEANUP_BUDGET_S):
                await call(wsman.A_DELETE, "", Stage.SHELL, shell=shell, op=5, read_extra=0)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - cleanup never masks the execution's result
            kind = exc.kind.value if isinstance(exc, ExecError) else type(exc).__name__
            log.warning("exec.winrm_delete_failed", "shell not deleted", shell=shell, error=kind)

    async def _receive(self, call: Any, state: dict[str, Any], outcome: Outcome) -> None:
        while True:
            try:
                root = await call(
                    wsman.A_RECEIVE, wsman.receive_body(state["command"]), Stage.RUN, shell=state["shell"]
                )
            except _WsmanFault as f:
                if f.fault.wsman_code == wsman.WSMAN_TIMED_OUT:
                    continue  # no output yet: poll again
                raise _fault_error(f.fault, Stage.RUN, True) from None
            rec = wsman.parse_receive(root)
            for data in rec.stdout:
                outcome.stdout.feed(data)
            for data in rec.stderr:
                outcome.stderr.feed(data)
            if outcome.stdout.flooded or outcome.stderr.flooded:
                raise ExecError(
                    ErrorKind.OUTPUT_TRUNCATED,
                    Stage.RUN,
                    "output exceeded 4x the cap; command terminated",
                    started=True,
                )
            if rec.done:
                outcome.exit_code = rec.exit_code
                if rec.exit_code == EXIT_HASH and b"MSP_HASH_MISMATCH" in outcome.stderr.value():
                    raise ExecError(
                        ErrorKind.PROTOCOL_ERROR,
                        Stage.TRANSFER,
                        "script upload failed verification",
                        started=True,
                    )
                return

    async def _terminate(self, call: Any, state: dict[str, Any], outcome: Outcome) -> None:
        if not state["command"]:
            return
        ok = False
        with contextlib.suppress(BaseException):
            async with asyncio.timeout(CLEANUP_BUDGET_S):
                await call(
                    wsman.A_SIGNAL,
                    wsman.signal_body(state["command"]),
                    Stage.RUN,
                    shell=state["shell"],
                    op=5,
                    read_extra=0,
                )
                ok = True
        outcome.remote_may_be_running = not ok
        if not ok:
            log.warning(
                "exec.winrm_signal_failed", "terminate signal not confirmed", shell=str(state["shell"])
            )


class _WsmanFault(Exception):
    def __init__(self, fault: wsman.Fault) -> None:
        super().__init__(fault.reason)
        self.fault = fault


def _map_http_error(exc: BaseException, stage: Stage, started: bool) -> ExecError:
    if isinstance(exc, TlsPinMismatch):
        return ExecError(
            ErrorKind.TLS_PIN_MISMATCH, Stage.CONNECT, "certificate differs from the pin", retryable=False
        )
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, TlsPinMismatch):
        return ExecError(
            ErrorKind.TLS_PIN_MISMATCH, Stage.CONNECT, "certificate differs from the pin", retryable=False
        )
    if isinstance(exc, HttpError):
        return _map_http1_error(exc, stage, started)
    if isinstance(exc, TimeoutError):
        return ExecError(ErrorKind.CONNECTION_LOST, stage, "read timed out", started=started)
    if isinstance(exc, OSError):
        if started:
            return ExecError(
                ErrorKind.CONNECTION_LOST, stage, f"connection lost ({type(exc).__name__})", started=True
            )
        return ExecError(ErrorKind.UNREACHABLE, stage, f"connection failed ({type(exc).__name__})")
    raise exc


def _map_http1_error(exc: HttpError, stage: Stage, started: bool) -> ExecError:
    if exc.kind == "tls":
        return ExecError(ErrorKind.TLS_ERROR, Stage.CONNECT, "TLS handshake failed")
    if exc.kind == "dns":
        return ExecError(ErrorKind.UNREACHABLE, Stage.CONNECT, "name resolution failed")
    if exc.kind == "timeout":
        return ExecError(ErrorKind.CONNECT_TIMEOUT, Stage.CONNECT, "connect timed out", started=started)
    if exc.kind == "read_timeout":
        return ExecError(ErrorKind.CONNECTION_LOST, stage, "read timed out", started=started)
    if exc.kind == "connect":
        if started:
            return ExecError(ErrorKind.CONNECTION_LOST, stage, "reconnect failed", started=True)
        return ExecError(ErrorKind.UNREACHABLE, Stage.CONNECT, "connect failed")
    # server (closed early, malformed HTTP) or too_large
    if started:
        return ExecError(ErrorKind.CONNECTION_LOST, stage, f"connection lost ({exc.message})", started=True)
    return ExecError(ErrorKind.UNREACHABLE, stage, f"connection failed ({exc.message})")
