"""Refusals answered once per order, across restarts (docs/server-compat.md "Refusals").

An order refused before it could run (verification steps 2-12 of orders.md §4 with a failure
completion: unsupported type, invalid order, expired …) is answered with one failure completion.
The real server delivers a failed fleet order again (after an hour, and on every checkin after
that) with the same id and signed payload; the agent does not answer it again, not after an hour
and not after a restart. The answered refusals live in ``order_refusals.json`` in the state
directory (written atomically), keyed by (top-level order id, SHA-256 of the signed payload,
reason), kept :data:`KEEP_S` (longer than any order's lifetime) and at most :data:`MAX_ENTRIES`.

Orders that ran and failed are not refusals: their nonce record (``orders/store.py``) governs the
server-driven retry of orders.md §4.4.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

from agent.log import get_logger
from agent.state.atomic import atomic_write

log = get_logger("orders")

FILE_NAME = "order_refusals.json"
KEEP_S = 8 * 86400
MAX_ENTRIES = 5000


def refusal_key(order_id: str, payload_sha256: str | None, reason: str) -> str:
    text = f"{order_id}\0{payload_sha256 or ''}\0{reason}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class AnsweredRefusals:
    """The refusals already answered (``state_dir=None``: in memory only)."""

    def __init__(self, state_dir: Path | None, *, clock: Callable[[], float] = time.time) -> None:
        self.path = state_dir / FILE_NAME if state_dir is not None else None
        self.clock = clock
        self.entries: dict[str, float] = {}
        if self.path is None:
            return
        try:
            doc = json.loads(self.path.read_bytes())
            raw = doc.get("answered", {}) if isinstance(doc, dict) else {}
            self.entries = {k: float(v) for k, v in raw.items()
                            if isinstance(k, str) and isinstance(v, int | float)}
        except FileNotFoundError:
            pass
        except (OSError, ValueError, AttributeError) as exc:
            # Lost memory of refusals only means answering one again: harmless, logged.
            log.warning("orders.refusals_unreadable", f"{FILE_NAME} unreadable ({exc}); "
                        "refusals may be answered once more")

    def answered(self, key: str) -> bool:
        return key in self.entries

    def record(self, key: str) -> None:
        now = self.clock()
        self.entries = {k: t for k, t in self.entries.items() if now - t < KEEP_S}
        self.entries[key] = now
        while len(self.entries) > MAX_ENTRIES:
            self.entries.pop(min(self.entries, key=self.entries.__getitem__))
        if self.path is None:
            return
        try:
            atomic_write(self.path, json.dumps({"answered": self.entries}).encode(), 0o600)
        except OSError as exc:
            log.warning("orders.refusals_not_saved", f"answered refusal not saved ({exc}); it "
                        "may be answered once more after a restart")
