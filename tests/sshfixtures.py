"""Shared fixtures: a real sshd with throwaway users, executors, a fault proxy.

Registered once for the whole suite from ``tests/conftest.py`` (``pytest_plugins``), so the
session-scoped users and sshd exist once, whichever directories run and in whatever order.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.exec.sshd import (
    USER,
    FaultProxy,
    Sshd,
    Users,
    create_users,
    remove_users,
    require_sshd,
)

from agent.exec import SshCredential, SshExecutor


@pytest.fixture(scope="session")
def users() -> Iterator[Users]:
    require_sshd()
    u = create_users()
    yield u
    remove_users(u)


@dataclass
class SshEnv:
    sshd: Sshd
    users: Users
    state: Path

    def key_cred(self, user: str = USER, **kw: str) -> SshCredential:
        return SshCredential(user, private_key=self.sshd.client_key.read_text(), **kw)

    def pw_cred(self, user: str = USER, password: str | None = None) -> SshCredential:
        pw = (
            password
            if password is not None
            else {USER: self.users.password}.get(user) or self.users.np_password
        )
        return SshCredential(user, password=pw)


@pytest.fixture(scope="session")
def sshd_server(users: Users) -> Iterator[Sshd]:
    from tests.exec.sshd import USER_NOPASSWD, USER_NOSUDO

    # Not under pytest's 0700 tmp tree: sshd reads authorized_keys as the target user.
    root = Path(tempfile.mkdtemp(prefix="msp-sshd-"))
    root.chmod(0o755)
    server = Sshd(root)
    pub = (root / "client_ed25519.pub").read_text()
    for u in (USER, USER_NOPASSWD, USER_NOSUDO):
        server.authorize(u, pub)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def ssh_env(sshd_server: Sshd, users: Users, tmp_path: Path) -> SshEnv:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    return SshEnv(sshd_server, users, state)


@pytest.fixture
async def ssh_exec(ssh_env: SshEnv) -> AsyncIterator[SshExecutor]:
    ex = SshExecutor(ssh_env.state, per_host_concurrency=4, max_concurrency=16)
    yield ex
    await ex.close()


@pytest.fixture
async def proxy(sshd_server: Sshd) -> AsyncIterator[FaultProxy]:
    p = FaultProxy(sshd_server.port)
    await p.start()
    yield p
    await p.close()


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A directory of this test's own that the SSH test users can write (not under pytest's 0700
    tree, and never a fixed /tmp name shared between runs)."""
    d = Path(tempfile.mkdtemp(prefix="msp-scratch-"))
    d.chmod(0o1777)
    yield d
    shutil.rmtree(d, ignore_errors=True)
