"""SSH executor on asyncssh (exec.md §2).

One connection per ``(host, port, username)`` is pooled (max age, idle limit, LRU bound, dial
deduplication, no lock across network I/O). Host keys are trusted on first use and enforced after.
Every execution uses one session and one input stream: the exec request is a constant launcher;
standard input carries a header line, the payload (preamble + script) and, only for sudo, the
password after the launcher has confirmed the upload. The password is never in argv, environment
or files; the script's own standard input is ``/dev/null``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import os
import shlex
import socket
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import asyncssh

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
from agent.exec.known_hosts import HostKey, KnownHosts
from agent.exec.preamble import encode_params, sh_preamble
from agent.exec.types import (
    ErrorKind,
    ExecError,
    ExecRequest,
    ExecResult,
    Privilege,
    SshCredential,
    Stage,
    Target,
)

DEFAULT_CONNECT_TIMEOUT_S = 15.0
LOGIN_TIMEOUT_S = 15.0
SESSION_OPEN_TIMEOUT_S = 5.0
IDLE_LIMIT_S = 120.0
KEEPALIVE_INTERVAL_S = 15.0
KEEPALIVE_COUNT_MAX = 3
CLEANUP_GRACE_S = 2.0

# Reserved launcher exit statuses.
EXIT_MKTEMP = 250
EXIT_HEADER = 251
EXIT_HASH = 252

MARK_UPLOAD = b"MSP_UPLOAD_OK"
MARK_SUDO = b"MSP_SUDO_OK"
MARK_HASH = b"MSP_HASH_MISMATCH"

# The launcher: constant text, identical for every host and script (exec.md §2.4). ``$1`` is the
# constant mode word ``none`` or ``sudo``. It reads the header line, copies exactly the announced
# number of bytes into a private directory, verifies the SHA-256, reports MSP_UPLOAD_OK on stderr
# (the client sends the sudo password only after that line), and runs the file with bash (or sh),
# standard input from /dev/null. Under sudo, launcher2 marks MSP_SUDO_OK before running the file.
LAUNCHER = r"""umask 077
d=$(mktemp -d "${TMPDIR:-/tmp}/msp.XXXXXXXXXX") || exit 250
trap 'rm -rf -- "$d"' EXIT
trap 'exit 143' HUP INT TERM
IFS=' ' read -r n h || exit 251
case $n in ''|*[!0-9]*) exit 251;; esac
head -c "$n" >"$d/s" || exit 251
[ "$(wc -c <"$d/s" | tr -d ' ')" = "$n" ] || exit 251
if command -v sha256sum >/dev/null 2>&1; then a=$(sha256sum <"$d/s")
elif command -v shasum >/dev/null 2>&1; then a=$(shasum -a 256 <"$d/s")
else a=$h; fi
a=${a%% *}
if [ "$a" != "$h" ]; then echo MSP_HASH_MISMATCH >&2; exit 252; fi
echo MSP_UPLOAD_OK >&2
if [ "$1" = sudo ]; then
sudo -S -k -p '' -- /bin/sh -c 'echo MSP_SUDO_OK >&2; MSP_DIR=$1; export MSP_DIR
if command -v bash >/dev/null 2>&1; then exec bash "$1/s" </dev/null; fi
exec sh "$1/s" </dev/null' msp "$d"
else
MSP_DIR=$d; export MSP_DIR
if command -v bash >/dev/null 2>&1; then bash "$d/s" </dev/null; else sh "$d/s" </dev/null; fi
fi
"""


def launcher_command(mode: str) -> str:
    """The exec request: ``/bin/sh -c '<launcher>' msp <mode>`` (constant text only)."""
    if mode not in ("none", "sudo"):
        raise ValueError(mode)
    return f"/bin/sh -c {shlex.quote(LAUNCHER)} msp {mode}"


PoolKey = tuple[str, int, str]


@dataclass(eq=False)
class _Entry:
    key: PoolKey
    conn: asyncssh.SSHClientConnection
    fingerprint: str
    created: float = field(default_factory=time.monotonic)
    last_used: float = field(default_factory=time.monotonic)
    in_flight: int = 0
    retired: bool = False


class _HostKeyClient(asyncssh.SSHClient):
    """Host-key policy: pinned keys are supplied as the trusted list; this callback is reached only
    for a key that is not in it. With no pin (first use) it records the key in memory and accepts;
    with a pin it refuses."""

    def __init__(self, pinned: list[HostKey]) -> None:
        self.pinned = pinned
        self.presented: HostKey | None = None

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        self.presented = (key.get_algorithm(), key.public_data)
        return not self.pinned


class SshPool:
    """Connections keyed by (host, port, username); no lock spans network I/O."""

    def __init__(self, size: int, max_age_s: float, idle_s: float = IDLE_LIMIT_S) -> None:
        self.size = size
        self.max_age_s = max_age_s
        self.idle_s = idle_s
        self._entries: OrderedDict[PoolKey, _Entry] = OrderedDict()
        self._dials: dict[PoolKey, asyncio.Future[_Entry]] = {}
        self.dials_made = 0
        self._sweep_at: asyncio.TimerHandle | None = None  # the idle close (armed on release)

    def __len__(self) -> int:
        return len(self._entries)

    def _usable(self, e: _Entry, now: float) -> bool:
        return (
            not e.retired
            and not e.conn.is_closed()
            and now - e.created < self.max_age_s
            and (e.in_flight > 0 or now - e.last_used < self.idle_s)
        )

    def retire(self, e: _Entry) -> None:
        if self._entries.get(e.key) is e:
            del self._entries[e.key]
        e.retired = True
        if e.in_flight == 0:
            e.conn.close()

    def sweep(self) -> None:
        now = time.monotonic()
        for e in list(self._entries.values()):
            if not self._usable(e, now):
                self.retire(e)

    def lookup(self, key: PoolKey, fingerprint: str) -> _Entry | None:
        self.sweep()
        e = self._entries.get(key)
        if e is None:
            return None
        if e.fingerprint != fingerprint:  # credential rotated: close the old connection
            self.retire(e)
            return None
        e.in_flight += 1
        e.last_used = time.monotonic()
        self._entries.move_to_end(key)
        return e

    async def dial(
        self,
        key: PoolKey,
        fingerprint: str,
        factory: Callable[[], asyncio.Future[asyncssh.SSHClientConnection]],
    ) -> _Entry:
        """Share one dial between concurrent requests for ``key``; failures are not cached."""
        fut = self._dials.get(key)
        if fut is None:
            fut = asyncio.ensure_future(self._do_dial(key, fingerprint, factory))
            self._dials[key] = fut

            def _done(f: asyncio.Future[_Entry], key: PoolKey = key) -> None:
                if self._dials.get(key) is f:
                    del self._dials[key]
                if not f.cancelled():
                    f.exception()  # mark retrieved; each waiter gets it via shield

            fut.add_done_callback(_done)
        entry = await asyncio.shield(fut)
        if entry.retired or entry.fingerprint != fingerprint:
            raise _Redial()
        entry.in_flight += 1
        entry.last_used = time.monotonic()
        return entry

    async def _do_dial(
        self,
        key: PoolKey,
        fingerprint: str,
        factory: Callable[[], asyncio.Future[asyncssh.SSHClientConnection]],
    ) -> _Entry:
        self.dials_made += 1
        conn = await factory()
        entry = _Entry(key, conn, fingerprint)
        old = self._entries.pop(key, None)
        if old is not None:
            self.retire(old)
        self._entries[key] = entry
        self._evict()
        return entry

    def _evict(self) -> None:
        while len(self._entries) > self.size:
            victim = next((e for e in self._entries.values() if e.in_flight == 0), None)
            if victim is None:
                return
            self.retire(victim)

    def release(self, e: _Entry, *, discard: bool = False) -> None:
        e.in_flight -= 1
        e.last_used = time.monotonic()
        if discard:
            self.retire(e)
        elif e.retired and e.in_flight == 0:
            e.conn.close()
        else:
            self._evict()
        self._arm_idle_close()

    def _arm_idle_close(self) -> None:
        """Connections idle for ``idle_s`` are closed then, not at the next lookup (which may
        be a scan round away): one timer while the pool holds connections, none otherwise."""
        if self._sweep_at is not None or not self._entries:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._sweep_at = loop.call_later(self.idle_s + 1.0, self._idle_close)

    def _idle_close(self) -> None:
        self._sweep_at = None
        self.sweep()
        self._arm_idle_close()

    def close_host(self, host: str, port: int | None = None) -> None:
        for e in list(self._entries.values()):
            if e.key[0] == host and (port is None or e.key[1] == port):
                self.retire(e)

    async def close(self) -> None:
        if self._sweep_at is not None:
            self._sweep_at.cancel()
            self._sweep_at = None
        conns = [e.conn for e in self._entries.values()]
        for e in list(self._entries.values()):
            e.retired = True
            e.conn.close()
        self._entries.clear()
        for c in conns:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await c.wait_closed()


class _Redial(Exception):
    """The shared dial produced an entry this request cannot use; dial again."""


class _StderrFilter:
    """Removes the launcher's marker lines from the start of stderr and records them."""

    def __init__(self, cap: StreamCapture, sudo: bool) -> None:
        self.cap = cap
        self.sudo = sudo
        self.control = True
        self._pending = bytearray()
        self.upload_ok = asyncio.Event()
        self.sudo_ok = False
        self.hash_mismatch = False

    def feed(self, data: bytes) -> bool:
        if not self.control:
            return self.cap.feed(data)
        self._pending += data
        while self.control:
            nl = self._pending.find(b"\n")
            if nl < 0:
                if len(self._pending) > 4096:
                    self._end_control()
                break
            line = bytes(self._pending[:nl])
            del self._pending[: nl + 1]
            if line == MARK_UPLOAD:
                self.upload_ok.set()
                if not self.sudo:
                    self._end_control()
            elif line == MARK_SUDO:
                self.sudo_ok = True
                self._end_control()
            elif line == MARK_HASH:
                self.hash_mismatch = True
            elif self.cap.feed(line + b"\n"):
                return True
        return self.cap.flooded

    def _end_control(self) -> None:
        self.control = False
        if self._pending:
            data = bytes(self._pending)
            self._pending.clear()
            self.cap.feed(data)

    def finish(self) -> None:
        self._end_control()


class _Session(asyncssh.SSHClientSession[bytes]):
    def __init__(self, out: StreamCapture, err: _StderrFilter, on_flood: Callable[[], None]) -> None:
        self.out = out
        self.err = err
        self.on_flood = on_flood
        self.exit_status: int | None = None
        self.exit_signal: str | None = None
        self.closed: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()
        self.flooded = False

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        if self.flooded:
            return
        stderr = datatype == asyncssh.EXTENDED_DATA_STDERR
        if self.err.feed(data) if stderr else self.out.feed(data):
            self.flooded = True
            self.on_flood()

    def exit_status_received(self, status: int) -> None:
        self.exit_status = status

    def exit_signal_received(self, signal: str, core_dumped: bool, msg: str, lang: str) -> None:
        self.exit_signal = signal

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(exc)


def _connect_error(exc: BaseException, pinned: bool) -> ExecError:
    """Map a failure while dialling/authenticating to the taxonomy of exec.md §5."""
    if isinstance(exc, ExecError):
        return exc
    if isinstance(exc, TimeoutError):
        return ExecError(ErrorKind.CONNECT_TIMEOUT, Stage.CONNECT, "ssh connect/login timed out")
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        return ExecError(
            ErrorKind.HOST_KEY_MISMATCH,
            Stage.CONNECT,
            "ssh host key differs from the pinned key",
            retryable=False,
        )
    if isinstance(exc, asyncssh.KeyExchangeFailed) and pinned:
        # The server offered no key of a pinned type: also a mismatch (§2.2).
        return ExecError(
            ErrorKind.HOST_KEY_MISMATCH,
            Stage.CONNECT,
            "ssh server offers no pinned host key type",
            retryable=False,
        )
    if isinstance(exc, asyncssh.PermissionDenied):
        return ExecError(ErrorKind.AUTH_FAILED, Stage.AUTH, "ssh authentication failed", retryable=False)
    if isinstance(exc, (asyncssh.KeyImportError, asyncssh.KeyEncryptionError)):
        return ExecError(ErrorKind.AUTH_FAILED, Stage.AUTH, "ssh private key unusable", retryable=False)
    if isinstance(exc, socket.gaierror):
        return ExecError(ErrorKind.UNREACHABLE, Stage.CONNECT, "name resolution failed")
    if isinstance(exc, asyncssh.DisconnectError):
        return ExecError(
            ErrorKind.UNREACHABLE, Stage.CONNECT, f"ssh disconnected during handshake ({exc.code})"
        )
    if isinstance(exc, OSError):
        return ExecError(ErrorKind.UNREACHABLE, Stage.CONNECT, f"connect failed ({errno_name(exc)})")
    return ExecError(ErrorKind.PROTOCOL_ERROR, Stage.CONNECT, f"ssh connect failed ({type(exc).__name__})")


def errno_name(exc: OSError) -> str:
    import errno as _errno

    return _errno.errorcode.get(exc.errno or 0, type(exc).__name__)


class SshExecutor:
    """Runs scripts over SSH (exec.md §2). One instance per agent; ``close()`` on shutdown."""

    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        *,
        per_host_concurrency: int = 2,
        max_concurrency: int = 12,
        pool_size: int = 64,
        conn_max_age_s: float = 300.0,
        idle_limit_s: float = IDLE_LIMIT_S,
        known_hosts: KnownHosts | None = None,
    ) -> None:
        self.known_hosts = known_hosts or KnownHosts(os.path.join(os.fspath(state_dir), "ssh_known_hosts"))
        self.pool = SshPool(pool_size, conn_max_age_s, idle_limit_s)
        self._limiter = Limiter(max_concurrency, per_host_concurrency)

    @classmethod
    def from_config(cls, cfg: Any) -> SshExecutor:
        return cls(
            cfg.state_dir,
            per_host_concurrency=cfg.ssh_per_host_concurrency,
            max_concurrency=cfg.ssh_max_concurrency,
            pool_size=cfg.ssh_pool_size,
            conn_max_age_s=cfg.ssh_conn_max_age_s,
        )

    async def close(self) -> None:
        await self.pool.close()

    async def clear_pin(self, host: str, port: int | None = None) -> bool:
        """Operator action (``pins clear --ssh``): remove the pin, close pooled connections."""
        removed = await self.known_hosts.clear(host, port)
        self.pool.close_host(host, port)
        return removed

    # -- connecting -------------------------------------------------------------------------

    async def _dial(
        self, host: str, port: int, cred: SshCredential, deadline: Deadline, connect_timeout: float
    ) -> asyncssh.SSHClientConnection:
        pinned = self.known_hosts.lookup(host, port)
        client = _HostKeyClient(pinned)
        trusted = [asyncssh.import_public_key(f"{t} {_b64(b)}") for t, b in pinned]
        keys: list[asyncssh.SSHKey] | None = None
        if cred.private_key:
            keys = [asyncssh.import_private_key(cred.private_key, cred.private_key_passphrase)]
        methods = []
        if keys:
            methods.append("publickey")
        if cred.password:
            methods += ["keyboard-interactive", "password"]
        if not methods:
            raise ExecError(
                ErrorKind.NO_CREDENTIALS, Stage.RESOLVE, "no key or password configured", retryable=False
            )
        conn: asyncssh.SSHClientConnection | None = None
        try:
            async with asyncio.timeout(deadline.cap(connect_timeout + LOGIN_TIMEOUT_S)):
                conn = await asyncssh.connect(
                    host,
                    port,
                    username=cred.username,
                    password=cred.password,
                    client_keys=keys,
                    passphrase=None,
                    agent_path=None,
                    agent_forwarding=False,
                    x11_forwarding=False,
                    config=None,
                    known_hosts=lambda h, a, p: (trusted, [], []),
                    x509_trusted_certs=None,
                    client_factory=lambda: client,
                    preferred_auth=methods,
                    connect_timeout=deadline.cap(connect_timeout),
                    login_timeout=deadline.cap(LOGIN_TIMEOUT_S),
                    keepalive_interval=KEEPALIVE_INTERVAL_S,
                    keepalive_count_max=KEEPALIVE_COUNT_MAX,
                    host_based_auth=False,
                    gss_host=None,
                    ignore_encrypted=False,
                    request_pty=False,
                )
                if not pinned:
                    # First use: persist before any command is sent on this connection.
                    if client.presented is None:
                        raise ExecError(ErrorKind.PROTOCOL_ERROR, Stage.CONNECT, "no host key observed")
                    try:
                        await self.known_hosts.pin(host, port, client.presented)
                    except OSError as exc:
                        raise ExecError(
                            ErrorKind.PROTOCOL_ERROR,
                            Stage.CONNECT,
                            f"cannot persist host key ({errno_name(exc)})",
                            retryable=False,
                        ) from None
                    if self.known_hosts.lookup(host, port) != [
                        client.presented
                    ] and client.presented not in self.known_hosts.lookup(host, port):
                        raise ExecError(
                            ErrorKind.HOST_KEY_MISMATCH,
                            Stage.CONNECT,
                            "ssh host key differs from the key pinned concurrently",
                            retryable=False,
                        )
                return conn
        except BaseException as exc:
            if conn is not None:
                conn.abort()
            if isinstance(exc, asyncio.CancelledError):
                raise
            err = _connect_error(exc, bool(pinned))
            if err.kind is ErrorKind.HOST_KEY_MISMATCH:
                log.error(
                    "security.ssh_host_key_mismatch",
                    "ssh host key refused: differs from the pin",
                    host=host,
                    port=port,
                    presented_type=client.presented[0] if client.presented else None,
                    pinned_types=sorted({t for t, _ in pinned}),
                )
            raise err from None

    async def _acquire(
        self, host: str, port: int, cred: SshCredential, deadline: Deadline, connect_timeout: float
    ) -> tuple[_Entry, bool]:
        key: PoolKey = (host, port, cred.username)
        fp = cred.fingerprint
        entry = self.pool.lookup(key, fp)
        if entry is not None:
            return entry, True

        def factory() -> asyncio.Future[asyncssh.SSHClientConnection]:
            return asyncio.ensure_future(self._dial(host, port, cred, deadline, connect_timeout))

        for _ in range(3):
            try:
                return await self.pool.dial(key, fp, factory), False
            except _Redial:
                continue
        raise ExecError(ErrorKind.PROTOCOL_ERROR, Stage.CONNECT, "could not obtain a connection")

    # -- running ----------------------------------------------------------------------------

    async def run(self, target: Target, credential: SshCredential, request: ExecRequest) -> ExecResult:
        started_wall, started_mono = time.time(), time.monotonic()
        port = target.port or 22
        deadline = Deadline(request.deadline_s)
        log_start(target, port, request)
        attempts = 0
        outcome: Outcome | None = None
        encode_params(request.params)  # invalid parameters are a programming error: raise now
        while True:
            attempts += 1
            outcome = Outcome(
                StreamCapture(request.stdout_cap, request.on_line), StreamCapture(request.stderr_cap)
            )
            await self._attempt(target.host, port, credential, request, deadline, outcome)
            err = outcome.error
            if err is None or attempts >= 2 or not may_retry(err, request):
                break
            pause = backoff_s(attempts - 1)
            if pause >= deadline.remaining():
                break
            log.info(
                "exec.retry",
                "retrying after a failure",
                host=target.host,
                port=port,
                error_kind=err.kind.value,
                attempt=attempts,
            )
            await asyncio.sleep(pause)
        result = build_result(target, port, request, outcome, attempts, started_wall, started_mono)
        log_end(result, request)
        return result

    async def _attempt(
        self,
        host: str,
        port: int,
        cred: SshCredential,
        request: ExecRequest,
        deadline: Deadline,
        outcome: Outcome,
    ) -> None:
        connect_timeout = request.connect_timeout_s or DEFAULT_CONNECT_TIMEOUT_S
        try:
            # Every step has its own deadline-bound timeout; this is only a backstop.
            async with asyncio.timeout(deadline.remaining() + 3 * CLEANUP_GRACE_S):
                async with self._limiter.slot(host, deadline.remaining()):
                    await self._attempt_locked(host, port, cred, request, deadline, outcome, connect_timeout)
        except TimeoutError:
            if outcome.error is None:
                outcome.error = ExecError(
                    ErrorKind.CONNECT_TIMEOUT, Stage.CONNECT, "deadline expired before the command started"
                )
        except ExecError as exc:
            outcome.error = exc

    async def _attempt_locked(
        self,
        host: str,
        port: int,
        cred: SshCredential,
        request: ExecRequest,
        deadline: Deadline,
        outcome: Outcome,
        connect_timeout: float,
    ) -> None:
        entry, reused = await self._acquire(host, port, cred, deadline, connect_timeout)
        discard = False
        try:
            sudo = request.privilege is Privilege.ROOT and cred.username != "root"
            err_filter = _StderrFilter(outcome.stderr, sudo)
            chan_holder: list[asyncssh.SSHClientChannel[bytes]] = []

            def on_flood() -> None:
                if chan_holder:
                    _kill(chan_holder[0])

            def make_session() -> _Session:
                return _Session(outcome.stdout, err_filter, on_flood)

            command = launcher_command("sudo" if sudo else "none")
            try:
                chan, session = await self._open_session(entry, command, make_session, deadline)
            except (TimeoutError, asyncssh.Error, OSError) as exc:
                if not reused:
                    discard = True
                    raise ExecError(
                        ErrorKind.PROTOCOL_ERROR,
                        Stage.SHELL,
                        f"ssh session open failed ({type(exc).__name__})",
                    ) from None
                # A pooled connection that cannot open a session is discarded; one fresh dial.
                self.pool.release(entry, discard=True)
                entry = await self._fresh(host, port, cred, deadline, connect_timeout)
                try:
                    chan, session = await self._open_session(entry, command, make_session, deadline)
                except (TimeoutError, asyncssh.Error, OSError) as exc2:
                    discard = True
                    raise ExecError(
                        ErrorKind.PROTOCOL_ERROR,
                        Stage.SHELL,
                        f"ssh session open failed ({type(exc2).__name__})",
                    ) from None
            chan_holder.append(chan)
            discard = not await self._drive(chan, session, err_filter, cred, request, deadline, outcome, sudo)
        finally:
            self.pool.release(entry, discard=discard)

    async def _fresh(
        self, host: str, port: int, cred: SshCredential, deadline: Deadline, connect_timeout: float
    ) -> _Entry:
        key: PoolKey = (host, port, cred.username)

        def factory() -> asyncio.Future[asyncssh.SSHClientConnection]:
            return asyncio.ensure_future(self._dial(host, port, cred, deadline, connect_timeout))

        return await self.pool.dial(key, cred.fingerprint, factory)

    async def _open_session(
        self, entry: _Entry, command: str, factory: Callable[[], _Session], deadline: Deadline
    ) -> tuple[asyncssh.SSHClientChannel[bytes], _Session]:
        async with asyncio.timeout(deadline.cap(SESSION_OPEN_TIMEOUT_S)):
            chan, session = await entry.conn.create_session(factory, command, encoding=None)
        return chan, cast(_Session, session)

    async def _drive(
        self,
        chan: asyncssh.SSHClientChannel[bytes],
        session: _Session,
        err_filter: _StderrFilter,
        cred: SshCredential,
        request: ExecRequest,
        deadline: Deadline,
        outcome: Outcome,
        sudo: bool,
    ) -> bool:
        """Send the input, collect the output. Returns whether the connection is still reusable."""
        payload = (
            sh_preamble(request.params, remote_deadline_s=math.ceil(deadline.remaining())) + request.script
        ).encode("utf-8")
        header = f"{len(payload)} {hashlib.sha256(payload).hexdigest()}\n".encode()
        clean = True
        try:
            async with asyncio.timeout(deadline.remaining()):
                chan.write(header)
                chan.write(payload)
                if sudo and cred.sudo_password:
                    upload = asyncio.ensure_future(err_filter.upload_ok.wait())
                    try:
                        waiters: set[asyncio.Future[Any]] = {upload, session.closed}
                        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        upload.cancel()
                    if err_filter.upload_ok.is_set() and not session.closed.done():
                        chan.write(cred.sudo_password.encode("utf-8") + b"\n")
                if not session.closed.done():
                    chan.write_eof()
                exc = await asyncio.shield(session.closed)
        except TimeoutError:
            outcome.error = ExecError(ErrorKind.COMMAND_TIMEOUT, Stage.RUN, "deadline expired", started=True)
            clean = await self._stop(chan, session, outcome)
            err_filter.finish()
            return clean
        except asyncio.CancelledError:
            await self._stop(chan, session, outcome)
            raise
        except (asyncssh.Error, OSError, BrokenPipeError) as e:
            exc = e
        err_filter.finish()
        if session.flooded:
            outcome.error = ExecError(
                ErrorKind.OUTPUT_TRUNCATED,
                Stage.RUN,
                "output exceeded 4x the cap; command terminated",
                started=True,
            )
            outcome.remote_may_be_running = session.exit_status is None and session.exit_signal is None
            return True
        outcome.exit_code = session.exit_status
        if session.exit_status is None:
            if exc is not None or session.exit_signal is None:
                outcome.error = ExecError(
                    ErrorKind.CONNECTION_LOST,
                    Stage.RUN,
                    "connection closed before the exit status",
                    started=True,
                )
                return False
            outcome.error = ExecError(
                ErrorKind.CONNECTION_LOST,
                Stage.RUN,
                f"remote process killed by signal {session.exit_signal}",
                started=True,
            )
            return True
        status = session.exit_status
        if err_filter.hash_mismatch or (
            status in (EXIT_MKTEMP, EXIT_HEADER) and not err_filter.upload_ok.is_set()
        ):
            outcome.error = ExecError(
                ErrorKind.PROTOCOL_ERROR, Stage.TRANSFER, "script upload failed verification", started=False
            )
        elif sudo and status != 0 and not err_filter.sudo_ok:
            outcome.error = ExecError(
                ErrorKind.PRIVILEGE_FAILED,
                Stage.SUDO,
                "sudo refused (wrong or missing password, or user not allowed)",
                retryable=False,
            )
        return clean

    async def _stop(
        self, chan: asyncssh.SSHClientChannel[bytes], session: _Session, outcome: Outcome
    ) -> bool:
        """Kill and close the channel after a deadline or cancellation; True if it closed cleanly."""
        with contextlib.suppress(Exception):
            chan.send_signal("KILL")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLEANUP_GRACE_S / 2):
                await asyncio.shield(session.closed)
        with contextlib.suppress(Exception):
            chan.close()
        try:
            async with asyncio.timeout(CLEANUP_GRACE_S):
                exc = await asyncio.shield(session.closed)
        except TimeoutError:
            outcome.remote_may_be_running = True
            return False
        confirmed = session.exit_status is not None or session.exit_signal is not None
        outcome.remote_may_be_running = not confirmed
        return exc is None


def _kill(chan: asyncssh.SSHClientChannel[bytes]) -> None:
    with contextlib.suppress(Exception):
        chan.send_signal("KILL")
    with contextlib.suppress(Exception):
        chan.close()


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode("ascii")
