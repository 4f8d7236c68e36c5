"""The daemon's local control socket: read-only questions from the operator's commands.

``control.sock`` in the runtime directory (``$RUNTIME_DIRECTORY`` or ``<state_dir>/run``), a Unix
stream socket with mode 0600, owned by the daemon's user; nothing listens on the network. A peer
whose uid is neither the daemon's nor root is refused (``SO_PEERCRED``). One question per
connection: a JSON line ``{"query": NAME}`` (at most 4 KiB, within 5 s), one JSON line back
(``{"ok": true, "answer": …}`` or ``{"ok": false, "error": …}``), then the connection closes. The
queries are given by the composition root (:mod:`agent.wiring`); each answers within 10 s. None
changes anything: the socket exists so that ``preview`` can show what the *running* daemon would
send, including what only it holds in memory.

:func:`ask` is the client the commands use; it raises :class:`ControlUnavailable` when no daemon
answers (no socket, nobody listening, a refused peer), and the command then says it built its
answer from the state directory instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import struct
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from agent.jobs import BaseComponent, JobHost
from agent.log import get_logger
from agent.proc import runtime_dir

log = get_logger("runtime")

SOCKET_NAME = "control.sock"
MAX_QUESTION = 4096
MAX_ANSWER = 8 * 1024 * 1024
READ_DEADLINE_S = 5.0
ANSWER_DEADLINE_S = 10.0
#: Unix socket paths longer than this are bound through the directory's /proc/self/fd entry.
_SUN_PATH_MAX = 100

Query = Callable[[], Awaitable[dict[str, Any]]]


class ControlUnavailable(Exception):
    """No running daemon answered on the control socket."""


def socket_path(state_dir: Path) -> Path:
    return runtime_dir(state_dir) / SOCKET_NAME


@contextlib.contextmanager
def _short(path: Path) -> Iterator[str]:
    """A path the kernel accepts for ``path`` (sun_path is ~108 bytes)."""
    if len(os.fsencode(path)) <= _SUN_PATH_MAX:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


def _peer_uid(sock: socket.socket) -> int:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


class ControlSocket(BaseComponent):
    """The control socket as a component: one long task that serves it until shutdown."""

    name = "control"

    def __init__(self, state_dir: Path, queries: dict[str, Query]) -> None:
        self.path = socket_path(state_dir)
        self.queries = dict(queries)
        self.answered = 0
        self.refused = 0
        self._server: asyncio.AbstractServer | None = None

    def install(self, host: JobHost) -> None:
        host.spawn(self.name, self.serve)

    def status(self) -> dict[str, Any]:
        return {"socket": str(self.path), "listening": self._server is not None,
                "answered": self.answered, "refused": self.refused}

    async def serve(self) -> None:
        """Listen until cancelled; the socket file is removed when it stops."""
        self.path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # left by a process that was killed
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # the socket is created 0600
        try:
            with _short(self.path) as name:
                sock.bind(name)
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        self._server = await asyncio.start_unix_server(self._handle, sock=sock,
                                                       limit=MAX_QUESTION)
        try:
            await asyncio.Future()  # until cancelled at shutdown
        finally:
            self._server.close()
            self._server = None
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            answer = await self._answer(reader, writer)
            writer.write(json.dumps(answer, separators=(",", ":"), default=str).encode() + b"\n")
            async with asyncio.timeout(READ_DEADLINE_S):
                await writer.drain()
        except (OSError, TimeoutError):
            pass  # the asker went away
        finally:
            writer.close()

    async def _answer(self, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> dict[str, Any]:
        # The question is read first (bounded) even from a peer that is then refused: closing
        # with unread data would reset the connection and lose the refusal's reason.
        try:
            async with asyncio.timeout(READ_DEADLINE_S):
                line = await reader.readline()
            question = json.loads(line)
            name = question["query"]
        except (TimeoutError, ValueError, KeyError, TypeError, asyncio.LimitOverrunError):
            name = None
        sock = writer.get_extra_info("socket")
        uid = _peer_uid(sock) if sock is not None else -1
        if uid not in (os.geteuid(), 0):
            self.refused += 1
            log.warning("control.refused", "a local process of another user asked the control "
                        "socket; refused", uid=uid)
            return {"ok": False, "error": "refused: not the daemon's user or root"}
        if name is None:
            self.refused += 1
            return {"ok": False, "error": "unreadable question"}
        query = self.queries.get(name) if isinstance(name, str) else None
        if query is None:
            self.refused += 1
            return {"ok": False, "error": f"unknown query (known: {', '.join(sorted(self.queries))})"}
        try:
            async with asyncio.timeout(ANSWER_DEADLINE_S):
                result = await query()
        except TimeoutError:
            return {"ok": False, "error": f"no answer within {ANSWER_DEADLINE_S:g} s"}
        except Exception as exc:  # noqa: BLE001  # a failing query answers the asker, not the loop
            log.error("control.query_failed", f"control query {name} failed", exc=True)
            return {"ok": False, "error": f"{type(exc).__name__}"}
        self.answered += 1
        return {"ok": True, "answer": result}


def ask(state_dir: Path, query: str, *, timeout: float = 15.0) -> dict[str, Any]:
    """Ask the running daemon of ``state_dir``; its answer, or :class:`ControlUnavailable`."""
    path = socket_path(state_dir)
    if not path.exists():
        raise ControlUnavailable("no control socket (the daemon is not running)")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        with _short(path) as name:
            sock.connect(name)
        sock.sendall(json.dumps({"query": query}).encode() + b"\n")
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_ANSWER:
                raise ControlUnavailable("the daemon's answer is too large")
    except OSError as exc:
        raise ControlUnavailable(f"the daemon did not answer ({exc.strerror or exc})") from None
    finally:
        sock.close()
    try:
        doc = json.loads(b"".join(chunks))
    except ValueError:
        raise ControlUnavailable("the daemon's answer is unreadable") from None
    if not isinstance(doc, dict) or not doc.get("ok"):
        error = doc.get("error") if isinstance(doc, dict) else None
        raise ControlUnavailable(f"the daemon refused: {error or 'no reason'}")
    answer = doc.get("answer")
    if not isinstance(answer, dict):
        raise ControlUnavailable("the daemon's answer is not an object")
    return answer
