"""The aiohttp application: routes, the error middleware and the two small handlers that need no
module of their own (order completion, rule sync)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from urllib.parse import unquote

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from agent.central import checkin, evidence, provisioning, rekey, telemetry
from agent.central.auth import authenticate, require_site
from agent.central.context import MAX_BODY_BYTES, Services, read_model
from agent.central.errors import (
    ApiError,
    InternalError,
    detail_response,
    internal_error_response,
    json_response,
)
from agent.central.rules import rule_bundle
from agent.log import get_logger
from agent.protocol.orders import OrderCompletion

log = get_logger("central")

_ORDERS_PREFIX = "/api/orders/"
_COMPLETE_SUFFIX = "/complete"

ServiceHandler = Callable[[Services, web.Request], Awaitable[web.Response]]


async def handle_complete(svc: Services, request: web.Request) -> web.Response:
    """``POST /api/orders/{order_id}/complete``; the id is one percent-encoded segment."""
    raw_path = request.raw_path.split("?", 1)[0]
    segment = raw_path[len(_ORDERS_PREFIX) : -len(_COMPLETE_SUFFIX)]
    if (
        not raw_path.startswith(_ORDERS_PREFIX)
        or not raw_path.endswith(_COMPLETE_SUFFIX)
        or not segment
        or "/" in segment
    ):
        raise ApiError(404, "Not Found")
    try:
        order_id = unquote(segment, errors="strict")
    except UnicodeDecodeError:
        raise ApiError(404, "Not Found") from None
    ctx = authenticate(svc.db, request)
    body, _ = await read_model(request, OrderCompletion)
    return json_response(svc.orders.complete(ctx, order_id, body))


async def handle_rules(svc: Services, request: web.Request) -> web.Response:
    ctx = authenticate(svc.db, request)
    site_id = request.query.get("site_id")
    if site_id is None:
        raise ApiError(422, [{"type": "missing", "loc": ["query", "site_id"], "msg": "Field required"}])
    require_site(ctx, site_id)
    site = svc.site_row(site_id)
    return json_response(rule_bundle(svc.keys, site["rules"] if site else None))


def error_middleware() -> Middleware:
    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            return detail_response(exc.status, exc.detail, exc.headers or None)
        except InternalError as exc:
            log.warning(
                "central.internal_error",
                "answering 500 like the real server",
                path=request.path,
                reason=str(exc),
            )
            return internal_error_response()
        except web.HTTPRequestEntityTooLarge:
            return detail_response(413, "Request Entity Too Large")
        except web.HTTPNotFound:
            return detail_response(404, "Not Found")
        except web.HTTPMethodNotAllowed:
            return detail_response(405, "Method Not Allowed")
        except web.HTTPException as exc:
            return detail_response(exc.status, exc.reason)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - FastAPI answers 500 plain text for unhandled errors
            log.error("central.unhandled", "unhandled error", exc=True, path=request.path)
            return internal_error_response()

    return errors


def build_app(svc: Services, admin_routes: list[web.RouteDef]) -> web.Application:
    app = web.Application(
        client_max_size=MAX_BODY_BYTES,
        middlewares=[error_middleware(), svc.faults.middleware()],
    )

    def bind(fn: ServiceHandler) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await fn(svc, request)

        return handler

    app.add_routes(
        [
            web.post(checkin.CHECKIN_ROUTE, bind(checkin.handle_checkin)),
            web.post("/api/provision/rekey", bind(rekey.handle_rekey)),
            web.post("/api/orders/{tail:.+}", bind(handle_complete)),
            web.post("/api/evidence/sites/{site_id}/submit", bind(evidence.handle_submit)),
            web.get("/api/evidence/sites/{site_id}/verify/{bundle_id}", bind(evidence.handle_verify)),
            web.post("/api/appliances/reconcile/ack", bind(telemetry.handle_reconcile_ack)),
            web.post("/api/appliances/mesh/ack", bind(telemetry.handle_mesh_ack)),
            web.post("/api/devices/sync", bind(telemetry.handle_devices)),
            web.post("/api/logs/ingest", bind(telemetry.handle_logs)),
            web.post("/api/security-events/archive", bind(telemetry.handle_security_events)),
            web.post("/incidents", bind(telemetry.handle_incident)),
            web.post("/incidents/resolve", bind(telemetry.handle_resolve)),
            web.post("/api/agent/l2/plan", bind(telemetry.handle_l2)),
            web.post("/api/agent/executions", bind(telemetry.handle_execution)),
            web.post("/api/watchdog/bootstrap", bind(telemetry.handle_watchdog_bootstrap)),
            web.get("/api/fleet/orders/pending", bind(telemetry.handle_fleet_pending)),
            web.get("/agent/sync", bind(handle_rules)),
            *provisioning.routes(bind),
            *admin_routes,
        ]
    )
    return app
