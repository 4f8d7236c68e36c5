"""``python -m agent.central``: run the local Central Command or administer it.

    python -m agent.central serve --db central.db [--host 127.0.0.1 --port 8443 --tls-cert C --tls-key K]
    python -m agent.central admin --db central.db create-site lakeside
    python -m agent.central admin --url http://127.0.0.1:8080 --token T create-key lakeside

``serve`` prints one JSON line ``{"url", "admin_token", "server_public_key"}`` once it listens.
``admin`` works directly on the database (``--db``, also while the server runs: SQLite WAL) or
through a running server's ``/admin`` API (``--url`` and ``--token``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import ssl
import sys
import urllib.request
from pathlib import Path
from typing import Any

from agent.central.server import CentralCommand


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m agent.central", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the server until SIGINT/SIGTERM")
    s.add_argument("--db", type=Path, required=True)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--tls-cert", type=Path)
    s.add_argument("--tls-key", type=Path)
    s.add_argument("--signing-seed-hex", help="64 hex chars: fixed server signing key (tests, demos)")
    s.add_argument("--admin-token", help="admin API token (default: random, printed at start)")

    a = sub.add_parser("admin", help="administer a server (database or /admin API)")
    target = a.add_mutually_exclusive_group(required=True)
    target.add_argument("--db", type=Path)
    target.add_argument("--url")
    a.add_argument("--token", help="admin token for --url")
    acts = a.add_subparsers(dest="action", required=True)
    cs = acts.add_parser("create-site")
    cs.add_argument("site_id")
    ck = acts.add_parser("create-key")
    ck.add_argument("site_id")
    ck.add_argument("--appliance-id")
    io = acts.add_parser("issue-order")
    io.add_argument("site_id")
    io.add_argument("order_type")
    io.add_argument("--params", default="{}", help="JSON object of parameters")
    io.add_argument("--appliance-id")
    io.add_argument("--ttl", type=int, default=3600)
    io.add_argument("--fleet", action="store_true")
    sc = acts.add_parser("set-credentials")
    sc.add_argument("site_id")
    sc.add_argument(
        "--file", type=Path, required=True, help='JSON {"windows_targets": [...], "linux_targets": [...]}'
    )
    return p


async def _serve(args: argparse.Namespace) -> int:
    ctx: ssl.SSLContext | None = None
    if args.tls_cert or args.tls_key:
        if not (args.tls_cert and args.tls_key):
            print("--tls-cert and --tls-key go together", file=sys.stderr)
            return 2
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
    seed = bytes.fromhex(args.signing_seed_hex) if args.signing_seed_hex else None
    cc = CentralCommand(
        args.db,
        host=args.host,
        port=args.port,
        ssl_context=ctx,
        signing_seed=seed,
        admin_token=args.admin_token,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await cc.start()
    print(
        json.dumps({"url": cc.url, "admin_token": cc.admin_token, "server_public_key": cc.server_public_key}),
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await cc.stop()
        cc.close()
    return 0


def _admin_http(url: str, token: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    if not url.startswith(
        (
            "http://127.",
            "https://127.",
            "http://localhost",
            "https://localhost",
            "http://[::1]",
            "https://[::1]",
        )
    ):
        raise SystemExit("the admin API is loopback-only")
    req = urllib.request.Request(  # noqa: S310 - loopback http(s) URL checked above
        url.rstrip("/") + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=15) as resp:  # noqa: S310 - loopback URL checked above
        result: dict[str, Any] = json.loads(resp.read())
        return result


def _admin(args: argparse.Namespace) -> int:
    act = args.action
    if act == "create-site":
        path, body = "/admin/sites", {"site_id": args.site_id}
    elif act == "create-key":
        path, body = "/admin/keys", {"site_id": args.site_id, "appliance_id": args.appliance_id}
    elif act == "issue-order":
        path, body = (
            "/admin/orders",
            {
                "site_id": args.site_id,
                "order_type": args.order_type,
                "parameters": json.loads(args.params),
                "appliance_id": args.appliance_id,
                "ttl_s": args.ttl,
                "fleet": args.fleet,
            },
        )
    else:
        creds = json.loads(args.file.read_text())
        path, body = (
            "/admin/credentials",
            {
                "site_id": args.site_id,
                "windows_targets": creds.get("windows_targets", []),
                "linux_targets": creds.get("linux_targets", []),
            },
        )
    if args.url:
        if not args.token:
            print("--url needs --token", file=sys.stderr)
            return 2
        print(json.dumps(_admin_http(args.url, args.token, path, body)))
        return 0
    cc = CentralCommand(args.db)
    try:
        result: dict[str, Any] = {"status": "ok"}
        if act == "create-site":
            cc.create_site(body["site_id"])
        elif act == "create-key":
            result["api_key"] = cc.create_api_key(body["site_id"], appliance_id=body["appliance_id"])
        elif act == "issue-order":
            site = body.pop("site_id")
            result["order_id"] = cc.issue_order(site, body.pop("order_type"), body.pop("parameters"), **body)
        else:
            cc.set_credentials(body["site_id"], body["windows_targets"], body["linux_targets"])
    finally:
        cc.close()
    print(json.dumps(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return asyncio.run(_serve(args))
    return _admin(args)
