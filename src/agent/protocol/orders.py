"""Orders on the wire and their completion (orders.md §1.1, central-api.md §7.1).

:class:`Order` is the unsigned top-level object from ``pending_orders``; the verifier (orders.md §4)
checks its ``signature`` over ``signed_payload`` and compares the unsigned copies. Field order is
the server's (``samples/checkin_response*.json``); ``runbook_id`` is present on healing orders only.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from msgspec import UNSET, Struct, UnsetType

from agent.protocol.codec import TypedDecoder, encode
from agent.protocol.errors import ProtocolError


class Order(Struct, kw_only=True):
    """One entry of ``pending_orders`` (orders.md §1.1).

    ``order_id``, ``order_type``, ``signature`` and ``signed_payload`` are required strings (orders.md
    §4 steps 1-2); the other top-level copies may be absent (``UNSET``) or null (``None``), which is
    not a disagreement with the signed values (orders.md §4.1).
    """

    order_id: str
    order_type: str
    runbook_id: str | UnsetType | None = UNSET
    parameters: dict[str, Any] | None = None
    priority: int | None = None
    created_at: str | None = None
    expires_at: str | None = None
    nonce: str | None = None
    signature: str
    signed_payload: str


class MalformedOrder(Struct, kw_only=True, frozen=True):
    """An entry of ``pending_orders`` that is not a well-typed :class:`Order` (orders.md §4 steps
    1-2, reason ``malformed``). ``order_id`` is set when it was a usable string, so the order worker
    can post the failure completion; otherwise nothing is posted."""

    index: int
    order_id: str | None
    error: str


class OrderCompletion(Struct, kw_only=True, omit_defaults=True):
    """``POST /api/orders/{order_id}/complete`` request body (central-api.md §7.1)."""

    success: bool
    result: dict[str, Any] | None = None
    error_message: str | None = None


class OrderCompletionResponse(Struct, kw_only=True):
    """200 body of the completion endpoint (§7.1); only ``status`` matters to the agent."""

    status: str = ""
    order_id: str | None = None
    order_type: str | None = None
    completed_at: str | None = None
    message: str | None = None
    appliance_id: str | None = None
    site_id: str | None = None
    execution_time_ms: float | None = None
    success: bool | None = None
    result: Any = None


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_ORDER_ID_LEN = 256


def check_order_id(order_id: str) -> None:
    """Raise ProtocolError for ids that cannot be addressed (§7.1, orders.md §4 step 1)."""
    if not order_id or order_id in (".", ".."):
        raise ProtocolError("unusable order id", path="$.order_id")
    if len(order_id) > MAX_ORDER_ID_LEN:
        raise ProtocolError("order id longer than 256 characters", path="$.order_id")
    if _CONTROL.search(order_id):
        raise ProtocolError("order id contains control characters", path="$.order_id")


def order_complete_path(order_id: str) -> str:
    """``/api/orders/<id>/complete`` with the id percent-encoded as one segment (§7.1, §10 e).

    Every UTF-8 byte outside ``A-Z a-z 0-9 - . _ ~ : @`` becomes ``%XX``.
    """
    check_order_id(order_id)
    return f"/api/orders/{quote(order_id, safe=':@')}/complete"


_DECODE_ORDER = TypedDecoder(Order, "order")
_DECODE_COMPLETION = TypedDecoder(OrderCompletion, "order completion")
_DECODE_COMPLETION_RESPONSE = TypedDecoder(OrderCompletionResponse, "order completion response")


def decode_order(buf: bytes | bytearray | memoryview | str) -> Order:
    """Decode one order object; raises ProtocolError."""
    return _DECODE_ORDER(buf)


def decode_order_completion(buf: bytes | bytearray | memoryview | str) -> OrderCompletion:
    """Decode a completion request body (server side, tests); raises ProtocolError."""
    return _DECODE_COMPLETION(buf)


def decode_order_completion_response(
    buf: bytes | bytearray | memoryview | str,
) -> OrderCompletionResponse:
    """Decode the completion endpoint's 200 body; raises ProtocolError."""
    return _DECODE_COMPLETION_RESPONSE(buf)


def encode_order_completion(completion: OrderCompletion) -> bytes:
    """Compact JSON bytes of a completion request body."""
    return encode(completion)
