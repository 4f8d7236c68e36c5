"""Draining the evidence spool (evidence.md §6) and sending network bundles.

Oldest first (by ``chain_seq``), one request at a time, stop at the first bundle that cannot be
settled. Outcomes: 200/409 delivered (journal ``delivered`` with the receipt, then the spool file is
removed); permanent refusals go to the dead-letter folder (``http_<status>``); Bearer 401 and 429
stop the drain; 500 (the server's duplicate quirk), other 5xx and transport errors are ambiguous:
the next drain first asks the delivery probe. A head bundle ambiguous in 3 drains whose probe never
answered 200 is skipped once: if the next bundle is delivered, the head is dead-lettered
(``poison_5xx``). Per-bundle retry state lives in ``evidence_chain/retry_state.json``.
"""

from __future__ import annotations

import calendar
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from agent.evidence.bundle import Bundle
from agent.evidence.store import EvidenceStore, is_legacy, iso, parse_body
from agent.log import get_logger
from agent.outbox.queue import Item
from agent.phi.egress import EgressError
from agent.protocol.errors import ProtocolError
from agent.protocol.evidence import evidence_submit_path, evidence_verify_path
from agent.protocol.timefmt import parse_timestamp
from agent.state.atomic import atomic_write

log = get_logger("evidence")

#: ``request(method, path, body, probe) -> (status, body bytes, retry_after)``; raises on
#: transport errors (no response).
Requester = Callable[[str, str, bytes | None, bool], Awaitable[tuple[int, bytes, float | None]]]

PERMANENT = frozenset({400, 403, 404, 413, 422})
EVIDENCE_401 = ("Evidence signature verification failed", "Evidence submission requires",
                "No per-appliance signing key registered")
POISON_DRAINS = 3
MAX_AGE_S = 3300.0


class EvidenceSubmitter:
    def __init__(self, store: EvidenceStore, request: Requester, *,
                 max_age_s: float = MAX_AGE_S, clock: Callable[[], float] | None = None,
                 parse_time: Callable[[str], float] | None = None) -> None:
        self.store = store
        self.request = request
        self.max_age_s = max_age_s
        self.clock = clock or store.clock
        self.parse_time = parse_time or _parse_time
        self.state_path = store.journal.dir / "retry_state.json"
        self.state: dict[str, dict[str, Any]] = self._load_state()
        self.delivered = 0
        self.failures = 0
        self.next_drain = 0.0
        self.last_error: str | None = None

    # --- retry state -------------------------------------------------------------------

    def _load_state(self) -> dict[str, dict[str, Any]]:
        try:
            doc = json.loads(self.state_path.read_bytes())
            return {k: v for k, v in doc.items() if isinstance(v, dict)} if isinstance(doc, dict) \
                else {}
        except (OSError, ValueError):
            return {}

    def _save_state(self) -> None:
        live = {it.key for it in self.store.pending_items()}
        self.state = {k: v for k, v in self.state.items() if k in live}
        atomic_write(self.state_path, json.dumps(self.state, sort_keys=True).encode(), 0o600)

    def _st(self, item: Item) -> dict[str, Any]:
        return self.state.setdefault(item.key, {"attempts": 0, "last_status": None,
                                                "ambiguous": 0, "ambiguous_drains": 0,
                                                "last_probe": None})

    # --- drain ---------------------------------------------------------------------------

    async def drain(self, *, force: bool = False) -> int:
        if not force and self.clock() < self.next_drain:
            return 0
        settled = 0
        items = self.store.pending_items()  # legacy Go bundles first (§5), then by chain_seq
        i = 0
        try:
            while i < len(items):
                item = items[i]
                outcome = await self._settle(item, head=(i == 0))
                if outcome in ("delivered", "dead"):
                    settled += 1
                    i += 1
                    continue
                if outcome == "unsendable":  # kept; the bundles behind it still go
                    i += 1
                    continue
                if outcome == "ambiguous" and self._st(item)["ambiguous_drains"] >= POISON_DRAINS \
                        and i + 1 < len(items):
                    nxt = items[i + 1]
                    if await self._settle(nxt, head=False) == "delivered":
                        log.error("evidence.poison", "head bundle kept failing with ambiguous "
                                  "errors while the next one was delivered; dead-lettered",
                                  seq=item.order)
                        st = self._st(item)
                        self.store.queue.dead_letter(item, reason="poison_5xx",
                                                     http_status=st.get("last_status"),
                                                     attempts=int(st["attempts"]))
                        settled += 2
                        i += 2
                        continue
                self._backoff(outcome)
                return settled
            self.failures = 0
            self.next_drain = 0.0
            self.last_error = None
            return settled
        finally:
            self._save_state()

    async def _settle(self, item: Item, *, head: bool) -> str:
        """One bundle: ``delivered``, ``dead``, ``ambiguous``, ``auth``, ``busy``."""
        try:
            body = item.read()
            checked_at, bundle_id = _identify(item, body)
        except (OSError, ValueError):
            self.store.queue.dead_letter(item, reason="unreadable")
            return "dead"
        st = self._st(item)
        if self.max_age_s > 0:
            try:
                age = self.clock() - self.parse_time(checked_at)
            except ValueError:
                age = 0.0
            if age > self.max_age_s:
                self.store.queue.dead_letter(item, reason="too_old", attempts=int(st["attempts"]),
                                             detail=f"checked_at {checked_at} is {int(age)} s "
                                             "old")
                return "dead"
        if st["ambiguous"] and bundle_id:
            try:
                status, reply, _ = await self.request(
                    "GET", evidence_verify_path(self.store.site_id, bundle_id), None, True)
            except Exception as exc:  # noqa: BLE001 - any transport failure: unknown
                status, reply = 0, str(getattr(exc, "kind", exc)).encode()
            st["last_probe"] = iso(self.clock())
            if status == 200:
                self._delivered(item, "probe", _json(reply))
                return "delivered"
        st["attempts"] += 1
        try:
            status, reply, retry_after = await self.request(
                "POST", evidence_submit_path(self.store.site_id), body, False)
        except EgressError as exc:  # not sent: the scrubber would change signed bytes, or worse
            st["attempts"] -= 1
            return "dead" if self.store.queue.unsendable(item, str(exc)) else "unsendable"
        except Exception as exc:  # noqa: BLE001 - timeout, transport: ambiguous
            return self._ambiguous(item, None, getattr(exc, "kind", type(exc).__name__))
        st["last_status"] = status
        if status in (200, 409):
            self._delivered(item, "submit" if status == 200 else "409", _json(reply))
            return "delivered"
        detail = reply[:512].decode("utf-8", "replace")
        if status == 401 and not any(m in detail for m in EVIDENCE_401):
            self.last_error = "auth"
            return "auth"
        if status in PERMANENT or status == 401:
            log.error("evidence.refused", f"evidence bundle refused with HTTP {status}; kept in "
                      "the dead-letter folder", seq=item.order, status=status)
            self.store.queue.dead_letter(item, reason=f"http_{status}", http_status=status,
                                         detail=detail, attempts=int(st["attempts"]))
            return "dead"
        if status == 429:
            self.last_error = "http_429"
            self._retry_after = retry_after
            return "busy"
        return self._ambiguous(item, status, f"http_{status}")

    def _ambiguous(self, item: Item, status: int | None, why: str) -> str:
        st = self._st(item)
        st["ambiguous"] += 1
        st["ambiguous_drains"] += 1
        self.last_error = why
        log.warning("evidence.ambiguous", "evidence submission outcome unknown; the delivery "
                    "probe decides next time", seq=item.order, error_kind=why)
        return "ambiguous"

    def _delivered(self, item: Item, via: str, receipt: dict[str, Any]) -> None:
        if is_legacy(item):
            self.store.journal_legacy(item, "delivered", via=via)
        else:
            self.store.journal_delivered(item, via, receipt)
        self.store.queue.delivered(item)
        self.state.pop(item.key, None)
        self.delivered += 1
        log.info("evidence.delivered", "evidence bundle delivered", seq=item.order, via=via,
                 chain_position=receipt.get("chain_position"))

    _retry_after: float | None = None

    def _backoff(self, outcome: str) -> None:
        if outcome == "auth":
            return
        self.failures += 1
        delay = min(600.0, 5.0 * 2 ** (self.failures - 1))
        if outcome == "busy" and self._retry_after:
            delay = max(delay, min(self._retry_after, 600.0))
        self.next_drain = self.clock() + delay

    # --- network bundles -----------------------------------------------------------------

    async def send_network(self, bundle: Bundle) -> bool:
        """One attempt, not spooled (evidence.md §6); failures are logged at INFO."""
        try:
            status, _, _ = await self.request("POST", evidence_submit_path(self.store.site_id),
                                              bundle.body, False)
        except Exception as exc:  # noqa: BLE001
            log.info("evidence.network_not_sent", "network bundle not delivered (not retried)",
                     error_kind=getattr(exc, "kind", type(exc).__name__))
            return False
        if status != 200:
            log.info("evidence.network_not_sent", "network bundle not accepted (not retried)",
                     status=status)
        return status == 200

    def status(self) -> dict[str, Any]:
        return {"delivered": self.delivered, "consecutive_failures": self.failures,
                "last_error": self.last_error, "ambiguous_pending": sum(
                    1 for v in self.state.values() if v.get("ambiguous"))}


def _identify(item: Item, body: bytes) -> tuple[str, str]:
    """``(checked_at, bundle_id)`` of a pending body; ValueError when it is unusable. Our bundles
    must be exact §4.1 bodies; a Go-daemon body only needs to be a JSON object (its
    ``bundle_id``, when present, lets the delivery probe settle an ambiguous attempt)."""
    if not is_legacy(item):
        sub = parse_body(body)
        return sub.checked_at, sub.bundle_id
    doc = json.loads(body)
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    checked_at, bundle_id = doc.get("checked_at"), doc.get("bundle_id")
    return (checked_at if isinstance(checked_at, str) else "",
            bundle_id if isinstance(bundle_id, str) and 0 < len(bundle_id) <= 100 else "")


def _json(raw: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _parse_time(text: str) -> float:
    try:
        return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        try:  # Go-daemon bodies: any RFC 3339 form (fractions, offsets)
            return parse_timestamp(text).timestamp()
        except ProtocolError as exc:
            raise ValueError(str(exc)) from None
