"""``/admin/*``: the admin API over HTTP for the CLI and the demo.

Loopback clients only, ``Authorization: Bearer <admin token>`` (``CentralCommand.admin_token``).
Bodies are JSON objects whose keys are the keyword arguments of the matching Python method.
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from agent.central.errors import ApiError, json_response


class AdminTarget(Protocol):
    """What the admin routes drive (:class:`agent.central.server.CentralCommand`)."""

    admin_token: str

    def create_site(self, site_id: str) -> None: ...

    def create_api_key(self, site_id: str, *, appliance_id: str | None = None) -> str: ...

    def deactivate_api_key(self, key: str) -> None: ...

    def revoke_api_key(self, key: str) -> None: ...

    def issue_order(self, site_id: str, order_type: str, parameters: dict[str, Any], *,
                    appliance_id: str | None = None, ttl_s: int = 3600, fleet: bool = False,
                    priority: int | None = None) -> str: ...

    def set_credentials(self, site_id: str, windows_targets: list[dict[str, Any]],
                        linux_targets: list[dict[str, Any]]) -> None: ...

    def set_directives(self, site_id: str, **kw: Any) -> None: ...

    def set_sigauth_enforce(self, appliance_id: str, enforce: bool) -> None: ...

    def rotate_signing_key(self, new_seed: bytes | None = None) -> None: ...

    def inject_fault(self, path: str, *, status: int | None = None, body: bytes | None = None,
                     delay_s: float = 0, count: int = 1, headers: dict[str, str] | None = None,
                     content_type: str = "application/json") -> None: ...

    def records(self, kind: str, site_id: str | None = None) -> list[dict[str, Any]]: ...

    @property
    def server_public_keys(self) -> list[str]: ...

_READERS = (
    "checkins",
    "completions",
    "orders",
    "evidence",
    "logs",
    "executions",
    "incidents",
    "appliances",
    "witness_attestations",
    "connected_agents",
)
MAX_ADMIN_BODY = 1024 * 1024


def _is_loopback(remote: str | None) -> bool:
    if not remote:
        return False
    try:
        return ipaddress.ip_address(remote.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _check(cc: AdminTarget, request: web.Request) -> None:
    if not _is_loopback(request.remote):
        raise ApiError(403, "Admin API is loopback-only")
    header = request.headers.get("Authorization", "")
    token = header[7:] if header.startswith("Bearer ") else ""
    if not hmac.compare_digest(token.encode(), cc.admin_token.encode()):
        raise ApiError(401, "Invalid admin token")


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if len(raw) > MAX_ADMIN_BODY:
        raise ApiError(413, "Request Entity Too Large")
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        raise ApiError(400, "Invalid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "Body must be a JSON object")
    return data


def admin_routes(cc: AdminTarget) -> list[web.RouteDef]:
    def action(fn: Callable[[dict[str, Any]], Any]) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            _check(cc, request)
            data = await _body(request)
            try:
                result = fn(data)
            except (TypeError, ValueError, KeyError) as exc:
                raise ApiError(400, str(exc)) from None
            return json_response({"status": "ok", **(result or {})})

        return handler

    def fault(d: dict[str, Any]) -> None:
        body = d.pop("body", None)
        body_b64 = d.pop("body_b64", None)
        raw = (
            base64.b64decode(body_b64)
            if body_b64 is not None
            else (body.encode() if isinstance(body, str) else None)
        )
        cc.inject_fault(d.pop("path"), body=raw, **d)

    async def read(request: web.Request) -> web.Response:
        _check(cc, request)
        kind = request.match_info["kind"]
        site_id = request.query.get("site_id")
        items = getattr(cc, kind)(site_id) if kind in _READERS else cc.records(kind, site_id)
        return json_response(items)

    return [
        web.post("/admin/sites", action(lambda d: cc.create_site(d["site_id"]))),
        web.post("/admin/keys", action(lambda d: {"api_key": cc.create_api_key(**d)})),
        web.post("/admin/keys/deactivate", action(lambda d: cc.deactivate_api_key(d["api_key"]))),
        web.post("/admin/keys/revoke", action(lambda d: cc.revoke_api_key(d["api_key"]))),
        web.post("/admin/orders", action(lambda d: {"order_id": cc.issue_order(**d)})),
        web.post("/admin/credentials", action(lambda d: cc.set_credentials(**d))),
        web.post("/admin/directives", action(lambda d: cc.set_directives(d.pop("site_id"), **d))),
        web.post("/admin/sigauth", action(lambda d: cc.set_sigauth_enforce(**d))),
        web.post("/admin/rotate-key", action(lambda d: cc.rotate_signing_key())),
        web.post("/admin/faults", action(fault)),
        web.get("/admin/server-keys", action(lambda d: {"server_public_keys": cc.server_public_keys})),
        web.get("/admin/read/{kind}", read),
    ]
