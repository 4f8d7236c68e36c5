"""The common executor interface (exec.md §1): targets, credentials, requests, results, errors."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NoReturn, Protocol

from agent.log import register_secret
from agent.protocol.credentials import LinuxTarget, WindowsTarget


class Transport(StrEnum):
    SSH = "ssh"
    WINRM = "winrm"
    LOCAL = "local"


class Privilege(StrEnum):
    NONE = "none"
    ROOT = "root"  # SSH: sudo unless the user is root; local: privileged helper
    ADMIN = "admin"  # WinRM: the account must already be an administrator


class ErrorKind(StrEnum):
    NO_CREDENTIALS = "no_credentials"
    UNREACHABLE = "unreachable"
    CONNECT_TIMEOUT = "connect_timeout"
    TLS_ERROR = "tls_error"
    HOST_KEY_MISMATCH = "host_key_mismatch"
    TLS_PIN_MISMATCH = "tls_pin_mismatch"
    AUTH_FAILED = "auth_failed"
    PRIVILEGE_FAILED = "privilege_failed"
    CONNECTION_LOST = "connection_lost"
    PROTOCOL_ERROR = "protocol_error"
    COMMAND_TIMEOUT = "command_timeout"
    OUTPUT_TRUNCATED = "output_truncated"
    REMOTE_NONZERO_EXIT = "remote_nonzero_exit"
    CANCELLED = "cancelled"


class Stage(StrEnum):
    RESOLVE = "resolve"
    CONNECT = "connect"
    AUTH = "auth"
    SUDO = "sudo"
    SHELL = "shell"
    TRANSFER = "transfer"
    RUN = "run"


# exec.md §5: telemetry ``error_category`` per kind.
CATEGORY: dict[ErrorKind, str] = {
    ErrorKind.NO_CREDENTIALS: "no_credentials",
    ErrorKind.UNREACHABLE: "network_error",
    ErrorKind.CONNECT_TIMEOUT: "timeout",
    ErrorKind.TLS_ERROR: "network_error",
    ErrorKind.HOST_KEY_MISMATCH: "security_error",
    ErrorKind.TLS_PIN_MISMATCH: "security_error",
    ErrorKind.AUTH_FAILED: "auth_failure",
    ErrorKind.PRIVILEGE_FAILED: "auth_failure",
    ErrorKind.CONNECTION_LOST: "network_error",
    ErrorKind.PROTOCOL_ERROR: "unknown",
    ErrorKind.COMMAND_TIMEOUT: "timeout",
    ErrorKind.OUTPUT_TRUNCATED: "script_error",
    ErrorKind.REMOTE_NONZERO_EXIT: "script_error",
    ErrorKind.CANCELLED: "",
}

# Kinds that may be retried when they happened before the command started (§1.5).
_RETRYABLE_BEFORE_START = frozenset(
    {
        ErrorKind.UNREACHABLE,
        ErrorKind.CONNECT_TIMEOUT,
        ErrorKind.TLS_ERROR,
        ErrorKind.PROTOCOL_ERROR,
    }
)


class ExecError(Exception):
    """``ExecError{kind, stage, message, retryable, category}`` (§1.3, §5).

    ``message`` is short and secret-free: it never contains script text, output or credentials.
    Executors return it inside :class:`ExecResult`; :meth:`ExecResult.raise_for_error` raises it
    for callers that prefer exceptions.
    """

    def __init__(
        self,
        kind: ErrorKind,
        stage: Stage,
        message: str,
        *,
        retryable: bool | None = None,
        started: bool = False,
    ) -> None:
        super().__init__(f"{kind.value} ({stage.value}): {message}")
        self.kind = kind
        self.stage = stage
        self.message = message
        self.started = started  # the remote command had started when this happened
        if retryable is None:
            retryable = kind in _RETRYABLE_BEFORE_START and not started
        self.retryable = retryable

    @property
    def category(self) -> str:
        return CATEGORY[self.kind]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "stage": self.stage.value,
            "message": self.message,
            "retryable": self.retryable,
            "category": self.category,
        }

    def __repr__(self) -> str:
        return f"ExecError(kind={self.kind.value!r}, stage={self.stage.value!r}, message={self.message!r})"


class NoCredentials(ExecError):
    """Raised by credential lookups before any I/O (kind ``no_credentials``)."""

    def __init__(self, host: str) -> None:
        super().__init__(
            ErrorKind.NO_CREDENTIALS, Stage.RESOLVE, f"no credential for {host}", retryable=False
        )


@dataclass(frozen=True, slots=True)
class Target:
    transport: Transport
    host: str
    port: int | None = None  # None: SSH 22, WinRM per exec.md §3.1
    platform: str = "linux"  # linux | macos | windows
    label: str = ""

    @classmethod
    def from_linux(cls, t: LinuxTarget) -> Target:
        plat = "macos" if (t.distro or "").lower() in {"macos", "darwin", "osx"} else "linux"
        return cls(Transport.SSH, t.hostname, t.port, plat, t.label or "")

    @classmethod
    def from_windows(cls, t: WindowsTarget) -> Target:
        return cls(Transport.WINRM, t.hostname, None, "windows", t.role)

    @classmethod
    def local(cls) -> Target:
        return cls(Transport.LOCAL, "localhost", None, "linux", "appliance")


class _SecretHolder:
    """Base for credentials: masked repr, no pickling, no JSON, secrets registered for redaction."""

    __slots__ = ()
    _SECRET_FIELDS: tuple[str, ...] = ()

    def _secret_material(self) -> bytes:
        parts = []
        for name in self._SECRET_FIELDS:
            value = getattr(self, name)
            parts.append(b"" if value is None else value.encode("utf-8", "surrogatepass"))
        return b"\x00".join(parts)

    @property
    def fingerprint(self) -> str:
        """SHA-256 over the username and secret material (in memory only; for pool identity)."""
        h = hashlib.sha256(getattr(self, "username", "").encode())
        h.update(b"\x00")
        h.update(self._secret_material())
        return h.hexdigest()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(username={getattr(self, 'username', '')!r}, fp={self.fingerprint[:12]})"
        )

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError(f"{type(self).__name__} must not be pickled")

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError(f"{type(self).__name__} must not be pickled")

    def __getstate__(self) -> NoReturn:
        raise TypeError(f"{type(self).__name__} must not be serialised")


class SshCredential(_SecretHolder):
    """``SshCredential`` of exec.md §1.1; ``sudo_password`` defaults to ``password``."""

    __slots__ = ("password", "private_key", "private_key_passphrase", "sudo_password", "username")
    _SECRET_FIELDS = ("password", "private_key", "private_key_passphrase", "sudo_password")

    def __init__(
        self,
        username: str = "",
        *,
        password: str | None = None,
        private_key: str | None = None,
        private_key_passphrase: str | None = None,
        sudo_password: str | None = None,
    ) -> None:
        self.username = username or "root"
        self.password = password or None
        self.private_key = private_key or None
        self.private_key_passphrase = private_key_passphrase or None
        self.sudo_password = sudo_password or self.password
        register_secret(self.password, self.private_key, self.private_key_passphrase, self.sudo_password)
        if self.private_key:
            # Also register each long line of the key, in case a fragment ever reaches a log.
            register_secret(*(ln for ln in self.private_key.splitlines() if len(ln) >= 16))

    @classmethod
    def from_linux(cls, t: LinuxTarget) -> SshCredential:
        return cls(t.username, password=t.password, private_key=t.private_key, sudo_password=t.sudo_password)


class WinrmCredential(_SecretHolder):
    """``WinrmCredential`` of exec.md §1.1."""

    __slots__ = ("auth", "password", "use_ssl", "username")
    _SECRET_FIELDS = ("password",)

    def __init__(
        self, username: str, password: str, *, use_ssl: bool = False, auth: str = "negotiate"
    ) -> None:
        if auth not in ("negotiate", "ntlm", "kerberos"):
            raise ValueError(f"unsupported WinRM auth {auth!r} (Basic is not implemented)")
        self.username = username
        self.password = password
        self.use_ssl = use_ssl
        self.auth = auth
        register_secret(password)

    @classmethod
    def from_windows(cls, t: WindowsTarget) -> WinrmCredential:
        return cls(t.username, t.password, use_ssl=t.use_ssl)


ParamValue = str | int | bool | Sequence[str]
LineCallback = Callable[[str, bool], None]  # (line without newline, cut at 64 KiB)

DEFAULT_STDOUT_CAP = 4 * 1024 * 1024
DEFAULT_STDERR_CAP = 256 * 1024


@dataclass(slots=True)
class ExecRequest:
    """One execution (exec.md §1.2). ``deadline_s`` covers everything from the call to the result."""

    script: str
    deadline_s: float
    privilege: Privilege = Privilege.NONE
    params: Mapping[str, ParamValue] = field(default_factory=dict)
    connect_timeout_s: float | None = None
    stdout_cap: int = DEFAULT_STDOUT_CAP
    stderr_cap: int = DEFAULT_STDERR_CAP
    on_line: LineCallback | None = None
    idempotent: bool = False
    purpose: str = "probe"

    def __post_init__(self) -> None:
        if not self.deadline_s or self.deadline_s <= 0:
            raise ValueError("deadline_s is required and must be positive")
        if self.stdout_cap < 64 or self.stderr_cap < 64:
            raise ValueError("output caps must be at least 64 bytes")
        self.privilege = Privilege(self.privilege)

    @property
    def script_sha256(self) -> str:
        return hashlib.sha256(self.script.encode("utf-8")).hexdigest()


@dataclass(slots=True)
class ExecResult:
    """The outcome of one execution (exec.md §1.3)."""

    transport: Transport
    host: str
    port: int | None
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    stdout_bytes: int = 0
    stderr_bytes: int = 0
    error: ExecError | None = None
    attempts: int = 1
    duration_s: float = 0.0
    started_at: float = field(default_factory=time.time)
    remote_may_be_running: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and self.exit_code == 0

    def raise_for_error(self) -> ExecResult:
        if self.error is not None:
            raise self.error
        return self


class Executor(Protocol):
    """What every executor offers. ``run`` never raises for network or remote failures; only
    ``asyncio.CancelledError`` (after cleanup) and programming errors propagate."""

    async def run(self, target: Target, credential: Any, request: ExecRequest) -> ExecResult: ...

    async def close(self) -> None: ...
