"""The single exception type of the protocol layer, and the record of a tolerated problem.

Every decode function of :mod:`agent.protocol` raises :class:`ProtocolError` on bad input (invalid
JSON, a wrong type, a missing required field), never a msgspec or Python exception. The message
names the field path (``$.pending_orders[3].order_type``) but never echoes a value, so it is safe to
log even when the body carries secrets.
"""

from __future__ import annotations

import msgspec

_AT = " - at `"


class ProtocolError(ValueError):
    """A wire body that does not match the contract of ``central-api.md``.

    ``path`` is the JSONPath-like location of the problem (``$`` for the whole body).
    """

    def __init__(self, message: str, *, path: str = "$", what: str = "") -> None:
        self.path = path
        self.what = what
        self.reason = message
        prefix = f"{what}: " if what else ""
        super().__init__(f"{prefix}{message} (at {path})")

    @classmethod
    def from_msgspec(cls, what: str, exc: msgspec.MsgspecError) -> ProtocolError:
        """Convert a msgspec decode/validation error, keeping its field path."""
        text = str(exc)
        path = "$"
        if _AT in text:
            text, _, rest = text.partition(_AT)
            path = rest.rstrip("`")
        if isinstance(exc, msgspec.DecodeError) and not isinstance(exc, msgspec.ValidationError):
            text = f"invalid JSON: {text}"
        return cls(text, path=path, what=what)


class FieldIssue(msgspec.Struct, frozen=True):
    """A problem that was tolerated while decoding (the field was treated as absent).

    Produced by the lenient checkin decoder (central-api.md §10 g); log it, do not fail.
    """

    path: str
    message: str
