"""Draining the evidence spool (evidence.md §6) and sending network bundles.

The spool drains through the shared :class:`~agent.outbox.drain.Drainer`: oldest first (legacy Go
bundles, then by ``chain_seq``), one request at a time, stop at the first bundle that cannot be
settled. Outcomes: a 2xx whose body is a receipt naming the bundle (its ``bundle_id`` or
``bundle_hash``), or 409, is delivered (journal ``delivered`` with the receipt, then the spool file
is removed). Any other 2xx (a broken proxy's page, garbage, ``{}``, another bundle's receipt) is a
failed delivery: counted (``bad_receipts``, ``last_bad_receipt`` in ``status``), WARNING, and
treated as ambiguous (the probe asks first next time; backoff and the poison rule apply).
Permanent refusals go to the dead-letter folder (``http_<status>``); Bearer 401 and 429 stop the
drain; 500 (the server's duplicate quirk), other 5xx and transport errors are ambiguous:
the next drain first asks the delivery probe (the Drainer's ``probe`` hook), whose 200 counts
only when its body names the bundle too. A head bundle
ambiguous in 3 drains whose probe never answered 200 is skipped once: if the next bundle is
delivered, the head is dead-lettered (``poison_5xx``, the Drainer's ``poison`` hook). Per-bundle
retry state lives in ``evidence_chain/retry_state.json``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from agent.evidence.bundle import Bundle
from agent.evidence.store import EvidenceStore, is_legacy, parse_body
from agent.log import get_logger
from agent.outbox.drain import Drainer, DrainerMixin, Outcome, Result
from agent.outbox.queue import Item
from agent.phi.egress import EgressError
from agent.protocol.errors import ProtocolError
from agent.protocol.evidence import (
    decode_evidence_receipt,
    evidence_submit_path,
    evidence_verify_path,
)
from agent.state.atomic import atomic_write
from agent.timefmt import format_rfc3339, parse_rfc3339

log = get_logger("evidence")

#: ``request(method, path, body, probe) -> (status, body bytes, retry_after)``; raises on
#: transport errors (no response).
Requester = Callable[[str, str, bytes | None, bool], Awaitable[tuple[int, bytes, float | None]]]

PERMANENT = frozenset({400, 403, 404, 413, 422})
EVIDENCE_401 = ("Evidence signature verification failed", "Evidence submission requires",
                "No per-appliance signing key registered")
POISON_DRAINS = 3
MAX_AGE_S = 3300.0


class EvidenceSubmitter(DrainerMixin):
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
        self.bad_receipts = 0
        self.last_bad_receipt: str | None = None
        # legacy Go bundles first (§5), then by chain_seq
        self.drainer = Drainer(store.queue, clock=self.clock, items=store.pending_items,
                               probe=self._probe, poison=self._poison)

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
        if not force and not self.drainer.due():
            return 0
        try:
            return await self.drainer.drain(self._send, force=True)
        finally:
            self._save_state()

    async def _send(self, item: Item) -> Result:
        """One bundle: its age, then the POST and what its answer means."""
        try:
            body = item.read()
            checked_at, bundle_id, bundle_hash = _identify(item, body)
        except (OSError, ValueError):
            return Result(Outcome.REFUSED, reason="unreadable")
        st = self._st(item)
        if self.max_age_s > 0:
            try:
                age = self.clock() - self.parse_time(checked_at)
            except ValueError:
                age = 0.0
            if age > self.max_age_s:
                return Result(Outcome.REFUSED, reason="too_old", attempts=int(st["attempts"]),
                              detail=f"checked_at {checked_at} is {int(age)} s old")
        st["attempts"] += 1
        try:
            status, reply, retry_after = await self.request(
                "POST", evidence_submit_path(self.store.site_id), body, False)
        except EgressError:  # not sent: the scrubber would change signed bytes, or worse
            st["attempts"] -= 1
            raise  # the Drainer keeps it (unsendable), then dead-letters it
        except Exception as exc:  # noqa: BLE001 - timeout, transport: ambiguous
            return self._ambiguous(item, None, getattr(exc, "kind", type(exc).__name__))
        st["last_status"] = status
        if status == 409:
            return self._delivered(item, "409", _json(reply), status)
        if 200 <= status < 300:
            receipt = _receipt(reply, bundle_id, bundle_hash)
            if receipt is None:
                return self._bad_receipt(item, status, reply, "submit")
            return self._delivered(item, "submit", receipt, status)
        detail = reply[:512].decode("utf-8", "replace")
        if status == 401 and not any(m in detail for m in EVIDENCE_401):
            return Result(Outcome.AUTH, status, detail)
        if status in PERMANENT or status == 401:
            return Result(Outcome.REFUSED, status, detail, reason=f"http_{status}",
                          attempts=int(st["attempts"]))
        if status == 429:
            return Result(Outcome.RETRY, status, retry_after=retry_after)
        return self._ambiguous(item, status, f"http_{status}")

    async def _probe(self, item: Item) -> Result | None:
        """An earlier attempt was ambiguous: the delivery probe may settle it without a POST."""
        st = self.state.get(item.key)
        if not st or not st["ambiguous"]:
            return None
        try:
            _, bundle_id, bundle_hash = _identify(item, item.read())
        except (OSError, ValueError):
            return None  # the send dead-letters it
        if not bundle_id:
            return None
        try:
            status, reply, _ = await self.request(
                "GET", evidence_verify_path(self.store.site_id, bundle_id), None, True)
        except Exception as exc:  # noqa: BLE001 - any transport failure: unknown
            status, reply = 0, str(getattr(exc, "kind", exc)).encode()
        st["last_probe"] = format_rfc3339(self.clock())
        if status != 200:
            return None
        receipt = _receipt(reply, bundle_id, bundle_hash)
        if receipt is None:  # a proxy's page is no answer: send it again
            self._count_bad_receipt(item, status, reply, "probe")
            return None
        return self._delivered(item, "probe", receipt, status)

    def _poison(self, item: Item, res: Result) -> Result | None:
        """The head has been ambiguous in ``POISON_DRAINS`` drains: dead-letter it if the next
        bundle is delivered (a 429 is not ambiguous)."""
        st = self.state.get(item.key)
        if res.status == 429 or not st or st["ambiguous_drains"] < POISON_DRAINS:
            return None
        return Result(Outcome.REFUSED, st.get("last_status"), reason="poison_5xx",
                      attempts=int(st["attempts"]))

    def _ambiguous(self, item: Item, status: int | None, why: str) -> Result:
        st = self._st(item)
        st["ambiguous"] += 1
        st["ambiguous_drains"] += 1
        log.warning("evidence.ambiguous", "evidence submission outcome unknown; the delivery "
                    "probe decides next time", seq=item.order, error_kind=why)
        return Result(Outcome.RETRY, status, why)

    def _count_bad_receipt(self, item: Item, status: int, reply: bytes, via: str) -> None:
        self.bad_receipts += 1
        self.last_bad_receipt = (f"{via}: HTTP {status} without a receipt naming the bundle: "
                                 + reply[:120].decode("utf-8", "replace"))
        log.warning("evidence.bad_receipt", "evidence endpoint answered 2xx without a receipt "
                    "naming the bundle; not counted as delivered", seq=item.order, status=status,
                    via=via, bad_receipts=self.bad_receipts)

    def _bad_receipt(self, item: Item, status: int, reply: bytes, via: str) -> Result:
        """A 2xx that does not prove delivery: the bundle may or may not be stored."""
        self._count_bad_receipt(item, status, reply, via)
        return self._ambiguous(item, None, "bad_receipt")

    def _delivered(self, item: Item, via: str, receipt: dict[str, Any], status: int) -> Result:
        """Journal the delivery (before the Drainer removes the spool file)."""
        if is_legacy(item):
            self.store.journal_legacy(item, "delivered", via=via)
        else:
            self.store.journal_delivered(item, via, receipt)
        self.state.pop(item.key, None)
        self.delivered += 1
        log.info("evidence.delivered", "evidence bundle delivered", seq=item.order, via=via,
                 chain_position=receipt.get("chain_position"))
        return Result(Outcome.DELIVERED, status, via)

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
                    1 for v in self.state.values() if v.get("ambiguous")),
                "bad_receipts": self.bad_receipts, "last_bad_receipt": self.last_bad_receipt}


def _identify(item: Item, body: bytes) -> tuple[str, str, str]:
    """``(checked_at, bundle_id, bundle_hash)`` of a pending body; ValueError when it is unusable.
    Our bundles must be exact §4.1 bodies; a Go-daemon body only needs to be a JSON object (its
    ``bundle_id``, when present, lets the delivery probe settle an ambiguous attempt)."""
    if not is_legacy(item):
        sub = parse_body(body)
        return sub.checked_at, sub.bundle_id, sub.bundle_hash
    doc = json.loads(body)
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    checked_at, bundle_id, bundle_hash = (doc.get("checked_at"), doc.get("bundle_id"),
                                          doc.get("bundle_hash"))
    return (checked_at if isinstance(checked_at, str) else "",
            bundle_id if isinstance(bundle_id, str) and 0 < len(bundle_id) <= 100 else "",
            bundle_hash if isinstance(bundle_hash, str) else "")


def _receipt(reply: bytes, bundle_id: str, bundle_hash: str) -> dict[str, Any] | None:
    """The receipt of a 2xx when it proves delivery of this bundle: an
    :class:`~agent.protocol.evidence.EvidenceReceipt` naming its ``bundle_id`` or
    ``bundle_hash``; None otherwise. A Go-daemon body that carries neither only needs a receipt
    that parses."""
    try:
        receipt = decode_evidence_receipt(reply)
    except ProtocolError:
        return None
    named = (bool(bundle_id) and receipt.bundle_id == bundle_id) \
        or (bool(bundle_hash) and receipt.bundle_hash == bundle_hash)
    return None if not named and (bundle_id or bundle_hash) else _json(reply)


def _json(raw: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _parse_time(text: str) -> float:
    """``checked_at``: ours are ``YYYY-MM-DDTHH:MM:SSZ``; Go-daemon bodies any RFC 3339 form
    (fractions, offsets). ValueError when it is neither."""
    return parse_rfc3339(text).timestamp()
