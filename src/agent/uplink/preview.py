"""What the Uplink would send, without sending it: the same scrub and encoding as
:meth:`agent.uplink.Uplink.send`, for the operator's ``preview`` (nothing leaves the appliance)."""

from __future__ import annotations

import json
from typing import Any

import msgspec

from agent.phi.egress import EgressError, egress
from agent.uplink.routes import Route


def would_send(route: Route, payload: Any, path: str | None = None) -> dict[str, Any]:
    """``{"status": "would_send", "method", "path", "scrubbed", "body"}`` (``body`` as JSON data,
    ``scrubbed`` when scrubbing changed it), or ``{"status": "refused", …}`` exactly when the
    Uplink would refuse to send it."""
    where = {"method": route.method, "path": path or route.path}
    try:
        clean = egress(payload, kind=route.name)
    except EgressError:
        return {"status": "refused", **where,
                "detail": "cannot be scrubbed: the Uplink would not send it"}
    before, after = msgspec.json.encode(payload), msgspec.json.encode(clean)
    return {"status": "would_send", **where, "scrubbed": before != after,
            "body": json.loads(after)}
