"""Local executor (exec.md §4): the appliance itself, argument lists only, own process group."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import time
from pathlib import Path
from typing import Any

from agent.exec.capture import StreamCapture
from agent.exec.common import Deadline, Limiter, Outcome, build_result, log_end, log_start
from agent.exec.preamble import encode_params, sh_preamble
from agent.exec.types import ErrorKind, ExecError, ExecRequest, ExecResult, Privilege, Stage, Target
from agent.state.atomic import ensure_dir

_READ = 65536
TERM_GRACE_S = 5.0


class LocalExecutorUnavailable(RuntimeError):
    """Start-up error of the local executor only (no bash on PATH)."""


class LocalExecutor:
    """Runs scripts on the appliance as ``<bash> --noprofile --norc <file>``.

    ``runtime_dir`` is the service's RuntimeDirectory (private upload directory and working
    directory). ``path`` is the ``PATH`` the children get (default: this process's ``PATH``).
    """

    def __init__(
        self, runtime_dir: str | os.PathLike[str], *, max_concurrency: int = 4, path: str | None = None
    ) -> None:
        self.runtime_dir = Path(runtime_dir)
        self.path = path if path is not None else os.environ.get("PATH", "/usr/bin:/bin")
        bash = shutil.which("bash", path=self.path)
        if bash is None:
            raise LocalExecutorUnavailable("bash not found on PATH")
        self.bash = os.path.abspath(bash)
        self._limiter = Limiter(max_concurrency, max_concurrency)
        self._procs: set[asyncio.subprocess.Process] = set()

    def _env(self, request: ExecRequest) -> dict[str, str]:
        env = {
            "PATH": self.path,
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "HOME": str(self.runtime_dir),
            "TZ": "UTC",
        }
        env.update(encode_params(request.params))
        return env

    async def run(self, target: Target, credential: Any, request: ExecRequest) -> ExecResult:
        del credential  # the appliance needs none
        started_wall, started_mono = time.time(), time.monotonic()
        deadline = Deadline(request.deadline_s)
        log_start(target, None, request)
        out = StreamCapture(request.stdout_cap, request.on_line)
        err = StreamCapture(request.stderr_cap)
        outcome = Outcome(out, err)
        if request.privilege is Privilege.ROOT:
            outcome.error = ExecError(
                ErrorKind.PRIVILEGE_FAILED,
                Stage.SUDO,
                "local root work goes through the privileged helper",
                retryable=False,
            )
        else:
            env = self._env(request)  # validates params (ValueError is a programming error)
            try:
                async with asyncio.timeout(deadline.remaining()):
                    async with self._limiter.slot("local"):
                        await self._run_once(request, env, deadline, outcome)
            except TimeoutError:
                if outcome.error is None:
                    outcome.error = ExecError(
                        ErrorKind.COMMAND_TIMEOUT, Stage.RUN, "deadline expired", started=True
                    )
        result = build_result(target, None, request, outcome, 1, started_wall, started_mono)
        log_end(result, request)
        return result

    async def _run_once(
        self, request: ExecRequest, env: dict[str, str], deadline: Deadline, outcome: Outcome
    ) -> None:
        work = ensure_dir(self.runtime_dir / "exec", 0o700)
        private = work / f"run-{secrets.token_hex(8)}"
        os.mkdir(private, 0o700)
        script_file = private / "script.sh"
        try:
            fd = os.open(script_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write((sh_preamble(request.params, remote_deadline_s=None) + request.script).encode())
            proc = await asyncio.create_subprocess_exec(
                self.bash,
                "--noprofile",
                "--norc",
                str(script_file),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=str(self.runtime_dir),
                env=env,
                start_new_session=True,
                close_fds=True,
            )
            self._procs.add(proc)
            try:
                await self._collect(proc, outcome, deadline)
            finally:
                self._procs.discard(proc)
                await _terminate_group(proc)
        finally:
            shutil.rmtree(private, ignore_errors=True)

    async def _collect(self, proc: asyncio.subprocess.Process, outcome: Outcome, deadline: Deadline) -> None:
        assert proc.stdout is not None and proc.stderr is not None
        flood = asyncio.Event()

        async def pump(stream: asyncio.StreamReader, cap: StreamCapture) -> None:
            while True:
                data = await stream.read(_READ)
                if not data:
                    return
                if cap.feed(data):
                    flood.set()  # keep draining until the group is killed, so the pipes close

        pumps = asyncio.gather(pump(proc.stdout, outcome.stdout), pump(proc.stderr, outcome.stderr))
        flood_wait = asyncio.ensure_future(flood.wait())
        waiter = asyncio.ensure_future(_exited(proc))
        try:
            await asyncio.wait({waiter, flood_wait}, return_when=asyncio.FIRST_COMPLETED)
            if flood.is_set():
                await _terminate_group(proc)
                outcome.error = ExecError(
                    ErrorKind.OUTPUT_TRUNCATED,
                    Stage.RUN,
                    "output exceeded 4x the cap; command terminated",
                    started=True,
                )
                return
            # The main child exited: nothing of its group may outlive it (background grandchildren
            # would otherwise hold the pipes open).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            async with asyncio.timeout(max(0.1, deadline.cap(TERM_GRACE_S))):
                await pumps
                outcome.exit_code = await proc.wait()
        except asyncio.CancelledError:
            await _terminate_group(proc)
            raise
        finally:
            flood_wait.cancel()
            waiter.cancel()
            if not pumps.done():
                pumps.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pumps

    async def close(self) -> None:
        for proc in list(self._procs):
            await _terminate_group(proc)


async def _exited(proc: asyncio.subprocess.Process) -> None:
    """Return when the child itself has exited, even if a grandchild still holds its pipes
    (``Process.wait()`` also waits for the pipes to close). Uses a pidfd; does not reap."""
    try:
        fd = os.pidfd_open(proc.pid)
    except ProcessLookupError:
        return  # it already exited and the loop's child watcher reaped it
    except (AttributeError, OSError):
        # No pidfd: ``returncode`` is set when the child exits (not when the pipes close).
        while proc.returncode is None:  # noqa: ASYNC110  # no event exists for returncode
            await asyncio.sleep(0.05)
        return
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    try:
        def _ready() -> None:
            if not done.done():
                done.set_result(None)

        loop.add_reader(fd, _ready)
        try:
            await done
        finally:
            loop.remove_reader(fd)
    finally:
        os.close(fd)


async def _terminate_group(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM to the child's process group, SIGKILL after 5 s; always reap the child."""
    pgid = proc.pid  # start_new_session: the child leads its own group
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            async with asyncio.timeout(TERM_GRACE_S):
                await asyncio.shield(proc.wait())
        except TimeoutError:
            pass
    # Leftover members of the group (background grandchildren) are killed outright.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    # wait() also waits for the pipes to close, so the transport is finished when this returns.
    async with asyncio.timeout(TERM_GRACE_S):
        await asyncio.shield(proc.wait())
