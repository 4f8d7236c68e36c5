"""A real OpenSSH server on loopback for the executor tests, plus a TCP fault proxy.

The server runs as root (CI runs the suite as root) so password authentication and a real ``sudo``
can be exercised with a throwaway local user. A missing ``sshd`` is a test FAILURE, not a skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SSHD = "/usr/sbin/sshd"
USER = "msptest"  # sudo with password
USER_NOPASSWD = "msptestnp"  # sudo NOPASSWD
USER_NOSUDO = "msptestns"  # not in sudoers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_sshd() -> None:
    if not os.path.exists(SSHD):
        pytest.fail(f"{SSHD} is missing: install Debian's openssh-server (.ci/run installs it)")
    if shutil.which("sudo") is None:
        pytest.fail("sudo is missing: install Debian's sudo package (.ci/run installs it)")
    if os.geteuid() != 0:
        pytest.fail("the SSH executor tests create a local user and run sshd: run them as root")


@dataclass
class Users:
    password: str
    np_password: str
    ns_password: str
    created: list[str] = field(default_factory=list)


# Concurrent pytest sessions on one machine (parallel development work) would reset each other's
# passwords and delete each other's users. With MSP_KEEP_TEST_USERS=1 the users and their passwords
# persist in a root-only file and are reused; CI (one session) creates and removes them.
_KEEP = os.environ.get("MSP_KEEP_TEST_USERS") == "1"
_KEPT = Path("/root/.msp-test-users.json")


def create_users() -> Users:
    if _KEEP and _KEPT.exists():
        saved = json.loads(_KEPT.read_text())
        if (
            all(
                subprocess.run(["id", n], capture_output=True).returncode == 0
                for n in (USER, USER_NOPASSWD, USER_NOSUDO)
            )
            and Path("/etc/sudoers.d/msp-exec-tests").exists()
        ):
            return Users(saved["password"], saved["np_password"], saved["ns_password"])
    users = Users(secrets.token_urlsafe(12), secrets.token_urlsafe(12), secrets.token_urlsafe(12))
    for name, pw in (
        (USER, users.password),
        (USER_NOPASSWD, users.np_password),
        (USER_NOSUDO, users.ns_password),
    ):
        if subprocess.run(["id", name], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "-m", "-s", "/bin/bash", name], check=True)
            users.created.append(name)
        subprocess.run(["chpasswd"], input=f"{name}:{pw}\n", text=True, check=True)
    sudoers = Path("/etc/sudoers.d/msp-exec-tests")
    text = (
        f"Defaults:{USER} !lecture\n{USER} ALL=(ALL) ALL\n"
        f"Defaults:{USER_NOPASSWD} !lecture\n{USER_NOPASSWD} ALL=(ALL) NOPASSWD: ALL\n"
    )
    sudoers.write_text(text)
    sudoers.chmod(0o440)
    subprocess.run(["visudo", "-cf", str(sudoers)], check=True, capture_output=True)
    if _KEEP:
        fd = os.open(_KEPT, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(
                {
                    "password": users.password,
                    "np_password": users.np_password,
                    "ns_password": users.ns_password,
                },
                f,
            )
    return users


def remove_users(users: Users) -> None:
    if _KEEP:
        return
    with contextlib.suppress(FileNotFoundError):
        os.unlink("/etc/sudoers.d/msp-exec-tests")
    for name in users.created:
        subprocess.run(["userdel", "-r", "-f", name], capture_output=True)


def keygen(path: Path, ktype: str) -> None:
    args = ["ssh-keygen", "-q", "-N", "", "-t", ktype, "-f", str(path)]
    if ktype == "rsa":
        args += ["-b", "2048"]
    subprocess.run(args, check=True)


class Sshd:
    """``sshd -D -e -f <config>`` on 127.0.0.1:<port> with throwaway host keys."""

    def __init__(
        self, root: Path, port: int | None = None, extra_ports: int = 0, extra_config: str = ""
    ) -> None:
        self.root = root
        self.extra_config = extra_config  # appended last (e.g. SetEnv, a Match block)
        self.port = port or free_port()
        self.extra_ports = [free_port() for _ in range(extra_ports)]
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = root / "sshd.log"
        self.keydir = root / "hostkeys"
        self.authdir = root / "authorized"
        self.authdir.mkdir(exist_ok=True)
        self.client_key = root / "client_ed25519"
        if not self.client_key.exists():
            keygen(self.client_key, "ed25519")
        self.new_host_keys()

    def new_host_keys(self, types: tuple[str, ...] = ("ed25519", "rsa")) -> None:
        shutil.rmtree(self.keydir, ignore_errors=True)
        self.keydir.mkdir()
        self.host_key_types = types
        for t in types:
            keygen(self.keydir / f"host_{t}", t)

    def authorize(self, user: str, pubkey: str) -> None:
        (self.authdir / user).write_text(pubkey)

    def config(self) -> str:
        lines = [
            f"Port {self.port}",
            *[f"Port {p}" for p in self.extra_ports],
            "ListenAddress 127.0.0.1",
            *[f"HostKey {self.keydir}/host_{t}" for t in self.host_key_types],
            f"AuthorizedKeysFile {self.authdir}/%u",
            "PidFile none",
            "StrictModes no",
            "UsePAM no",
            "PubkeyAuthentication yes",
            "PasswordAuthentication yes",
            "KbdInteractiveAuthentication no",
            f"AllowUsers {USER} {USER_NOPASSWD} {USER_NOSUDO}",
            "PermitRootLogin no",
            "Subsystem sftp internal-sftp",
            "MaxStartups 200:30:400",
            "MaxSessions 200",
            "LogLevel VERBOSE",
            "UseDNS no",
            "PrintMotd no",
            "PrintLastLog no",
            "ClientAliveInterval 0",
        ]
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        cfg = self.root / "sshd_config"
        text = self.config()
        cfg.write_text(text + "PerSourcePenalties no\n" + self.extra_config)
        if subprocess.run([SSHD, "-t", "-f", str(cfg)], capture_output=True).returncode != 0:
            text += self.extra_config
            cfg.write_text(text)  # OpenSSH < 9.8 has no PerSourcePenalties
            chk = subprocess.run([SSHD, "-t", "-f", str(cfg)], capture_output=True, text=True)
            if chk.returncode != 0:
                pytest.fail(f"sshd rejected the test config: {chk.stderr.strip()}")
        logf = open(self.log, "ab")  # noqa: SIM115 - owned by the process lifetime
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(cfg)], stdout=logf, stderr=logf)
        logf.close()
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                pytest.fail(f"sshd exited: {self.log.read_text(errors='replace')[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.settimeout(2)
                    if s.recv(64).startswith(b"SSH-"):
                        return
            except OSError:
                time.sleep(0.05)
        pytest.fail("sshd did not answer with a banner")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def accepted(self) -> int:
        """TCP connections sshd has accepted so far (its ``Connection from`` log lines)."""
        return self.log.read_text(errors="replace").count("Connection from ")


class FaultProxy:
    """TCP proxy between client and sshd: counts connections and bytes; can blackhole."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.connections = 0
        self.bytes_up = 0
        self._open = asyncio.Event()
        self._open.set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            ur, uw = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, uw))

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter, up: bool) -> None:
            try:
                while data := await r.read(65536):
                    await self._open.wait()
                    if up:
                        self.bytes_up += len(data)
                    w.write(data)
                    await w.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                w.close()

        t1 = asyncio.ensure_future(pipe(reader, uw, True))
        t2 = asyncio.ensure_future(pipe(ur, writer, False))
        self._tasks.update((t1, t2))
        await asyncio.gather(t1, t2, return_exceptions=True)

    @property
    def blackhole(self) -> bool:
        return not self._open.is_set()

    @blackhole.setter
    def blackhole(self, value: bool) -> None:
        if value:
            self._open.clear()
        else:
            self._open.set()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for t in self._tasks:
            t.cancel()
        for w in self._writers:
            w.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)
