"""Fault injection, TLS with a trustme CA, the /admin API and the CLI."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
import trustme

from agent.central import CentralCommand
from agent.protocol import decode_checkin_response

from .conftest import CHECKIN, SERVER_SEED, SITE, Api, FakeClock, compact, sample_request


async def test_fault_status_body_headers_count(api: Api, key: str, cc: CentralCommand) -> None:
    cc.inject_fault(
        CHECKIN, status=503, body=b'{"detail":"maintenance"}', count=2, headers={"Retry-After": "120"}
    )
    for _ in range(2):
        reply = await api.checkin(key=key)
        assert reply.status == 503 and reply.headers["Retry-After"] == "120"
        assert reply.json() == {"detail": "maintenance"}
    assert (await api.checkin(key=key)).status == 200
    # faulted requests never reached the handler
    assert len(cc.checkins(SITE)) == 1


async def test_fault_malformed_and_oversized(api: Api, key: str, cc: CentralCommand) -> None:
    cc.inject_fault(CHECKIN, status=200, body=b'{"status": "ok", "pending_orders": [')
    reply = await api.checkin(key=key)
    assert reply.status == 200 and reply.body.endswith(b"[")
    big = b'{"pad":"' + b"x" * (11 * 1024 * 1024) + b'"}'
    cc.inject_fault(CHECKIN, status=200, body=big)
    reply = await api.checkin(key=key)
    assert len(reply.body) == len(big)
    cc.inject_fault(CHECKIN, status=500, body=b"Internal Server Error", content_type="text/plain")
    reply = await api.checkin(key=key)
    assert reply.status == 500 and reply.headers["Content-Type"].startswith("text/plain")


async def test_fault_delay_then_handler(api: Api, key: str, cc: CentralCommand) -> None:
    cc.inject_fault(CHECKIN, delay_s=0.8)
    with pytest.raises(asyncio.TimeoutError):
        await api.request("POST", CHECKIN, compact(sample_request()), key=key, deadline_s=0.1)
    cc.inject_fault(CHECKIN, delay_s=0.05)
    assert (await api.checkin(key=key)).status == 200  # a delay-only fault still reaches the handler


async def test_fault_on_other_path(api: Api, key: str, cc: CentralCommand) -> None:
    cc.inject_fault("/api/orders/ORD-1/complete", status=502, body=b"bad gateway", content_type="text/plain")
    reply = await api.post("/api/orders/ORD-1/complete", {"success": True}, key=key)
    assert reply.status == 502
    reply = await api.post("/api/orders/ORD-1/complete", {"success": True}, key=key)
    assert reply.status == 404


async def test_tls_checkin(tmp_path: Path, clock: FakeClock) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    cc = CentralCommand(tmp_path / "tls.db", ssl_context=server_ctx, signing_seed=SERVER_SEED, clock=clock)
    await cc.start()
    try:
        assert cc.url.startswith("https://127.0.0.1:")
        cc.create_site(SITE)
        key = cc.create_api_key(SITE)
        client_ctx = ssl.create_default_context()
        ca.configure_trust(client_ctx)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client_ctx)) as session:
            api = Api(session, cc, clock)
            reply = await api.checkin(key=key)
            assert reply.status == 200
            assert decode_checkin_response(reply.body).appliance_id == f"{SITE}-52:54:00:AB:CD:EF"
        async with aiohttp.ClientSession() as session:  # system trust store: the CA is unknown
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await session.get(cc.url + "/agent/sync?site_id=x")
    finally:
        await cc.stop()
        cc.close()


async def test_admin_http_api(api: Api, cc: CentralCommand) -> None:
    auth = {"Authorization": f"Bearer {cc.admin_token}"}
    reply = await api.post("/admin/sites", {"site_id": "clinic-b"})
    assert reply.status == 401
    reply = await api.post("/admin/sites", {"site_id": "clinic-b"}, headers=auth)
    assert reply.status == 200
    key = (await api.post("/admin/keys", {"site_id": "clinic-b"}, headers=auth)).json()["api_key"]
    order = await api.post(
        "/admin/orders",
        {"site_id": "clinic-b", "order_type": "force_checkin", "parameters": {}},
        headers=auth,
    )
    assert order.status == 200
    await api.post(
        "/admin/faults",
        {"path": "/api/agent/l2/plan", "status": 503, "body": '{"detail":"L2 unavailable"}'},
        headers=auth,
    )
    reply = await api.post("/api/agent/l2/plan", {}, key=key)
    assert reply.status == 503
    data = (await api.checkin(key=key)).json()
    assert data["pending_orders"][0]["order_id"] == order.json()["order_id"]
    rows = (await api.request("GET", "/admin/read/checkins?site_id=clinic-b", headers=auth)).json()
    assert len(rows) == 1 and rows[0]["sigauth"] == "unknown_pubkey"
    reply = await api.post(
        "/admin/orders", {"site_id": "nope", "order_type": "x", "parameters": {}}, headers=auth
    )
    assert reply.status == 400


def test_cli_admin_on_database(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"

    def run(*args: str) -> dict[str, object]:
        out = subprocess.run(
            [sys.executable, "-m", "agent.central", "admin", "--db", str(db), *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
        return result

    assert run("create-site", "clinic-c")["status"] == "ok"
    key = run("create-key", "clinic-c")["api_key"]
    assert isinstance(key, str) and len(key) == 43
    order_id = run("issue-order", "clinic-c", "nix_gc", "--params", '{"older_than_days": 7}')["order_id"]
    creds = tmp_path / "creds.json"
    creds.write_text(json.dumps({"windows_targets": [{"hostname": "dc1", "username": "u", "password": "p"}]}))
    run("set-credentials", "clinic-c", "--file", str(creds))
    cc = CentralCommand(db)
    try:
        assert [o["order_id"] for o in cc.orders("clinic-c")] == [order_id]
    finally:
        cc.close()


def test_cli_serve(tmp_path: Path) -> None:
    import signal
    import urllib.error
    import urllib.request

    proc = subprocess.Popen(
        [sys.executable, "-m", "agent.central", "serve", "--db", str(tmp_path / "s.db"), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        info = {}
        for line in proc.stdout:  # log lines may precede the JSON info line
            if line.startswith('{"url"'):
                info = json.loads(line)
                break
        assert info["url"].startswith("http://127.0.0.1:")
        req = urllib.request.Request(info["url"] + "/api/appliances/checkin", data=b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code == 401
        assert json.loads(err.value.read()) == {"detail": "Missing or invalid Authorization header"}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
