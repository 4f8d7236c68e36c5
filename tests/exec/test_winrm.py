"""WinRM executor against the WS-Man test server (exec.md §7.2)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import ssl
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import trustme
from tests.winrm_testserver import WsmanTestServer

from agent.exec import ErrorKind, ExecRequest, Stage, Target, Transport, WinrmCredential
from agent.exec.winrm import WinrmExecutor, decode_clixml, plan_delivery
from agent.exec.winrm_transport import frame_encrypted, unframe_encrypted

USER = "CLINIC\\svc-msp"
PASSWORD = "Winrm-Passw0rd!"


@pytest.fixture(autouse=True)
def ntlm_users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    f = tmp_path / "ntlm_users"
    f.write_text(f"CLINIC:svc-msp:{PASSWORD}\n")
    monkeypatch.setenv("NTLM_USER_FILE", str(f))
    yield


def _server_ctx(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert = ca.issue_cert("127.0.0.1")
    cert.configure_cert(ctx)
    ctx._msp_cert_der = ssl.PEM_cert_to_DER_cert(cert.cert_chain_pems[0].bytes().decode())  # type: ignore[attr-defined]
    return ctx


@pytest.fixture
async def http_server() -> AsyncIterator[WsmanTestServer]:
    srv = WsmanTestServer()
    await srv.start()
    yield srv
    await srv.stop()


@pytest.fixture
async def https_server() -> AsyncIterator[WsmanTestServer]:
    ca = trustme.CA()
    srv = WsmanTestServer(
        https=True, ssl_context=_server_ctx(ca), alt_ssl_context=_server_ctx(trustme.CA()), require_cbt=True
    )
    await srv.start()
    yield srv
    await srv.stop()


def cred(password: str = PASSWORD, use_ssl: bool = False) -> WinrmCredential:
    return WinrmCredential(USER, password, use_ssl=use_ssl)


def http_exec(state: Path, srv: WsmanTestServer, **kw: Any) -> WinrmExecutor:
    # 5986 role on a closed port: the selection falls back to HTTP with message encryption.
    from .sshd import free_port

    return WinrmExecutor(state, http_port=srv.port, https_port=free_port(), **kw)


TGT = Target(Transport.WINRM, "127.0.0.1", None, "windows")


async def test_ntlm_http_encrypted(tmp_path: Path, http_server: WsmanTestServer) -> None:
    ex = http_exec(tmp_path, http_server)
    lines: list[str] = []
    res = await ex.run(
        TGT,
        cred(),
        ExecRequest(
            "#TEST:stdout hello\n#TEST:stdout wörld\n#TEST:exit 0",
            deadline_s=20,
            on_line=lambda ln, cut: lines.append(ln),
        ),
    )
    assert res.ok, res.error
    assert res.stdout == "hello\r\nwörld\r\n" and lines == ["hello", "wörld"]
    assert res.port == http_server.port
    assert http_server.stats.plaintext_bodies == 0 and http_server.stats.basic_headers == 0
    assert http_server.open_shells == 0 and http_server.stats.shells_deleted == 1
    res = await ex.run(TGT, cred(), ExecRequest("#TEST:exit 7", deadline_s=20))
    assert res.exit_code == 7 and res.error is not None and res.error.kind is ErrorKind.REMOTE_NONZERO_EXIT
    assert http_server.open_shells == 0


async def test_wrong_password(tmp_path: Path, http_server: WsmanTestServer) -> None:
    ex = http_exec(tmp_path, http_server)
    res = await ex.run(
        TGT, cred("wrong-password"), ExecRequest("#TEST:exit 0", deadline_s=20, idempotent=True)
    )
    assert res.error is not None and res.error.kind is ErrorKind.AUTH_FAILED
    assert res.attempts == 1 and not res.error.retryable
    assert http_server.stats.auth_failures == 1 and http_server.stats.shells_created == 0


async def test_https_tofu_pin_and_swap(tmp_path: Path, https_server: WsmanTestServer) -> None:
    ex = WinrmExecutor(tmp_path, https_port=https_server.port, http_port=1)
    c = cred(use_ssl=True)
    res = await ex.run(TGT, c, ExecRequest("#TEST:stdout hi", deadline_s=20))
    assert res.ok, res.error
    store = tmp_path / "winrm_pins.json"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    pins = json.loads(store.read_text())
    key = f"127.0.0.1:{https_server.port}"
    assert set(pins) == {key} and len(pins[key]["fingerprint"]) == 64
    assert pins[key]["first_seen"].endswith("Z")
    before = store.read_bytes()
    # The server now presents a different certificate to new connections.
    https_server.swap_cert = True
    created = https_server.stats.shells_created
    res = await ex.run(TGT, c, ExecRequest("#TEST:stdout hi", deadline_s=20, idempotent=True))
    assert res.error is not None and res.error.kind is ErrorKind.TLS_PIN_MISMATCH
    assert res.attempts == 1 and res.error.category == "security_error"
    assert https_server.stats.shells_created == created  # no request reached the server
    assert store.read_bytes() == before
    assert await ex.clear_pin("127.0.0.1", https_server.port)
    res = await ex.run(TGT, c, ExecRequest("#TEST:stdout hi", deadline_s=20))
    assert res.ok


async def test_auto_selects_https_when_5986_answers(tmp_path: Path, https_server: WsmanTestServer) -> None:
    ex = WinrmExecutor(tmp_path, https_port=https_server.port, http_port=1)
    res = await ex.run(TGT, cred(use_ssl=False), ExecRequest("#TEST:stdout hi", deadline_s=20))
    assert res.ok and res.port == https_server.port


@pytest.mark.parametrize("size", [1000, 7000, 200_000, 2_000_000])
async def test_inline_and_chunked_delivery(tmp_path: Path, http_server: WsmanTestServer, size: int) -> None:
    ex = http_exec(tmp_path, http_server)
    script = "# " + "s" * size + "\n"
    res = await ex.run(TGT, cred(), ExecRequest(script, deadline_s=60))
    assert res.ok, res.error
    _, payload = plan_delivery(script)
    import hashlib

    from agent.exec.preamble import ps_preamble

    full = (ps_preamble({}) + script).encode()
    assert res.stdout == f"len={len(full)} sha={hashlib.sha256(full).hexdigest()}\r\n"
    if size <= 3000:
        assert payload is None and http_server.stats.sends == 0
    else:
        assert payload is not None
        assert http_server.stats.sends == -(-len(payload) // 65536)
    assert http_server.open_shells == 0


async def test_timedout_repoll_and_deadline_cleanup(tmp_path: Path, http_server: WsmanTestServer) -> None:
    ex = http_exec(tmp_path, http_server)
    res = await ex.run(TGT, cred(), ExecRequest("#TEST:hang", deadline_s=3))
    assert res.error is not None and res.error.kind is ErrorKind.COMMAND_TIMEOUT
    assert http_server.stats.signals == 1 and http_server.open_shells == 0
    assert not res.remote_may_be_running
    acts = http_server.stats.actions
    assert acts[-2:] == ["Signal", "Delete"]


async def test_timedout_fault_is_repolled(tmp_path: Path, http_server: WsmanTestServer) -> None:
    http_server.runner_delay = 1.5
    http_server.receive_timeout_cap = 0.4
    ex = http_exec(tmp_path, http_server)
    res = await ex.run(TGT, cred(), ExecRequest("#TEST:stdout late", deadline_s=20))
    assert res.ok and res.stdout == "late\r\n"
    assert http_server.stats.timed_out_faults >= 2
    assert http_server.open_shells == 0


async def test_output_caps_and_clixml(tmp_path: Path, http_server: WsmanTestServer) -> None:
    ex = http_exec(tmp_path, http_server)
    res = await ex.run(TGT, cred(), ExecRequest("#TEST:print 5000000", deadline_s=30, stdout_cap=1 << 20))
    assert res.stdout_truncated and res.error is not None and res.error.kind is ErrorKind.OUTPUT_TRUNCATED
    assert http_server.open_shells == 0
    res = await ex.run(TGT, cred(), ExecRequest("#TEST:clixml\n#TEST:exit 1", deadline_s=30))
    assert res.stderr == "Service not found\r\nsecond line\r\n"
    assert decode_clixml("plain") == "plain"


async def test_access_denied_and_quota(tmp_path: Path, http_server: WsmanTestServer) -> None:
    ex = http_exec(tmp_path, http_server)
    http_server.deny_shell = True
    res = await ex.run(TGT, cred(), ExecRequest("#TEST:exit 0", deadline_s=20))
    assert res.error is not None and res.error.kind is ErrorKind.PRIVILEGE_FAILED and res.attempts == 1
    http_server.deny_shell = False
    http_server.quota_faults = 1
    res = await ex.run(TGT, cred(), ExecRequest("#TEST:exit 0", deadline_s=30))
    assert res.ok and res.attempts == 2


async def test_connection_drop_mid_receive(tmp_path: Path, http_server: WsmanTestServer) -> None:
    ex = http_exec(tmp_path, http_server)
    http_server.close_on_receive = 1
    res = await ex.run(TGT, cred(), ExecRequest("#TEST:exit 0", deadline_s=30))
    assert res.error is not None and res.error.kind is ErrorKind.CONNECTION_LOST and res.attempts == 1
    http_server.close_on_receive = 1
    res = await ex.run(TGT, cred(), ExecRequest("#TEST:exit 0", deadline_s=30, idempotent=True))
    assert res.ok and res.attempts == 2
    assert http_server.open_shells == 0  # the reconnect re-authenticated and deleted the shells
    assert http_server.stats.shells_created == http_server.stats.shells_deleted == 3
    # Two runs, three attempts, each drop followed by a new connection for the Delete.
    assert http_server.stats.connections == 5


class _FakeTransport:
    def __init__(self) -> None:
        self.closed = False

    def is_closing(self) -> bool:
        return self.closed


def test_server_auth_state_is_per_connection_not_per_id() -> None:
    # A dropped connection's transport is freed and the next connection's transport may get its
    # address (its id()): the new connection must still start unauthenticated.
    srv = WsmanTestServer()
    t1 = _FakeTransport()
    conn = srv._conn(SimpleNamespace(transport=t1))  # type: ignore[arg-type]
    conn.ctx, conn.complete = object(), True
    assert srv._conn(SimpleNamespace(transport=t1)) is conn  # type: ignore[arg-type]
    t1.closed = True
    del t1, conn
    t2 = _FakeTransport()  # in CPython usually at the freed address if nothing kept t1 alive
    fresh = srv._conn(SimpleNamespace(transport=t2))  # type: ignore[arg-type]
    assert not fresh.complete and fresh.ctx is None
    assert list(srv._conns.values()) == [fresh]  # the closed connection's entry is gone
    assert srv.stats.connections == 2


async def test_401_after_handshake(tmp_path: Path, http_server: WsmanTestServer) -> None:
    ex = http_exec(tmp_path, http_server)
    http_server.reject_after_auth = 1
    res = await ex.run(TGT, cred(), ExecRequest("#TEST:exit 0", deadline_s=20))
    assert res.error is not None and res.error.kind is ErrorKind.AUTH_FAILED


async def test_concurrency_bounds(tmp_path: Path, http_server: WsmanTestServer) -> None:
    http_server.runner_delay = 0.2
    ex = http_exec(tmp_path, http_server, per_host_concurrency=2, max_concurrency=6)
    results = await asyncio.gather(
        *(ex.run(TGT, cred(), ExecRequest("#TEST:exit 0", deadline_s=60)) for _ in range(8))
    )
    assert all(r.ok for r in results)
    assert http_server.stats.max_concurrent_shells <= 2
    assert http_server.open_shells == 0


async def test_cancellation_deletes_shell(tmp_path: Path, http_server: WsmanTestServer) -> None:
    ex = http_exec(tmp_path, http_server)
    task = asyncio.ensure_future(ex.run(TGT, cred(), ExecRequest("#TEST:hang", deadline_s=60)))
    for _ in range(100):
        if http_server.shells:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert http_server.open_shells == 0 and http_server.stats.signals == 1


def test_framing_roundtrip() -> None:
    body = frame_encrypted(b"S" * 16, b"ciphertext", 10, "SPNEGO")
    assert unframe_encrypted(body) == (b"S" * 16, b"ciphertext", 10)


def test_basic_auth_not_implemented() -> None:
    with pytest.raises(ValueError):
        WinrmCredential("u", "p", auth="basic")


# --- tempfile delivery (exec.md §3.6 compatibility fallback) ----------------------------------------


@pytest.mark.parametrize("size", [1000, 7000, 200_000])
async def test_tempfile_delivery(tmp_path: Path, http_server: WsmanTestServer, size: int) -> None:
    import hashlib

    from agent.exec.preamble import ps_preamble
    from agent.exec.winrm import TEMP_CHUNK_CHARS

    ex = http_exec(tmp_path, http_server, script_transfer="tempfile")
    script = "# " + "s" * size + "\n"
    res = await ex.run(TGT, cred(), ExecRequest(script, deadline_s=60))
    assert res.ok, res.error
    full = (ps_preamble({}) + script).encode()
    assert res.stdout == f"len={len(full)} sha={hashlib.sha256(full).hexdigest()}\r\n"
    assert http_server.stats.sends == 0  # never through stdin
    if size <= 3000:
        assert http_server.chunks_written == 0  # short scripts still go inline
    else:
        b64 = -(-len(full) // 3) * 4
        assert http_server.chunks_written == -(-b64 // TEMP_CHUNK_CHARS)
        (name,) = http_server.temp_files_seen
        assert re.fullmatch(r"msp-[0-9a-f]{24}\.b64", name)
    assert http_server.temp_files == {}  # deleted by the bootstrap's finally
    assert http_server.open_shells == 0


async def test_tempfile_chunk_failure_removes_the_partial_file(
    tmp_path: Path, http_server: WsmanTestServer
) -> None:
    ex = http_exec(tmp_path, http_server, script_transfer="tempfile")
    http_server.fail_chunk = 3
    res = await ex.run(TGT, cred(), ExecRequest("# " + "s" * 20_000 + "\n", deadline_s=60))
    assert res.error is not None and res.error.kind is ErrorKind.PROTOCOL_ERROR
    assert res.error.stage is Stage.TRANSFER and "chunk 3/" in res.error.message
    assert not res.error.started  # the script itself never ran (so the upload may be retried)
    assert http_server.chunks_written == 3 * res.attempts  # each attempt stopped at chunk 3
    assert http_server.temp_files == {}  # every partial file was removed
    assert http_server.open_shells == 0


async def test_tempfile_tampered_upload_is_refused(tmp_path: Path, http_server: WsmanTestServer) -> None:
    ex = http_exec(tmp_path, http_server, script_transfer="tempfile")
    seen: list[str] = []
    http_server.responder = lambda s: seen.append(s) or None  # type: ignore[func-returns-value]
    real = http_server._run

    async def tamper(c: Any) -> None:
        if c.script.startswith("# MSP-BOOTSTRAP-FILE"):
            for k, v in http_server.temp_files.items():
                http_server.temp_files[k] = "QUJD" + v[4:]  # another script, same length
        await real(c)

    http_server._run = tamper  # type: ignore[method-assign]
    res = await ex.run(TGT, cred(), ExecRequest("# " + "s" * 20_000 + "\n", deadline_s=60))
    assert res.error is not None and res.error.kind is ErrorKind.PROTOCOL_ERROR
    assert "verification" in res.error.message and seen == []  # never run
    assert http_server.temp_files == {}


def test_tempfile_commands_are_powershell_and_short() -> None:
    from tests.runbooks.test_powershell_syntax import syntax_errors

    from agent.exec.winrm import INLINE_MAX, TEMP_BOOTSTRAP, TEMP_CHUNK, TEMP_REMOVE, plan_tempfile

    plan = plan_tempfile("Write-Output 'x'\n" * 5000)
    for args in [*plan.chunks, plan.run, plan.cleanup]:
        assert len(args[-1]) <= INLINE_MAX
        text = base64.b64decode(args[-1]).decode("utf-16-le")
        assert syntax_errors(text.encode()) == [], text[:200]
        assert plan.name in text and "cmd" not in text.lower().split()
    for template in (TEMP_CHUNK, TEMP_BOOTSTRAP, TEMP_REMOVE):
        assert "{name}" in template
    with pytest.raises(ValueError):
        plan_tempfile("x", name="../../evil.ps1")


def test_an_unknown_script_transfer_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        WinrmExecutor(tmp_path, script_transfer="smb")
