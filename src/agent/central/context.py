"""Shared state handed to every handler module, plus request-body helpers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

from agent.central.db import Database, loads
from agent.central.errors import ApiError, validation_issue
from agent.central.faults import FaultInjector
from agent.central.keys import ServerKeyring
from agent.central.orders import OrderBook
from agent.central.requestsig import SigauthVerifier
from agent.protocol.codec import convert, decode_any
from agent.protocol.errors import ProtocolError

T = TypeVar("T")

MAX_BODY_BYTES = 10 * 1024 * 1024


@dataclass
class Services:
    db: Database
    keys: ServerKeyring
    orders: OrderBook
    sigauth: SigauthVerifier
    faults: FaultInjector
    clock: Callable[[], float]
    url: Callable[[], str]
    rekey_times: dict[str, float] = field(default_factory=dict)
    #: site -> incident_type -> server runbook id: the server's L1 match on an incident report
    #: (main.py ``/incidents``: an ``l1_rules`` row creates a healing order linked to it).
    l1_runbooks: dict[str, dict[str, str]] = field(default_factory=dict)
    #: Answer to a duplicate evidence submission: 409 (default) or 500 (the live server's quirk).
    evidence_duplicate_status: int = 409

    def site_row(self, site_id: str) -> dict[str, Any] | None:
        row = self.db.one("SELECT * FROM sites WHERE site_id = ?", (site_id,))
        if row is None:
            return None
        return {
            "site_id": row["site_id"],
            "directives": loads(row["directives"]) or {},
            "credentials": loads(row["credentials"]),
            "rules": loads(row["rules"]),
        }


def parse_json(raw: bytes) -> Any:
    """Decode a JSON body; invalid JSON is a FastAPI-style 422."""
    try:
        return decode_any(raw, "body")
    except ProtocolError as exc:
        raise ApiError(422, [validation_issue(exc)]) from None


def require_object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ApiError(
            422,
            [
                {
                    "type": "model_attributes_type",
                    "loc": ["body"],
                    "msg": "Input should be a valid dictionary or object to extract fields from",
                }
            ],
        )
    return data


def to_model(data: Any, type_: type[T]) -> T:
    """Validate decoded JSON against a protocol Struct; mismatches are 422s naming the field."""
    require_object(data)
    try:
        return convert(data, type_, type_.__name__)
    except ProtocolError as exc:
        raise ApiError(422, [validation_issue(exc)]) from None


async def read_model(request: web.Request, type_: type[T]) -> tuple[T, dict[str, Any]]:
    """Read, decode and validate a JSON body; returns the Struct and the raw object."""
    data = require_object(parse_json(await request.read()))
    return to_model(data, type_), data
