"""The durable order inbox: delivered orders survive a crash before they are handled.

A checkin response's orders are appended to ``order_inbox.db`` (the checksummed, fsynced journal
of :mod:`agent.orders.journal`) when they are handed to the order worker, before anything runs:
the server considers an admin order delivered once it sent the response, and never sends it again.
When the worker has handled an order (rejected, duplicate, or executed with its completion queued
in the outbox) a ``done`` line follows. At start-up every entry without its ``done`` line is queued
again: it is verified again (§4 steps 1-13) and the nonce store decides, as for a re-delivery,
whether it runs (new nonce), is a duplicate (its stored completion is re-sent) or was interrupted
(the worker's crash recovery already answered it).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agent.log import get_logger
from agent.orders.journal import Journal
from agent.orders.verify import payload_digest
from agent.state.reserve import DiskReserve

log = get_logger("orders")

FILE_NAME = "order_inbox.db"
#: Rewrite the file once this many lines are behind the live entries.
COMPACT_SLACK = 256


def order_key(obj: Any) -> str | None:
    """The inbox key of one delivered order object: its id and the hash of its signed bytes."""
    if not isinstance(obj, dict):
        return None
    oid, sp = obj.get("order_id"), obj.get("signed_payload")
    if not isinstance(oid, str) or not isinstance(sp, str):
        return None
    return record_key(oid, payload_digest(sp))


def record_key(order_id: str | None, payload_sha256: str | None) -> str:
    """The inbox key of the order a nonce record was made for."""
    return f"{payload_sha256}:{order_id}"


class Inbox:
    """Orders delivered and not yet handled, in delivery order (``state_dir=None``: memory only)."""

    def __init__(self, state_dir: Path | None, reserve: DiskReserve | None = None) -> None:
        self.journal = Journal(state_dir / FILE_NAME, reserve) if state_dir is not None else None
        self.open: dict[str, dict[str, Any]] = {}
        if self.journal is None:
            return
        for doc in self.journal.load():
            key = doc.get("key")
            if not isinstance(key, str):
                continue
            if doc.get("done"):
                self.open.pop(key, None)
            elif isinstance(doc.get("order"), dict):
                self.open[key] = doc["order"]
        if self.journal.damaged or self.journal.lines > len(self.open) + COMPACT_SLACK:
            self._rewrite()

    def pending(self) -> list[dict[str, Any]]:
        """Recorded orders not handled yet (start-up: they are queued again)."""
        return list(self.open.values())

    def record(self, orders: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Durably record newly delivered orders (one fsync); raises OSError."""
        new = [(k, o) for k, o in orders if k not in self.open]
        if not new:
            return
        if self.journal is not None:
            self.journal.append_all([{"key": k, "order": o} for k, o in new])
        self.open.update(new)

    def done(self, key: str | None) -> None:
        """The order was handled; a failed write only means it is re-checked after a restart."""
        if key is None or self.open.pop(key, None) is None or self.journal is None:
            return
        try:
            self.journal.append_all([{"key": key, "done": True}])
            if not self.open and self.journal.lines > COMPACT_SLACK:
                self._rewrite()
        except OSError as exc:
            log.warning("orders.inbox_write_failed", f"inbox not updated ({exc}); the order is "
                        "re-checked after a restart")

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()

    def _rewrite(self) -> None:
        assert self.journal is not None
        try:
            self.journal.rewrite({"key": k, "order": o} for k, o in self.open.items())
        except OSError as exc:  # compaction only: the journal as it is stays valid
            log.warning("orders.inbox_compact_failed", f"inbox not compacted ({exc})")
