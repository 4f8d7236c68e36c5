"""HTTPS transport to Central Command: pinned client, retry policy (central-api.md §3–§4)."""

from agent.transport.client import (
    CHECKIN,
    REKEY,
    CentralClient,
    Credentials,
    Endpoint,
    Response,
    TransportError,
    make_ssl_context,
)
from agent.transport.pins import PinMismatch, PinStore
from agent.transport.policy import Breaker, CheckinBackoff

__all__ = [
    "CHECKIN",
    "REKEY",
    "Breaker",
    "CentralClient",
    "CheckinBackoff",
    "Credentials",
    "Endpoint",
    "PinMismatch",
    "PinStore",
    "Response",
    "TransportError",
    "make_ssl_context",
]
