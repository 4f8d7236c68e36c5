"""A WS-Management test server (exec.md §7.2): NTLM via pyspnego's acceptor, HTTP message
encryption, HTTPS with a swappable certificate, and a fake PowerShell runner.

Used by the tests and benchmarks (no Windows host exists in CI). It speaks Create, Command, Send,
Receive, Signal and Delete; the runner decodes ``-EncodedCommand`` and, for the bootstrap, the
base64 script sent on stdin, then dispatches on ``#TEST:`` directives in the script text:

``#TEST:exit K`` exit code; ``#TEST:stdout TEXT`` a line on stdout; ``#TEST:print N`` N bytes of
``x``; ``#TEST:hang`` never finish; ``#TEST:clixml`` CLIXML error record on stderr;
``#TEST:stderr TEXT`` a line on stderr. Without directives it prints ``len=<n> sha=<hex>`` of the
script it received (UTF-8) so tests can verify delivery.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import ssl
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import spnego
from aiohttp import web

from agent.exec import wsman
from agent.exec.winrm_transport import encrypted_content_type, frame_encrypted, unframe_encrypted


@dataclass
class _Command:
    script: str = ""
    stdin: bytearray = field(default_factory=bytearray)
    stdin_done: asyncio.Event = field(default_factory=asyncio.Event)
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    exit_code: int | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    terminated: bool = False


@dataclass(frozen=True)
class ScriptReply:
    """A recorded PowerShell run for :attr:`WsmanTestServer.responder`: ``stdout`` (CRLF added per
    line), the exit code, a delay before the output (latency), and whether to hang afterwards."""

    stdout: str = ""
    exit_code: int = 0
    delay_s: float = 0.0
    hang: bool = False


@dataclass
class _Conn:
    """Authentication state of one TCP connection. It holds its transport: the entry is found by
    ``id(transport)``, and while the transport object is alive no other connection can get its id."""

    transport: Any = None
    ctx: Any = None
    complete: bool = False


@dataclass
class Stats:
    basic_headers: int = 0
    plaintext_bodies: int = 0
    auth_failures: int = 0
    shells_created: int = 0
    shells_deleted: int = 0
    signals: int = 0
    sends: int = 0
    receives: int = 0
    timed_out_faults: int = 0
    connections: int = 0
    max_concurrent_shells: int = 0
    actions: list[str] = field(default_factory=list)


class WsmanTestServer:
    def __init__(
        self,
        *,
        https: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        alt_ssl_context: ssl.SSLContext | None = None,
        require_cbt: bool = False,
    ) -> None:
        self.https = https
        self.ssl_context = ssl_context
        self.alt_ssl_context = alt_ssl_context
        self.swap_cert = False  # serve alt_ssl_context to new connections
        self.require_cbt = require_cbt
        self.stats = Stats()
        self.shells: dict[str, dict[str, _Command]] = {}
        self._conns: dict[int, _Conn] = {}
        self.quota_faults = 0  # number of Create requests to answer with a quota fault
        self.deny_shell = False
        self.close_on_receive = 0  # number of Receive requests on which to drop the connection
        self.reject_after_auth = 0  # number of SOAP requests to answer with 401 after the handshake
        self.runner_delay = 0.0
        # Recorded outputs: called with the received script; a reply replaces the #TEST runner.
        self.responder: Callable[[str], ScriptReply | None] | None = None
        # The account's temp directory, for the tempfile delivery (exec.md §3.6): name -> text.
        self.temp_files: dict[str, str] = {}
        self.temp_files_seen: set[str] = set()
        self.fail_chunk: int | None = None  # this chunk (1-based) of every upload exits 1
        self.chunks_written = 0
        self._chunk_n: dict[str, int] = {}
        self.receive_timeout_cap: float | None = None  # answer TimedOut sooner than OperationTimeout
        self.port = 0
        self.bind = "127.0.0.1"  # any loopback address (benchmarks give each "host" its own)
        self._runner: web.AppRunner | None = None

    @property
    def open_shells(self) -> int:
        return len(self.shells)

    async def start(self) -> None:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/wsman", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        ctx = None
        if self.https:
            assert self.ssl_context is not None
            ctx = self.ssl_context
            alt = self.alt_ssl_context
            if alt is not None:

                def sni(sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
                    if self.swap_cert:
                        sock.context = alt

                ctx.sni_callback = sni
        site = web.TCPSite(self._runner, self.bind, 0, ssl_context=ctx)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        self.port = int(server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        for cmds in self.shells.values():
            for c in cmds.values():
                if c.task is not None:
                    c.task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- HTTP / auth --------------------------------------------------------------------------

    def _conn(self, request: web.Request) -> _Conn:
        """The state of the request's connection; a new connection starts unauthenticated.

        Keyed by the transport's identity, never by ``id()`` alone: once a dropped connection's
        transport is freed, the next connection's transport can be allocated at the same address,
        and an id-keyed entry would then treat that unauthenticated connection as authenticated
        with another connection's NTLM context."""
        transport = request.transport
        if transport is None:  # the client is already gone: nothing to remember
            return _Conn()
        key = id(transport)
        conn = self._conns.get(key)
        if conn is None or conn.transport is not transport:
            for k in [k for k, c in self._conns.items() if c.transport.is_closing()]:
                del self._conns[k]
            conn = _Conn(transport)
            self._conns[key] = conn
            self.stats.connections += 1
        return conn

    def _new_ctx(self, request: web.Request) -> Any:
        cbt = None
        if self.require_cbt and self.https:
            from agent.exec.winrm_transport import cbt_for

            assert request.transport is not None
            sslobj = request.transport.get_extra_info("ssl_object")
            cbt = cbt_for(_own_cert(sslobj))
        return spnego.server(protocol="negotiate", channel_bindings=cbt)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        body = await request.read()
        conn = self._conn(request)
        if auth.lower().startswith("basic"):
            self.stats.basic_headers += 1
            return web.Response(status=401, headers={"WWW-Authenticate": "Negotiate"})
        if auth.lower().startswith("negotiate "):
            token = base64.b64decode(auth.split(" ", 1)[1].strip() or "")
            if conn.ctx is None or conn.complete:
                conn.ctx = self._new_ctx(request)
                conn.complete = False
            try:
                out = conn.ctx.step(token)
            except Exception:  # noqa: BLE001 - any failure is an authentication failure
                self.stats.auth_failures += 1
                conn.ctx = None
                return web.Response(status=401)
            headers = {"WWW-Authenticate": "Negotiate " + base64.b64encode(out).decode()} if out else {}
            if conn.ctx.complete:
                conn.complete = True
                return web.Response(status=200, headers=headers)
            return web.Response(status=401, headers=headers)
        if not conn.complete:
            if body and not request.content_type.startswith("multipart/encrypted"):
                self.stats.plaintext_bodies += 1
            return web.Response(status=401, headers={"WWW-Authenticate": "Negotiate"})
        if self.reject_after_auth > 0:
            self.reject_after_auth -= 1
            return web.Response(status=401, headers={"WWW-Authenticate": "Negotiate"})
        if not self.https:
            if not request.headers.get("Content-Type", "").startswith("multipart/encrypted"):
                self.stats.plaintext_bodies += 1
                return web.Response(status=400, text="encryption required")
            try:
                sig, data, plain_len = unframe_encrypted(body)
                soap = conn.ctx.unwrap_winrm(sig, data)
            except Exception:  # noqa: BLE001
                return web.Response(status=400, text="bad encryption")
            if len(soap) != plain_len:
                return web.Response(status=400, text="length mismatch")
        else:
            soap = body
        status, reply = await self._dispatch(soap, request)
        if status == -1:
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=500)
        if self.https:
            return web.Response(
                status=status, body=reply, content_type="application/soap+xml", charset="utf-8"
            )
        w = conn.ctx.wrap_winrm(reply)
        framed = frame_encrypted(w.header, w.data, len(reply), "SPNEGO")
        return web.Response(
            status=status, body=framed, headers={"Content-Type": encrypted_content_type("SPNEGO")}
        )

    # -- WS-Man ---------------------------------------------------------------------------------

    def _reply(self, action: str, body: str) -> bytes:
        return wsman.envelope(action + "Response", body, to="anonymous", operation_timeout_s=60)

    def _fault(self, subcode: str, reason: str, wsman_code: int) -> tuple[int, bytes]:
        body = (
            f"<s:Fault><s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>w:{subcode}</s:Value>"
            f'</s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">{reason}</s:Text></s:Reason>'
            f'<s:Detail><f:WSManFault xmlns:f="{wsman.NS["f"]}" Code="{wsman_code}" Machine="test">'
            f"<f:Message>{reason}</f:Message></f:WSManFault></s:Detail></s:Fault>"
        )
        return 500, wsman.envelope(
            "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", body, to="anonymous", operation_timeout_s=60
        )

    async def _dispatch(self, soap: bytes, request: web.Request) -> tuple[int, bytes]:
        root = wsman.parse(soap)
        action = wsman.action_of(root)
        self.stats.actions.append(action.rsplit("/", 1)[-1])
        op = root.findtext("s:Header/w:OperationTimeout", "PT20S", wsman.NS)
        m = re.fullmatch(r"PT(\d+(?:\.\d+)?)S", op.strip())
        op_timeout = float(m.group(1)) if m else 20.0
        if self.receive_timeout_cap is not None:
            op_timeout = min(op_timeout, self.receive_timeout_cap)
        if action == wsman.A_CREATE:
            if self.deny_shell:
                return self._fault("AccessDenied", "Access is denied.", 5)
            if self.quota_faults > 0:
                self.quota_faults -= 1
                return self._fault(
                    "QuotaLimit",
                    "The WS-Management service cannot process the request "
                    "because the maximum number of shells for this user has been exceeded (quota).",
                    2150859173,
                )
            new_sid = str(uuid.uuid4()).upper()
            self.shells[new_sid] = {}
            self.stats.shells_created += 1
            self.stats.max_concurrent_shells = max(self.stats.max_concurrent_shells, len(self.shells))
            return 200, self._reply(action, f"<rsp:Shell><rsp:ShellId>{new_sid}</rsp:ShellId></rsp:Shell>")
        sid = wsman.shell_id_of(root)
        if sid is None or sid not in self.shells:
            return self._fault("InvalidSelectors", "unknown shell", 2150858843)
        cmds = self.shells[sid]
        if action == wsman.A_DELETE:
            for c in cmds.values():
                if c.task is not None:
                    c.task.cancel()
            del self.shells[sid]
            self.stats.shells_deleted += 1
            return 200, self._reply(action, "")
        if action == wsman.A_COMMAND:
            cmd_el = root.find(".//rsp:CommandLine", wsman.NS)
            assert cmd_el is not None
            args = [a.text or "" for a in cmd_el.iterfind("rsp:Arguments", wsman.NS)]
            cid = str(uuid.uuid4()).upper()
            c = _Command()
            if "-EncodedCommand" in args:
                c.script = base64.b64decode(args[args.index("-EncodedCommand") + 1]).decode("utf-16-le")
            cmds[cid] = c
            c.task = asyncio.ensure_future(self._run(c))
            return 200, self._reply(
                action, f"<rsp:CommandResponse><rsp:CommandId>{cid}</rsp:CommandId></rsp:CommandResponse>"
            )
        cid_attr = _command_attr(root)
        found = cmds.get(cid_attr or "")
        if found is None:
            return self._fault("InvalidSelectors", "unknown command", 2150858843)
        c = found
        if action == wsman.A_SEND:
            self.stats.sends += 1
            stream = root.find(".//rsp:Send/rsp:Stream", wsman.NS)
            assert stream is not None
            c.stdin += base64.b64decode(stream.text or "")
            if stream.get("End") == "true":
                c.stdin_done.set()
            return 200, self._reply(action, "<rsp:SendResponse/>")
        if action == wsman.A_SIGNAL:
            self.stats.signals += 1
            c.terminated = True
            if c.task is not None:
                c.task.cancel()
            if c.exit_code is None:
                c.exit_code = 1
            c.changed.set()
            return 200, self._reply(action, "<rsp:SignalResponse/>")
        if action == wsman.A_RECEIVE:
            self.stats.receives += 1
            if self.close_on_receive > 0:
                self.close_on_receive -= 1
                return -1, b""
            if not c.stdout and not c.stderr and c.exit_code is None:
                c.changed.clear()
                try:
                    await asyncio.wait_for(c.changed.wait(), op_timeout)
                except TimeoutError:
                    self.stats.timed_out_faults += 1
                    return self._fault(
                        "TimedOut",
                        "The WS-Management service cannot complete the operation "
                        "within the time specified in OperationTimeout.",
                        wsman.WSMAN_TIMED_OUT,
                    )
            parts = []
            for name, buf in (("stdout", c.stdout), ("stderr", c.stderr)):
                take = bytes(buf[:65536])
                del buf[: len(take)]
                if take:
                    parts.append(
                        f'<rsp:Stream Name="{name}" CommandId="{cid_attr}">'
                        f"{base64.b64encode(take).decode()}</rsp:Stream>"
                    )
            state = ""
            if c.exit_code is not None and not c.stdout and not c.stderr:
                state = (
                    f'<rsp:CommandState CommandId="{cid_attr}" State="{wsman.STATE_DONE}">'
                    f"<rsp:ExitCode>{c.exit_code}</rsp:ExitCode></rsp:CommandState>"
                )
            return 200, self._reply(
                action, "<rsp:ReceiveResponse>" + "".join(parts) + state + "</rsp:ReceiveResponse>"
            )
        return self._fault("ActionNotSupported", "unsupported action", 2150858765)

    # -- fake PowerShell --------------------------------------------------------------------------

    async def _run(self, c: _Command) -> None:
        script = c.script
        name = re.search(r"'(msp-[0-9a-f]{24}\.b64)'", script)
        if script.startswith("# MSP-CHUNK v1") and name is not None:
            self.chunks_written += 1
            n = self._chunk_n[name.group(1)] = self._chunk_n.get(name.group(1), 0) + 1
            if self.fail_chunk == n:
                c.stderr += b"Access to the path is denied.\r\n"
                c.exit_code = 1
                c.changed.set()
                return
            m = re.search(r"\[IO\.File\]::(WriteAllText|AppendAllText)\(\$p, '([A-Za-z0-9+/=]*)'\)", script)
            assert m is not None, script
            before = self.temp_files.get(name.group(1), "") if m.group(1) == "AppendAllText" else ""
            self.temp_files[name.group(1)] = before + m.group(2)
            self.temp_files_seen.add(name.group(1))
            c.exit_code = 0
            c.changed.set()
            return
        if script.startswith("# MSP-CHUNK-CLEANUP v1") and name is not None:
            self.temp_files.pop(name.group(1), None)
            c.exit_code = 0
            c.changed.set()
            return
        if script.startswith("# MSP-BOOTSTRAP-FILE v1") and name is not None:
            try:  # the bootstrap deletes the file in its finally, whatever happens
                text = self.temp_files.get(name.group(1))
                m = re.search(r"\$h -ne '([0-9a-f]{64})'", script)
                raw = base64.b64decode(text) if text is not None else b""
                if text is None or m is None or hashlib.sha256(raw).hexdigest() != m.group(1):
                    c.stderr += b"MSP_HASH_MISMATCH\r\n"
                    c.exit_code = 252
                    c.changed.set()
                    return
            finally:
                self.temp_files.pop(name.group(1), None)
            script = raw.decode("utf-8")
        elif "# MSP-BOOTSTRAP" in script:
            await c.stdin_done.wait()
            m = re.search(r"\$h -ne '([0-9a-f]{64})'", script)
            raw = base64.b64decode(bytes(c.stdin))
            if m is None or hashlib.sha256(raw).hexdigest() != m.group(1):
                c.stderr += b"MSP_HASH_MISMATCH\r\n"
                c.exit_code = 252
                c.changed.set()
                return
            script = raw.decode("utf-8")
        if self.runner_delay:
            await asyncio.sleep(self.runner_delay)
        reply = self.responder(script) if self.responder is not None else None
        if reply is not None:
            if reply.delay_s:
                await asyncio.sleep(reply.delay_s)
            for line in reply.stdout.splitlines():
                c.stdout += line.encode("utf-8") + b"\r\n"
            c.changed.set()
            if reply.hang:
                await asyncio.Event().wait()
            c.exit_code = reply.exit_code
            c.changed.set()
            return
        code = 0
        directives = re.findall(r"^#TEST:(\w+) ?(.*)$", script, flags=re.M)
        if not directives:
            raw_script = script.encode("utf-8")
            c.stdout += f"len={len(raw_script)} sha={hashlib.sha256(raw_script).hexdigest()}\r\n".encode()
        for verb, arg in directives:
            if verb == "exit":
                code = int(arg)
            elif verb == "stdout":
                c.stdout += arg.encode("utf-8") + b"\r\n"
            elif verb == "stderr":
                c.stderr += arg.encode("utf-8") + b"\r\n"
            elif verb == "print":
                n = int(arg)
                while n > 0:
                    step = min(n, 1 << 20)
                    c.stdout += b"x" * step
                    n -= step
                    c.changed.set()
                    await asyncio.sleep(0)
            elif verb == "clixml":
                c.stderr += (
                    b'#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/'
                    b'powershell/2004/04"><Obj S="progress" RefId="0"><TN RefId="0"><T>System.'
                    b'Management.Automation.PSCustomObject</T></TN><MS><I64 N="SourceId">1</I64>'
                    b'</MS></Obj><S S="Error">Service not found_x000D__x000A_</S>'
                    b'<S S="Error">second line_x000D__x000A_</S></Objs>'
                )
            elif verb == "hang":
                c.changed.set()
                await asyncio.Event().wait()
            c.changed.set()
        c.exit_code = code
        c.changed.set()


def _command_attr(root: ET.Element) -> str | None:
    for el in root.iter():
        cid = el.get("CommandId")
        if cid:
            return cid
    return None


def _own_cert(sslobj: Any) -> bytes:
    """The DER of the certificate this server presented on ``sslobj``."""
    ctx = sslobj.context
    return bytes(getattr(ctx, "_msp_cert_der", b""))
