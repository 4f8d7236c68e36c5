"""Remote and local execution (exec.md): one interface, three executors.

``LocalExecutor`` (the appliance), ``SshExecutor`` (asyncssh) and ``WinrmExecutor`` (WS-Management
over :mod:`agent.http1`) all offer ``await run(target, credential, request) -> ExecResult`` and
``await close()``.
"""

from typing import TYPE_CHECKING, Any

from agent.exec.local import LocalExecutor, LocalExecutorUnavailable
from agent.exec.types import (
    CATEGORY,
    ErrorKind,
    ExecError,
    ExecRequest,
    ExecResult,
    Executor,
    NoCredentials,
    Privilege,
    SshCredential,
    Stage,
    Target,
    Transport,
    WinrmCredential,
)

if TYPE_CHECKING:
    from agent.exec.ssh import SshExecutor


def __getattr__(name: str) -> Any:
    """``SshExecutor`` is imported on first use: asyncssh is heavy (runtime.md §1)."""
    if name == "SshExecutor":
        from agent.exec.ssh import SshExecutor

        return SshExecutor
    raise AttributeError(f"module 'agent.exec' has no attribute {name!r}")


__all__ = [
    "CATEGORY",
    "ErrorKind",
    "ExecError",
    "ExecRequest",
    "ExecResult",
    "Executor",
    "LocalExecutor",
    "LocalExecutorUnavailable",
    "NoCredentials",
    "Privilege",
    "SshCredential",
    "SshExecutor",
    "Stage",
    "Target",
    "Transport",
    "WinrmCredential",
]
