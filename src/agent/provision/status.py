"""``provisioning.json`` in the state directory: what first-boot enrollment is doing.

Written atomically at every step while there is no config; the ``status`` command reads it with
:func:`status_line`. Never holds a secret (no API key, no provision code, no private key).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agent.state.atomic import atomic_write, read_json_object
from agent.timefmt import format_rfc3339

STATUS_NAME = "provisioning.json"


def write_status(state_dir: Path, state: str, *, detail: str, method: str | None = None,
                 attempts: int = 0, next_attempt_s: float | None = None,
                 now: float | None = None) -> None:
    """``state``: ``waiting`` (retrying), ``refused`` (stopped) or ``provisioned``."""
    doc: dict[str, Any] = {"state": state, "detail": detail, "method": method,
                           "attempts": attempts, "updated_at": format_rfc3339(now)}
    if next_attempt_s is not None:
        doc["next_attempt_in_s"] = round(next_attempt_s, 1)
    atomic_write(state_dir / STATUS_NAME, (json.dumps(doc, indent=1) + "\n").encode(), 0o600)


def read_status(state_dir: Path) -> dict[str, Any] | None:
    try:
        return read_json_object(state_dir / STATUS_NAME)
    except ValueError:
        return None


def status_line(state_dir: Path) -> str | None:
    """``provisioning: waiting for …`` / ``provisioning: refused: …`` / ``provisioning: done (…)``,
    or ``None`` when this appliance never provisioned itself."""
    doc = read_status(state_dir)
    if doc is None:
        return None
    state = doc.get("state")
    detail = str(doc.get("detail", ""))
    if state == "waiting":
        extra = f" (attempt {doc.get('attempts', 0)}"
        nxt = doc.get("next_attempt_in_s")
        if isinstance(nxt, int | float):
            extra += f", next in {nxt:.0f} s"
        return f"provisioning: waiting for {detail}{extra}; since {doc.get('updated_at', '?')})"
    if state == "refused":
        return f"provisioning: refused: {detail}"
    if state == "provisioned":
        return f"provisioning: done ({doc.get('method')}, {doc.get('updated_at', '?')})"
    return f"provisioning: {state}"
