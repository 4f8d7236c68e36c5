"""FastAPI-style error bodies (central-api.md §1): ``{"detail": ...}``, 422 validation lists and the
plain-text ``Internal Server Error``."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from agent.protocol.codec import encode
from agent.protocol.errors import ProtocolError

INTERNAL_ERROR_TEXT = "Internal Server Error"


class ApiError(Exception):
    """Raised by handler logic; the error middleware turns it into ``{"detail": detail}``."""

    def __init__(self, status: int, detail: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status}: {detail!r}")
        self.status = status
        self.detail = detail
        self.headers = headers or {}


class InternalError(Exception):
    """Raised where the real server fails with an unhandled error (e.g. a too-long column value,
    the duplicate-evidence path): answered as 500 ``Internal Server Error``."""


def detail_response(status: int, detail: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=encode({"detail": detail}), content_type="application/json", headers=headers
    )


def internal_error_response() -> web.Response:
    return web.Response(status=500, text=INTERNAL_ERROR_TEXT, content_type="text/plain")


def json_response(value: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=encode(value), content_type="application/json")


_TYPE_NAMES = {
    "str": ("string_type", "Input should be a valid string"),
    "int": ("int_type", "Input should be a valid integer"),
    "float": ("float_type", "Input should be a valid number"),
    "bool": ("bool_type", "Input should be a valid boolean"),
    "array": ("list_type", "Input should be a valid list"),
    "object": ("dict_type", "Input should be a valid dictionary"),
    "null": ("none_required", "Input should be None"),
}
_EXPECTED = re.compile(r"Expected `([a-z]+)")
_MISSING = re.compile(r"missing required field `([^`]+)`")
_PATH_PART = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


def _loc(path: str, prefix: str) -> list[str | int]:
    loc: list[str | int] = [prefix]
    for name, index in _PATH_PART.findall(path[1:] if path.startswith("$") else path):
        loc.append(int(index) if index else name)
    return loc


def validation_issue(exc: ProtocolError, prefix: str = "body") -> dict[str, Any]:
    """One pydantic-v2-style error object for a :class:`ProtocolError` (no input echo: bodies
    may carry secrets)."""
    loc = _loc(exc.path, prefix)
    reason = exc.reason
    if reason.startswith("invalid JSON"):
        return {"type": "json_invalid", "loc": [prefix, 0], "msg": "JSON decode error"}
    missing = _MISSING.search(reason)
    if missing:
        return {"type": "missing", "loc": [*loc, missing.group(1)], "msg": "Field required"}
    expected = _EXPECTED.search(reason)
    if expected and expected.group(1) in _TYPE_NAMES:
        kind, msg = _TYPE_NAMES[expected.group(1)]
        return {"type": kind, "loc": loc, "msg": msg}
    return {"type": "value_error", "loc": loc, "msg": reason}


def validation_response(exc: ProtocolError, prefix: str = "body") -> web.Response:
    return detail_response(422, [validation_issue(exc, prefix)])


def value_issue(loc: list[str | int], msg: str, kind: str = "value_error") -> ApiError:
    """A 422 for a constraint the Struct types do not express (lengths, enumerations)."""
    return ApiError(422, [{"type": kind, "loc": ["body", *loc], "msg": msg}])
