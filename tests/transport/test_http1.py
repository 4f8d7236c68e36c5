"""The Central Command client (h11 on asyncio streams) against a real TLS server on loopback that
misbehaves on cue: keep-alive, caps mid-body, deadlines, closed connections, pins, bad HTTP."""

from __future__ import annotations

import asyncio
import gzip
import socket

import pytest
import trustme
from tests.checkin.conftest import client_context
from tests.transport.conftest import Env, Handler, Seen, answer, ok, response

from agent.http1 import Headers, HttpError, Origin, connect
from agent.transport import CentralClient, TransportError
from agent.transport.client import MAX_IDLE, Endpoint

KiB = 1024
EP = Endpoint("test", 10.0, 1 * KiB, secondary=False)
BIG = Endpoint("big", 10.0, 64 * KiB, secondary=False)


async def _fails(client: CentralClient, endpoint: Endpoint = EP, method: str = "POST",
                 body: bytes | None = b"{}") -> TransportError:
    with pytest.raises(TransportError) as info:
        await client.request(method, "/x", body, endpoint)
    if info.value.kind != "breaker_open":  # refused before trying: not a transport error
        assert client.last_error_kind == info.value.kind
    return info.value


async def test_keepalive_two_requests_one_connection(env: Env) -> None:
    c = env.client()
    try:
        r1 = await c.request("POST", "/api/a", b'{"n":1}', EP)
        r2 = await c.request("GET", "/api/b?x=1", None, EP)
    finally:
        await c.close()
    assert (r1.status, r1.body) == (200, b'{"ok":true}') and r2.status == 200
    assert env.server.connections == 1
    assert [(r.conn, r.method, r.target) for r in env.server.requests] == [
        (0, "POST", "/api/a"), (0, "GET", "/api/b?x=1")]
    first = env.server.requests[0]
    assert first.body == b'{"n":1}' and first.headers["content-type"] == "application/json"
    assert first.headers["authorization"] == "Bearer test-api-key"
    assert first.headers["host"] == f"127.0.0.1:{env.server.port}"
    assert first.headers["user-agent"].startswith("OsirisCare-Appliance/")
    assert first.headers["accept-encoding"] == "gzip"


async def test_request_body_bytes_go_out_as_given(env: Env) -> None:
    packed = gzip.compress(b'{"logs":[]}', mtime=0)
    c = env.client()
    try:
        await c.request("POST", "/api/logs/ingest", memoryview(bytearray(packed)), EP,
                        headers={"Content-Encoding": "gzip"})
    finally:
        await c.close()
    (req,) = env.server.requests
    assert req.body == packed and req.headers["content-encoding"] == "gzip"


async def _statuses(c: CentralClient, n: int) -> list[int]:
    """``n`` requests in turn, then close the client."""
    try:
        return [(await c.request("POST", "/x", b"{}", EP)).status for _ in range(n)]
    finally:
        await c.close()


async def _refused(env: Env, handler: Handler, endpoint: Endpoint = EP) -> TransportError:
    env.server.handler = handler
    c = env.client()
    try:
        return await _fails(c, endpoint)
    finally:
        await c.close()


async def test_chunked_body_over_cap_is_refused_mid_body(env: Env) -> None:
    # 2 KiB against a 1 KiB cap, and the body never ends: only the cap can stop the read
    chunks = answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + (b"200\r\n" + b"x" * 512 + b"\r\n") * 4, "stall")

    async def chunked(req: Seen, w: asyncio.StreamWriter) -> bool:
        return await (ok if req.conn > 0 else chunks)(req, w)

    env.server.handler = chunked
    c = env.client()
    try:
        assert (await _fails(c)).kind == "too_large"
        assert (await c.request("POST", "/x", b"{}", EP)).status == 200
    finally:
        await c.close()
    assert env.server.connections == 2  # the refused connection was not reused


async def test_declared_length_over_cap_is_refused_before_the_body(env: Env) -> None:
    huge = answer(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n" + b"x" * 100, "stall")
    assert (await _refused(env, huge)).kind == "too_large"


async def test_read_until_close_body_over_cap(env: Env) -> None:
    unframed = answer(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + b"y" * (2 * KiB), "stall")
    assert (await _refused(env, unframed)).kind == "too_large"


async def test_gzip_response_is_decoded(env: Env) -> None:
    env.server.handler = answer(response(gzip.compress(b'{"status":"ok"}'),
                                         headers=("Content-Encoding: gzip",)))
    c = env.client()
    try:
        resp = await c.request("POST", "/x", b"{}", EP)
        again = await c.request("POST", "/x", b"{}", EP)
    finally:
        await c.close()
    assert resp.body == again.body == b'{"status":"ok"}'
    assert env.server.connections == 1


async def test_gzip_bomb_is_refused_at_the_cap(env: Env) -> None:
    bomb = gzip.compress(b"\0" * (8 * 1024 * KiB))  # ~8 KiB on the wire, 8 MiB decoded
    assert len(bomb) < BIG.cap
    packed = answer(response(bomb, headers=("Content-Encoding: gzip",)))
    assert (await _refused(env, packed, BIG)).kind == "too_large"


async def test_bad_gzip_and_unknown_encoding_are_server_errors(env: Env) -> None:
    answers = [response(b"not gzip at all", headers=("Content-Encoding: gzip",)),
               response(gzip.compress(b'{"a":1}')[:-6], headers=("Content-Encoding: gzip",)),
               response(b"{}", headers=("Content-Encoding: br",))]

    async def bad(req: Seen, w: asyncio.StreamWriter) -> bool:
        w.write(answers[len(env.server.requests) - 1])
        await w.drain()
        return True

    env.server.handler = bad
    c = env.client()
    try:
        errors = [await _fails(c) for _ in answers]
    finally:
        await c.close()
    assert [e.kind for e in errors] == ["server"] * 3
    assert "gzip" in str(errors[0]) and "truncated" in str(errors[1]) and "'br'" in str(errors[2])


async def test_deadline_when_the_server_stalls_after_headers(env: Env) -> None:
    stalled = answer(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "stall")

    async def stall(req: Seen, w: asyncio.StreamWriter) -> bool:
        return await (ok if req.conn > 0 else stalled)(req, w)

    env.server.handler = stall
    c = env.client()
    short = Endpoint("short", 0.5, 1 * KiB, secondary=False)
    try:
        err = await _fails(c, short)
        assert err.kind == "timeout" and "short" in str(err)
        assert (await c.request("POST", "/x", b"{}", EP)).status == 200
    finally:
        await c.close()
    assert env.server.connections == 2


async def test_server_closing_a_kept_alive_connection(env: Env) -> None:
    # no Connection: close header: the client finds out by itself
    env.server.handler = answer(response(), "close")
    c = env.client()
    assert await _statuses(c, 3) == [200] * 3
    assert env.server.connections == 3
    assert [r.conn for r in env.server.requests] == [0, 1, 2]  # nothing sent twice


async def test_idle_close_race_retries_once_on_a_fresh_connection(env: Env) -> None:
    async def drop_second(req: Seen, w: asyncio.StreamWriter) -> bool:
        if req.conn == 0 and len(env.server.on(0)) == 2:
            return False  # the server closes the idle connection as the request arrives
        return await ok(req, w)

    env.server.handler = drop_second
    c = env.client()
    try:
        assert (await c.request("POST", "/a", b"{}", EP)).status == 200
        assert (await c.request("POST", "/b", b"{}", EP)).status == 200
    finally:
        await c.close()
    assert [(r.conn, r.target) for r in env.server.requests] == [(0, "/a"), (0, "/b"), (1, "/b")]


async def test_post_is_not_resent_once_response_bytes_arrived(env: Env) -> None:
    async def partial_second(req: Seen, w: asyncio.StreamWriter) -> bool:
        if len(env.server.on(0)) == 2:
            w.write(b"HTTP/1.1 200 OK\r\nContent-Le")
            await w.drain()
            return False
        return await ok(req, w)

    env.server.handler = partial_second
    c = env.client()
    try:
        assert (await c.request("POST", "/a", b"{}", EP)).status == 200
        assert (await _fails(c)).kind == "server"
    finally:
        await c.close()
    assert [(r.conn, r.target) for r in env.server.requests] == [(0, "/a"), (0, "/x")]


async def test_fresh_connection_closed_without_answer_is_not_retried(env: Env) -> None:
    err = await _refused(env, answer(b"", "close"))
    assert err.kind == "server" and "without answering" in str(err)
    assert len(env.server.requests) == 1


async def test_connection_close_header_is_honoured(env: Env) -> None:
    # the server would keep the connection; the client must not
    env.server.handler = answer(response(headers=("Connection: close",)))
    c = env.client()
    assert await _statuses(c, 2) == [200, 200]
    assert env.server.connections == 2


async def test_expired_idle_connection_is_not_reused(env: Env) -> None:
    c = env.client()
    c.pool.keepalive_s = 0.0
    assert await _statuses(c, 2) == [200, 200]
    assert env.server.connections == 2


async def test_concurrency_and_idle_are_bounded(env: Env) -> None:
    in_flight = 0
    peak = 0
    gate = asyncio.Event()

    async def gated(req: Seen, w: asyncio.StreamWriter) -> bool:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        if in_flight >= MAX_IDLE:
            gate.set()
        await gate.wait()
        in_flight -= 1
        return await ok(req, w)

    env.server.handler = gated
    c = env.client()
    try:
        replies = await asyncio.gather(*(c.request("POST", "/x", b"{}", EP)
                                         for _ in range(MAX_IDLE + 3)))
        assert c.pool.idle <= MAX_IDLE
    finally:
        await c.close()
    assert [r.status for r in replies] == [200] * (MAX_IDLE + 3)
    assert peak == MAX_IDLE and env.server.connections == MAX_IDLE


async def test_pin_mismatch_refuses_before_a_byte_is_sent(env: Env) -> None:
    c = env.client(pins=("00" * 32,))
    try:
        err = await _fails(c)
    finally:
        await c.close()
    assert err.kind == "pin" and "tls_pin_hash" in str(err)
    assert env.server.connections == 1 and env.server.requests == []  # handshake, then nothing
    assert c.pins is not None and c.pins.alert


async def test_first_connection_pins_the_chain(env: Env) -> None:
    c = env.client()
    try:
        await c.request("POST", "/x", b"{}", EP)
    finally:
        await c.close()
    assert (env.tmp / "tls_pins.json").exists()
    other = trustme.CA()
    c2 = env.client(ca=other)  # a chain that does not validate: TLS fails before pins
    try:
        assert (await _fails(c2)).kind == "tls"
    finally:
        await c2.close()


async def test_connection_refused(env: Env) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    env.server.port = port
    c = env.client()
    try:
        assert (await _fails(c)).kind == "connect"
    finally:
        await c.close()


async def test_malformed_http_is_a_clear_server_error(env: Env) -> None:
    err = await _refused(env, answer(b"HELLO THERE\r\n\r\n"))
    assert err.kind == "server" and "malformed HTTP response" in str(err)


async def test_headers_and_retry_after(env: Env) -> None:
    env.server.handler = answer(response(b"busy", "503 Service Unavailable",
                                         ("Retry-After: 120", "X-Two: a", "x-two: b")))
    c = env.client()
    try:
        resp = await c.request("POST", "/x", b"{}", EP)
    finally:
        await c.close()
    assert resp.status == 503 and resp.retry_after() == 120.0
    assert isinstance(resp.headers, Headers)
    assert resp.headers["retry-after"] == resp.headers.get("RETRY-AFTER") == "120"
    assert resp.headers.getall("X-Two") == ["a", "b"] and "x-two" in resp.headers


async def test_breaker_open_sends_nothing(env: Env) -> None:
    c = env.client()
    for _ in range(c.breaker.threshold):
        c.breaker.failure()
    try:
        err = await _fails(c, Endpoint("secondary", 5.0, KiB))
    finally:
        await c.close()
    assert err.kind == "breaker_open" and env.server.connections == 0


def test_headers_mapping() -> None:
    h = Headers([("Content-Type", "a"), ("X-A", "1"), ("x-a", "2")])
    assert h["content-type"] == "a" and h["X-A"] == "1" and h.getall("x-A") == ["1", "2"]
    assert list(h) == ["content-type", "x-a"] and len(h) == 2
    assert h.get("missing") is None and dict(h) == {"content-type": "a", "x-a": "1"}
    with pytest.raises(KeyError):
        h["missing"]


async def test_read_timeout_on_a_silent_peer(env: Env) -> None:
    """The per-read limit WinRM uses (its deadline is its own): a peer that stops sending."""
    env.server.handler = answer(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "stall")
    origin = Origin.parse(env.server.url)
    conn = await connect(origin, ssl_context=client_context(env.ca), connect_timeout=5.0,
                         tls_timeout=5.0)
    try:
        with pytest.raises(HttpError) as info:
            await conn.exchange("POST", "/wsman", [("Host", origin.authority)], b"<x/>", KiB,
                                read_timeout=0.2)
        assert not conn.reusable  # h11 is mid-response: never back in a pool
    finally:
        conn.abort()
    assert info.value.kind == "read_timeout" and not info.value.stale


async def test_deadline_covers_a_handshake_that_never_comes(env: Env) -> None:
    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # accepts TCP, never answers the TLS ClientHello

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    env.server.port = server.sockets[0].getsockname()[1]
    c = env.client()
    try:
        err = await _fails(c, Endpoint("short", 0.3, KiB, secondary=False))
    finally:
        await c.close()
        for w in held:
            w.close()
        server.close()
    assert err.kind == "timeout" and len(held) == 1


async def test_the_system_ca_bundle_is_loaded_only_for_a_tls_endpoint() -> None:
    import ssl

    from agent.crypto.keys import Ed25519Key
    from agent.transport import Credentials

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    plain = CentralClient(f"http://127.0.0.1:{port}", Credentials("k"),
                          identity=Ed25519Key.generate(), pins=None)
    with pytest.raises(HttpError):
        await plain._open()
    assert plain._ssl_context is None  # a plain-HTTP endpoint never made one
    tls = CentralClient(f"https://127.0.0.1:{port}", Credentials("k"),
                        identity=Ed25519Key.generate(), pins=None)
    assert tls._ssl_context is None  # not at construction (the start)
    ctx = tls.ssl_context
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2 and tls.ssl_context is ctx


def test_connecting_by_an_ascii_name_does_not_load_the_idna_codec(tmp_path: object) -> None:
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import asyncio, socket, sys
        import uvloop
        from agent.http1 import Origin, connect

        async def main():
            listener = socket.socket()
            listener.bind(("127.0.0.1", 0))  # a str host given to the loop would load it
            port = listener.getsockname()[1]
            server = await asyncio.start_server(lambda r, w: w.close(), sock=listener)
            conn = await connect(Origin.parse(f"http://localhost:{port}"), ssl_context=None,
                                 family=socket.AF_INET, connect_timeout=10, tls_timeout=10)
            conn.close()
            server.close()
            print("encodings.idna" in sys.modules)

        uvloop.run(main())
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
