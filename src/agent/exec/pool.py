"""The executor pool: one executor per transport, built on first use, owned by the composition
root and closed once at shutdown (exec.md §7). Scanning and healing share it, so a host's SSH
connection pool and per-host bounds are the same whichever of them runs a command."""

from __future__ import annotations

import asyncio
import importlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from agent.exec.local import LocalExecutor
from agent.exec.types import Executor, Target, Transport
from agent.proc import runtime_dir

if TYPE_CHECKING:
    from agent.config import Config


#: The executor modules imported on first use (their libraries are heavy: asyncssh with
#: cryptography, pyspnego), by transport.
_MODULES = {Transport.SSH: "agent.exec.ssh", Transport.WINRM: "agent.exec.winrm"}


class ExecutorPool:
    def __init__(self, config: Config, *, local: Executor | None = None) -> None:
        self.config = config
        self.state_dir = Path(config.state_dir)
        self._local = local
        self._ssh: Executor | None = None
        self._winrm: Executor | None = None

    async def prepare(self, target: Target) -> None:
        """Import ``target``'s executor module in a worker thread, once. Its libraries take about
        a second of CPU to import; on the event loop thread every timer (the checkin's too) would
        wait for that."""
        name = _MODULES.get(target.transport)
        if name is None or name in sys.modules:
            return
        await asyncio.get_running_loop().run_in_executor(None, importlib.import_module, name)

    def for_target(self, target: Target) -> Executor:
        """The executor for ``target``'s transport (created on first use)."""
        if target.transport is Transport.LOCAL:
            if self._local is None:
                rd = runtime_dir(self.state_dir)
                rd.mkdir(mode=0o700, parents=True, exist_ok=True)
                self._local = LocalExecutor(rd, max_concurrency=self.config.local_max_concurrency)
            return self._local
        if target.transport is Transport.SSH:
            if self._ssh is None:
                from agent.exec.ssh import SshExecutor

                c = self.config
                self._ssh = SshExecutor(self.state_dir, per_host_concurrency=c.ssh_per_host_concurrency,
                                        max_concurrency=c.ssh_max_concurrency,
                                        pool_size=c.ssh_pool_size,
                                        conn_max_age_s=float(c.ssh_conn_max_age_s))
            return self._ssh
        if target.transport is Transport.WINRM:
            if self._winrm is None:
                from agent.exec.winrm import WinrmExecutor

                self._winrm = WinrmExecutor.from_config(self.config)
            return self._winrm
        raise ValueError(f"no executor for {target.transport.value} in this build")

    def reload(self, config: Config) -> None:
        self.config = config

    async def close(self) -> None:
        for ex in (self._ssh, self._winrm, self._local):
            if ex is not None:
                await ex.close()
        self._ssh = self._winrm = None
