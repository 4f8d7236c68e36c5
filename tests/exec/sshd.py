"""A real OpenSSH server on loopback for the executor tests, plus a TCP fault proxy.

The server runs as root (CI runs the suite as root) so password authentication and a real ``sudo``
can be exercised with a throwaway local user. A missing ``sshd`` is a test FAILURE, not a skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from agent.proc import pid_alive

SSHD = "/usr/sbin/sshd"

# Every pytest session gets its own system users, sudoers file and scratch directory, so two test
# runs on one machine (two checkouts, or CI beside a developer) never reset each other's passwords
# or delete each other's users. The tag is inherited by child processes through the environment.
RUN_TAG = os.environ.setdefault("MSP_TEST_RUN_TAG", secrets.token_hex(3))
if not re.fullmatch(r"[0-9a-f]{6}", RUN_TAG):
    raise RuntimeError(f"MSP_TEST_RUN_TAG must be 6 lower-case hex digits, not {RUN_TAG!r}")
USER = f"mspt{RUN_TAG}"  # sudo with password
USER_NOPASSWD = f"mspt{RUN_TAG}np"  # sudo NOPASSWD
USER_NOSUDO = f"mspt{RUN_TAG}ns"  # not in sudoers
ALL_USERS = (USER, USER_NOPASSWD, USER_NOSUDO)
SUDOERS = Path(f"/etc/sudoers.d/msp-tests-{RUN_TAG}")
# One file per live run: the pid that owns the users. A run killed with -9 leaves its file; the
# next run removes the users of every file whose owner is gone.
REGISTRY = Path("/run/msp-test-users")


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


def _delete_run(tag: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(f"/etc/sudoers.d/msp-tests-{tag}")
    for name in (f"mspt{tag}", f"mspt{tag}np", f"mspt{tag}ns"):
        if subprocess.run(["id", name], capture_output=True).returncode == 0:
            subprocess.run(["userdel", "-r", "-f", name], capture_output=True)


def sweep_dead_runs() -> list[str]:
    """Remove the users of earlier runs whose pytest process is gone; the tags removed."""
    removed = []
    if not REGISTRY.is_dir():
        return removed
    for entry in REGISTRY.iterdir():
        tag = entry.name
        if not re.fullmatch(r"[0-9a-f]{6}", tag) or tag == RUN_TAG:
            continue
        try:
            pid = int(entry.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pid = 0
        if pid_alive(pid):
            continue
        _delete_run(tag)
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()
        removed.append(tag)
    return removed


def create_users() -> Users:
    """This run's three users (fresh passwords) and its sudoers file."""
    sweep_dead_runs()
    REGISTRY.mkdir(mode=0o700, exist_ok=True)
    (REGISTRY / RUN_TAG).write_text(f"{os.getpid()}\n")
    users = Users(secrets.token_urlsafe(12), secrets.token_urlsafe(12), secrets.token_urlsafe(12))
    for name, pw in zip(ALL_USERS, (users.password, users.np_password, users.ns_password), strict=True):
        if subprocess.run(["id", name], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "-m", "-s", "/bin/bash", name], check=True)
        users.created.append(name)
        subprocess.run(["chpasswd"], input=f"{name}:{pw}\n", text=True, check=True)
    text = (
        f"Defaults:{USER} !lecture\n{USER} ALL=(ALL) ALL\n"
        f"Defaults:{USER_NOPASSWD} !lecture\n{USER_NOPASSWD} ALL=(ALL) NOPASSWD: ALL\n"
    )
    tmp = SUDOERS.with_name(f".{SUDOERS.name}.tmp")  # sudo ignores names with a dot
    tmp.write_text(text)
    tmp.chmod(0o440)
    subprocess.run(["visudo", "-cf", str(tmp)], check=True, capture_output=True)
    os.replace(tmp, SUDOERS)
    return users


def remove_users(users: Users) -> None:
    _delete_run(RUN_TAG)
    with contextlib.suppress(FileNotFoundError):
        (REGISTRY / RUN_TAG).unlink()


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
            f"AllowUsers {' '.join(ALL_USERS)}",
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
