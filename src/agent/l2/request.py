"""The L2 plan request (healing.md §5.2): built from the incident, never carrying a credential.

``raw_data`` is the incident data map after dropping secret-classified keys (and usernames,
``sudo_*``), known-secret redaction (every credential value the agent holds, usernames included),
egress scrubbing of every string, and a 16 KiB cap (largest detail values replaced first).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

import msgspec

from agent.phi.egress import egress
from agent.phi.tokens import SECRET_TOKEN
from agent.protocol.l2 import L2PlanRequest
from agent.scan.model import Incident, is_forbidden_key
from agent.timefmt import format_rfc3339

RAW_CAP: Final = 16 * 1024
TRUNCATED: Final = "[TRUNCATED]"
MIN_SECRET_LEN: Final = 3


def _drop_secret_keys(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _drop_secret_keys(v) for k, v in value.items() if not is_forbidden_key(str(k))}
    if isinstance(value, list | tuple):
        return [_drop_secret_keys(v) for v in value]
    return value


def _redact_known(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        for s in secrets:
            if s in value:
                value = value.replace(s, SECRET_TOKEN)
        return value
    if isinstance(value, dict):
        return {k: _redact_known(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_known(v, secrets) for v in value]
    return value


def _size(obj: Any) -> int:
    return len(msgspec.json.encode(obj))


def _leaves(obj: Any, path: tuple[Any, ...]) -> Iterable[tuple[int, tuple[Any, ...]]]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _leaves(v, (*path, i))
    elif path and obj != TRUNCATED:
        yield _size(obj), path


def _set(obj: Any, path: tuple[Any, ...], value: Any) -> None:
    for k in path[:-1]:
        obj = obj[k]
    obj[path[-1]] = value


def cap_raw(raw: dict[str, Any], cap: int = RAW_CAP) -> dict[str, Any]:
    """Replace the largest values by ``[TRUNCATED]`` (details first) until ``raw`` fits ``cap``."""
    floor = _size(TRUNCATED)
    while _size(raw) > cap:
        found = [c for c in _leaves(raw.get("details"), ("details",)) if c[0] > floor]
        if not found:
            found = [c for c in _leaves(raw, ()) if c[0] > floor]
        if not found:
            return {"truncated": True}
        _set(raw, max(found, key=lambda c: c[0])[1], TRUNCATED)
    return raw


def known_secret_values(values: Iterable[str | None]) -> list[str]:
    """Distinct non-trivial secret strings, longest first (so substrings never leave a tail)."""
    return sorted({v for v in values if v and len(v) >= MIN_SECRET_LEN}, key=len, reverse=True)


def build_request(
    incident: Incident, *, site_id: str, secrets: Iterable[str | None] = (),
    now: datetime | None = None,
) -> L2PlanRequest:
    """The scrubbed :class:`L2PlanRequest` for ``incident`` (raises EgressError when scrubbing fails)."""
    known = known_secret_values(secrets)
    raw = _redact_known(_drop_secret_keys(incident.data_map()), known)
    body: dict[str, Any] = {
        "incident_id": incident.incident_id,
        "site_id": site_id,
        "host_id": _redact_known(incident.host, known),
        "incident_type": incident.check_type,
        "severity": incident.severity,
        "raw_data": raw,
        "created_at": format_rfc3339(now),
    }
    scrubbed = egress(body, kind="l2_plan")
    scrubbed["raw_data"] = cap_raw(_redact_known(scrubbed["raw_data"], known))
    return msgspec.convert(scrubbed, L2PlanRequest)


def encode_request(req: L2PlanRequest) -> bytes:
    return msgspec.json.encode(req)
