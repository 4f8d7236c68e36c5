"""Tolerant checkin-response decoding (central-api.md §6.5 step 1, §10 g; orders.md §4 steps 1-2).

A checkin fails only when the body is not a JSON object. A wrongly typed field is treated as absent
(its default) and reported as a :class:`FieldIssue` to log; ``null`` is silently the default. One
malformed order does not cost the others: it is reported as a :class:`MalformedOrder` (with its
``order_id`` when that was usable, so the order worker can post the failure completion).

A poisoned value — a number out of range (``1e400``), ``NaN``/``Infinity``, an unpaired surrogate
(``"\\ud800"``) or bytes that are not UTF-8 — makes the strict JSON decoder refuse the whole body;
the salvage path then reads it tolerantly and refuses only the field or the order that holds it.

The fast path is the strict decoder; the salvage path runs only when that fails.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from agent.protocol.checkin_response import CheckinResponse, decode_checkin_response
from agent.protocol.codec import decode_any, unsafe_value
from agent.protocol.errors import FieldIssue, ProtocolError
from agent.protocol.orders import MalformedOrder, Order, check_order_id

_WHAT = "checkin response"
_FIELDS: dict[str, Any] = {f.encode_name: f.type for f in msgspec.structs.fields(CheckinResponse)}


class CheckinParse(msgspec.Struct, kw_only=True):
    """Result of :func:`parse_checkin_response`."""

    response: CheckinResponse
    issues: list[FieldIssue] = []
    malformed_orders: list[MalformedOrder] = []


def parse_checkin_response(buf: bytes | bytearray | memoryview | str) -> CheckinParse:
    """Decode a checkin response the way the agent must accept it.

    Raises :class:`ProtocolError` only when ``buf`` is not JSON or not a JSON object.
    """
    try:
        return CheckinParse(response=decode_checkin_response(buf))
    except ProtocolError:
        pass
    try:
        obj = decode_any(buf, _WHAT)
    except ProtocolError as exc:
        obj = _tolerant(buf, exc)
    if not isinstance(obj, dict):
        raise ProtocolError("body is not a JSON object", what=_WHAT)
    issues: list[FieldIssue] = []
    malformed: list[MalformedOrder] = []
    clean: dict[str, Any] = {}
    for name, value in obj.items():
        field_type = _FIELDS.get(name)
        if field_type is None or value is None:
            continue  # unknown field, or null = default
        if name == "pending_orders" and isinstance(value, list):
            clean[name] = _salvage_orders(value, malformed)
            continue
        problem = unsafe_value(value, f"$.{name}")
        if problem is not None:
            issues.append(FieldIssue(path=f"$.{name}", message=f"{problem}; treated as absent"))
            continue
        try:
            clean[name] = msgspec.convert(value, field_type)
        except msgspec.ValidationError as exc:
            err = ProtocolError.from_msgspec(_WHAT, exc)
            path = err.path.replace("$", f"$.{name}", 1)
            issues.append(FieldIssue(path=path, message=f"{err.reason}; treated as absent"))
    response = CheckinResponse(**clean)
    return CheckinParse(response=response, issues=issues, malformed_orders=malformed)


def _salvage_orders(items: list[Any], malformed: list[MalformedOrder]) -> list[Order]:
    orders: list[Order] = []
    for index, item in enumerate(items):
        problem = unsafe_value(item)
        try:
            if problem is None:
                orders.append(msgspec.convert(item, Order))
                continue
        except msgspec.ValidationError as exc:
            err = ProtocolError.from_msgspec("order", exc)
            problem = f"{err.reason} (at {err.path})"
        malformed.append(MalformedOrder(index=index, order_id=_usable_order_id(item), error=problem))
    return orders


def _tolerant(buf: bytes | bytearray | memoryview | str, error: ProtocolError) -> Any:
    """The body as Python's JSON reader sees it (non-finite numbers and unpaired surrogates kept,
    invalid UTF-8 as surrogate escapes), for the salvage path; ``error`` when it is not JSON."""
    text = buf if isinstance(buf, str) else bytes(buf).decode("utf-8", "surrogateescape")
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise error from None


def _usable_order_id(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    order_id = item.get("order_id")
    if not isinstance(order_id, str) or unsafe_value(order_id) is not None:
        return None
    try:
        check_order_id(order_id)
    except ProtocolError:
        return None
    return order_id
