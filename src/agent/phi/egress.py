"""The egress boundary (phi.md §1): every outbound payload passes through :func:`egress`.

Usage (checkin client, outboxes, log shipper, evidence upload, ...)::

    from agent.phi.egress import EgressError, egress

    try:
        body = egress(payload, kind="incident")
    except EgressError:
        return  # keep the payload queued; it is retried later, never sent unscrubbed

* Every string value is scrubbed, recursively through dicts, lists and tuples (one native call
  for all strings of the payload). Map keys are kept: they are schema, not data.
* A value whose key is or ends with a secret name (``password``, ``token``, ``api_key``, ...;
  case, ``_`` and ``-`` ignored) becomes ``[SECRET-REDACTED]``, whatever it contains.
* Numbers, booleans and None pass unchanged. Any other type, a cycle, or any error while
  scrubbing raises :class:`EgressError` (fail closed) after logging ``phi.egress_failed`` with
  the payload kind only, never the payload.

The result is a new object; the input is not modified.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final, TypeVar

from agent.log import get_logger
from agent.phi.rules import SECRET_KEY_SUFFIXES
from agent.phi.scrubber import Scrubber
from agent.phi.tokens import SECRET_TOKEN

T = TypeVar("T")

_log = get_logger("phi")
_SCALARS: Final = (int, float, bool, type(None))
_SECRET_SUFFIXES: Final = tuple(s.replace("_", "") for s in SECRET_KEY_SUFFIXES)
_MAX_DEPTH: Final = 64


class EgressError(Exception):
    """Scrubbing an outbound payload failed: do not send it, keep it queued."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"PHI scrubbing failed for a {kind!r} payload; it was not sent")
        self.kind = kind


def is_secret_key(key: object) -> bool:
    """Whether a map key names a secret (phi.md §4, structured data)."""
    if not isinstance(key, str):
        return False
    norm = key.lower().replace("_", "").replace("-", "")
    return norm.endswith(_SECRET_SUFFIXES)


def _collect(obj: object, out: list[str], depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise ValueError("payload nested too deeply")
    if isinstance(obj, str):
        out.append(obj)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            if not is_secret_key(key):
                _collect(value, out, depth + 1)
    elif isinstance(obj, list | tuple):
        for item in obj:
            _collect(item, out, depth + 1)
    elif not isinstance(obj, _SCALARS):
        raise TypeError(f"cannot scrub a {type(obj).__name__}")


def _rebuild(obj: Any, scrubbed: Iterator[str]) -> Any:
    if isinstance(obj, str):
        return next(scrubbed)
    if isinstance(obj, dict):
        return {
            key: SECRET_TOKEN if is_secret_key(key) else _rebuild(value, scrubbed)
            for key, value in obj.items()
        }
    if isinstance(obj, list):
        return [_rebuild(item, scrubbed) for item in obj]
    if isinstance(obj, tuple):
        return tuple(_rebuild(item, scrubbed) for item in obj)
    return obj


def scrub_payload(payload: T, scrubber: Scrubber) -> T:
    """The scrubbed copy of ``payload``; raises on unsupported types (no logging)."""
    strings: list[str] = []
    _collect(payload, strings, 0)
    result: T = _rebuild(payload, iter(scrubber.scrub_many(strings)))
    return result


def egress(payload: T, *, kind: str, scrubber: Scrubber | None = None) -> T:
    """Scrub an outbound payload (str, or dicts/lists/tuples of them); fail closed.

    ``kind`` names the payload in the error log (``"checkin"``, ``"incident"``, ...).
    ``scrubber`` defaults to the process-wide one (:func:`agent.phi.configure`).
    """
    if scrubber is None:
        from agent.phi import default_scrubber

        scrubber = default_scrubber()
    try:
        return scrub_payload(payload, scrubber)
    except Exception:  # noqa: BLE001 - any failure keeps the payload queued
        _log.error("phi.egress_failed", "outbound payload not sent: PHI scrubbing failed",
                   kind=kind)
        raise EgressError(kind) from None
