"""The order worker (orders.md §4-§5, §9): one order at a time, in delivery order.

For each delivered order: verify (§4 steps 1-12), admit through the nonce store (step 13: the
``executing`` record is fsynced before anything runs), run the handler with its timeout, record
the outcome, queue the completion in the durable outbox and post it. Rejections are logged (once
per order id and reason per hour) and, where §4 says so, answered with a failure completion.

:class:`OrderWorker` is the engine (no supervisor; the demo and the kill -9 tests drive it
directly); :class:`OrderComponent` wires it to the checkin component and the supervisor.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import msgspec

from agent.bus import Bus
from agent.config import Config
from agent.events import CheckinRequested, CheckinSucceeded, OrdersReceived
from agent.jobs import BaseComponent, Job, JobHost
from agent.log import get_logger
from agent.orders.handlers import Handler, HandlerContext, HandlerError, Hooks
from agent.orders.inbox import Inbox, order_key, record_key
from agent.orders.outbox import Item, Outbox, Poster
from agent.orders.refusals import AnsweredRefusals, refusal_key
from agent.orders.registry import REGISTRY, TypeInfo
from agent.orders.store import INTERRUPTED, MAX_RESUMES, OrderRecords, Record
from agent.orders.system import ALL_HANDLERS
from agent.orders.verify import (
    SECURITY_REASONS,
    Context,
    Signatures,
    Verdict,
    as_object,
    presign,
    verify,
)
from agent.outbox.queue import QueueError
from agent.priv.client import default_client
from agent.protocol.orders import MalformedOrder
from agent.site import DirectivesView, IdentityView
from agent.state.reserve import DiskReserve
from agent.update import pending
from agent.update.settings import UpdateSettings, running_version
from agent.uplink import Uplink, UplinkRefused, routes

log = get_logger("orders")

MAX_RESULT_BYTES = 64 * 1024
RESULT_PREVIEW_CHARS = 60_000
MAX_ERROR_CHARS = 4096
SYNC_POST_DEADLINE_S = 10.0
REJECT_QUIET_S = 3600.0
MAX_QUEUE = 1000
#: How long the queue waits before trying again an order it could not admit (full disk).
REFUSED_RETRY_S = 30.0
#: Orders recorded from a checkin response wait for the rest of that response (keys, credentials)
#: to be applied; this bounds the wait should the CheckinSucceeded never come.
HOLD_S = 60.0


def cap_result(result: dict[str, Any] | None) -> dict[str, Any] | None:
    """orders.md §5.1: results larger than 64 KiB serialized are replaced by a preview."""
    if result is None:
        return None
    try:
        text = msgspec.json.encode(result).decode()
    except (TypeError, msgspec.EncodeError):
        return {"_unserializable": True}
    if len(text.encode()) <= MAX_RESULT_BYTES:
        out: dict[str, Any] = msgspec.json.decode(text)
        return out
    return {"_truncated": True, "_original_bytes": len(text.encode()),
            "preview": text[:RESULT_PREVIEW_CHARS]}


def completion_body(success: bool, result: dict[str, Any] | None = None,
                    error: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"success": success}
    if result is not None:
        body["result"] = cap_result(result)
    if error is not None:
        body["error_message"] = error[:MAX_ERROR_CHARS]
    return body


@dataclass
class Stats:
    received: int = 0
    verified: int = 0
    executed: int = 0
    succeeded: int = 0
    failed: int = 0
    duplicates: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    interrupted: int = 0
    resumed: int = 0
    refused: int = 0  # nonce record could not be written: not run, nothing posted


@dataclass(frozen=True, slots=True)
class _Resume:
    record: Record
    order: Any  # the delivered order object to verify and run again
    inbox_key: str | None = None


class OrderWorker:
    def __init__(self, state_dir: Path, *, context: Callable[[], Context | None], post: Poster,
                 hooks: Hooks | None = None, site_id: str = "", config_path: Path | None = None,
                 handlers: dict[str, Handler] | None = None,
                 registry: dict[str, TypeInfo] | None = None,
                 clock: Callable[[], float] = time.time, established: bool = False,
                 reserve: DiskReserve | None = None) -> None:
        """``reserve``: the state directory's disk reserve (order records, the inbox and
        completions stay writable on a full disk; new orders wait while it is in use)."""
        self.state_dir = state_dir
        self.context = context
        self.post = post
        self.hooks = hooks or Hooks()
        self.site_id = site_id
        self.config_path = config_path
        self.handlers = ALL_HANDLERS if handlers is None else handlers
        self.registry = REGISTRY if registry is None else registry
        self.clock = clock
        self.records = OrderRecords(state_dir, clock=clock, established=established,
                                    reserve=reserve)
        self.inbox = Inbox(state_dir, reserve)
        self.refusals = AnsweredRefusals(state_dir, clock=clock)
        self.outbox = Outbox(state_dir, clock=clock, on_settled=self._settled, reserve=reserve)
        #: While an order at the head of the queue could not be admitted (a full disk, a full
        #: nonce store), the queue waits until this monotonic instant, then tries it again.
        self.paused_until = 0.0
        self.queue: list[Any] = []
        self._retry: list[Callable[[], object]] = []
        self.stats = Stats()
        self.memo: dict[str, Any] = {}
        self._quiet: dict[tuple[str, str], float] = {}
        self.on_event: Callable[[str, dict[str, Any]], None] | None = None
        #: Fault injection for the crash tests: called with the name of each durability point
        #: (``received``, ``inboxed``, ``admitted``, ``executed``, ``queued``).
        self.crash_point: Callable[[str], None] = _no_crash
        #: Wall-clock start of this worker: deferred completions written before it are decided
        #: by this process only once the restart they wait for has happened (agent.update).
        self.started_at = time.time()
        self.hooks.store_summary = self.hooks.store_summary or self.records.summary
        self.hooks.outbox_pending = self.hooks.outbox_pending or self.outbox.pending
        self._recover()

    # --- start-up (orders.md §4.4 crash recovery) ------------------------------------------

    def _recover(self) -> None:
        inbox = dict(self.inbox.open)
        for rec in self.records.recover():
            key = record_key(rec.order_id, rec.payload_sha256)
            if not rec.started and key in inbox:  # admitted, never ran: run it now
                self.queue.append(_Resume(rec, inbox.pop(key), key))
                continue
            info = self.registry.get(rec.order_type or "")
            if info is not None and info.idempotent and rec.resume is not None \
                    and rec.executions < MAX_RESUMES:
                self.queue.append(_Resume(rec, rec.resume))
                continue
            self._interrupted(rec)
        for rec in self.records.unacknowledged():  # finished, but the outbox write was lost
            self._later(self._requeue(rec), rec)
        # Delivered but not handled when the agent stopped: verified again, and the nonce store
        # decides (new: run; recorded: duplicate, its completion re-sent).
        self.queue.extend(inbox.values())

    def _requeue(self, rec: Record) -> Callable[[], object]:
        assert rec.completion is not None and rec.order_id is not None
        order_id, completion = rec.order_id, rec.completion
        return lambda: self.outbox.put(order_id, completion, nonce=rec.nonce)

    def _later(self, write: Callable[[], object], rec: Record) -> bool:
        """Run a recovery write now or, if the disk refuses it, again before the next order."""
        try:
            write()
            return True
        except (OSError, QueueError) as exc:
            log.error("orders.recovery_deferred", f"a recovered order's outcome could not be "
                      f"written ({exc}); tried again before the next order",
                      order_id=rec.order_id)
            self._retry.append(write)
            return False

    def _retry_writes(self) -> bool:
        """The recovery writes a full disk refused, again; True when none is left."""
        while self._retry:
            try:
                self._retry[0]()
            except (OSError, QueueError):
                return False
            self._retry.pop(0)
        return True

    def _interrupted(self, rec: Record) -> None:
        body = completion_body(False, error=INTERRUPTED)

        def write() -> None:
            self.records.finish(rec.nonce, "failed", body)
            if rec.order_id is not None:
                self.outbox.put(rec.order_id, body, nonce=rec.nonce)

        if not self._later(write, rec):
            return
        self.stats.interrupted += 1
        log.warning("orders.interrupted", "order was executing when the agent stopped; reported "
                    "as failed, not re-run", order_id=rec.order_id, order_type=rec.order_type)

    # --- intake ----------------------------------------------------------------------------

    def submit(self, orders: list[Any], malformed: list[MalformedOrder] | None = None) -> int:
        """Queue delivered orders (order structs or JSON objects); returns how many were new."""
        self.crash_point("received")
        queued = {self._key(o) for o in self.queue if not isinstance(o, _Resume)}
        added: list[Any] = []
        for bad in malformed or []:
            self._malformed(bad)
        for order in orders:
            key = self._key(order)
            if key in queued or len(self.queue) + len(added) >= MAX_QUEUE:
                continue
            queued.add(key)
            added.append(order)
        self._record(added)
        self.crash_point("inboxed")
        self.queue.extend(added)
        self.stats.received += len(added)
        return len(added)

    def _record(self, orders: list[Any]) -> None:
        """Durably record delivered orders before anything runs (the order inbox)."""
        entries = [(k, o) for o, k in ((o, order_key(o)) for o in map(as_object, orders))
                   if k is not None]
        try:
            self.inbox.record(entries)
        except OSError as exc:
            log.error("orders.inbox_failed", f"delivered orders could not be recorded ({exc}); "
                      "they are handled now but lost if the agent stops first",
                      orders=len(entries))

    @staticmethod
    def _key(order: Any) -> tuple[Any, Any]:
        obj = as_object(order)
        if not isinstance(obj, dict):
            return (None, id(order))
        sp = obj.get("signed_payload")
        return (obj.get("order_id"), sp if isinstance(sp, str) else None)

    def _malformed(self, bad: MalformedOrder) -> None:
        verdict = Verdict("reject", "failure" if bad.order_id else "none", "malformed",
                          f"order object does not decode: {bad.error}", bad.order_id)
        self._rejected(verdict)

    # --- processing ------------------------------------------------------------------------

    async def process_pending(self) -> int:
        """Process queued orders in delivery order; returns how many were handled. Orders stay
        queued while there is no context yet (no appliance id before the first checkin)."""
        handled = 0
        if not self._retry_writes():
            return 0  # the disk still refuses what recovery must write first
        sigs: Signatures | None = None
        while self.queue and not self.paused():
            ctx = self.context()
            if ctx is None:
                break
            if sigs is None:  # every queued order's signature in one batch (step 5 only)
                sigs = presign((i.order if isinstance(i, _Resume) else i for i in self.queue), ctx)
            item = self.queue[0]
            if isinstance(item, _Resume):
                ok, key = await self._resume(item, ctx, sigs), item.inbox_key
            else:
                ok, key = await self.process(item, ctx, sigs) is not None, \
                    order_key(as_object(item))
            if not ok:  # not admitted or not started (nothing ran): it waits at the head
                self._pause(key)
                break
            self.inbox.done(key)
            self.queue.pop(0)
            handled += 1
        if handled and self.outbox.pending():
            await self.drain()  # rejection completions, and anything left behind
        return handled

    def paused(self) -> bool:
        return time.monotonic() < self.paused_until

    def _pause(self, key: str | None) -> None:
        """Keep the head order for a later try; once admitted, it is retried as a resume."""
        self.paused_until = time.monotonic() + REFUSED_RETRY_S
        head = self.queue[0]
        if isinstance(head, _Resume) or key is None:
            return
        for rec in self.records.records.values():
            if rec.state == "executing" and not rec.started \
                    and record_key(rec.order_id, rec.payload_sha256) == key:
                self.queue[0] = _Resume(rec, as_object(head), key)
                return

    async def process(self, order: Any, ctx: Context,
                      signatures: Signatures | None = None) -> Verdict | None:
        try:
            verdict = verify(order, ctx, self.records, signatures)
        except OSError as exc:
            self.stats.refused += 1
            log.error("orders.record_failed", f"the nonce record could not be written ({exc}); "
                      "order not executed, nothing posted", order_id=_order_id(order))
            return None
        if verdict.verdict == "reject":
            self._rejected(verdict)
            return verdict
        assert verdict.order is not None
        if verdict.verdict == "duplicate":
            self.stats.duplicates += 1
            rec = self.records.records.get(verdict.order.nonce)
            if rec is not None and rec.completion is not None and not rec.acked \
                    and rec.state != "deferred":
                self.outbox.put(verdict.order.order_id, rec.completion, nonce=rec.nonce)
            self._event("duplicate", verdict)
            return verdict
        self.stats.verified += 1
        self.crash_point("admitted")
        self._event("verified", verdict)
        log.info("orders.accepted", "order verified; executing", order_id=verdict.order_id,
                 order_type=verdict.order_type, retry=verdict.retry)
        return verdict if await self._execute(verdict, ctx) else None

    async def _resume(self, item: _Resume, ctx: Context,
                      signatures: Signatures | None = None) -> bool:
        rec = item.record
        verdict = verify(item.order, ctx, None, signatures)  # steps 1-12 again: still valid now?
        if verdict.verdict != "accept" or verdict.order is None \
                or verdict.order.nonce != rec.nonce:
            self._interrupted(rec)
            await self.drain()
            return True
        self.stats.resumed += 1
        if rec.started:
            self.records.restarted(rec.nonce)
            log.warning("orders.resumed", "idempotent order interrupted by a restart; running "
                        "it again", order_id=rec.order_id, order_type=rec.order_type)
        else:
            log.warning("orders.resumed", "order admitted but not started before a restart; "
                        "running it now", order_id=rec.order_id, order_type=rec.order_type)
        return await self._execute(verdict, ctx)

    async def _execute(self, verdict: Verdict, ctx: Context) -> bool:
        """Run a verified order; False when it could not start (not run, nothing posted)."""
        order = verdict.order
        assert order is not None
        info = self.registry[order.order_type]
        handler = self.handlers.get(order.order_type)
        hctx = HandlerContext(order=order, appliance_id=ctx.appliance_id,
                              site_id=ctx.site_id or self.site_id, state_dir=self.state_dir,
                              config_path=self.config_path, hooks=self.hooks, memo=self.memo)

        def mark_deferred(result: dict[str, Any]) -> None:
            self.records.finish(order.nonce, "deferred", completion_body(True, result))
            hctx.deferred = True

        hctx.mark_deferred = mark_deferred
        try:
            self.records.start(order.nonce)
        except OSError as exc:
            self.stats.refused += 1
            log.error("orders.record_failed", f"the start of the order could not be recorded "
                      f"({exc}); not executed, nothing posted", order_id=order.order_id)
            return False
        self.stats.executed += 1
        started = time.monotonic()
        if handler is None:
            body = completion_body(False, error="unsupported_order_type: no handler in this build")
        else:
            try:
                async with asyncio.timeout(info.timeout_s):
                    result = await handler(order.handler_parameters(), hctx)
                body = completion_body(True, result)
            except HandlerError as exc:
                body = completion_body(False, exc.result, exc.message)
            except TimeoutError:
                body = completion_body(False, error=f"timed out after {_dur(info.timeout_s)}")
            except Exception as exc:  # noqa: BLE001  # a handler bug is the order's failure
                log.error("orders.handler_crashed", f"handler raised {type(exc).__name__}",
                          exc=True, order_type=order.order_type)
                body = completion_body(False, error=f"{type(exc).__name__}: {exc}")
        self.crash_point("executed")
        ok = bool(body["success"])
        if ok and hctx.deferred:
            return self._deferred(verdict)
        self.stats.succeeded += ok
        self.stats.failed += not ok
        try:
            self.records.finish(order.nonce, "succeeded" if ok else "failed", body)
            key = self.outbox.put(order.order_id, body, nonce=order.nonce)
        except (OSError, QueueError) as exc:
            # Even the disk reserve is spent. The order ran; it is not run again: after a
            # restart its record (executing, started) is reported as interrupted.
            log.error("orders.outcome_not_recorded", f"the order ran but its outcome could not "
                      f"be recorded ({exc}); it is reported as interrupted after a restart",
                      order_id=order.order_id, order_type=order.order_type, success=ok)
            return True
        self.crash_point("queued")
        duration_ms = int((time.monotonic() - started) * 1000)
        if ok:
            log.info("orders.executed", "order finished", order_id=order.order_id,
                     order_type=order.order_type, success=True, duration_ms=duration_ms)
        else:
            # The same reason the completion carries to Central Command (error_message).
            why = str(body.get("error_message") or "no reason given by the handler")
            log.warning("orders.failed", f"order failed: {why}", order_id=order.order_id,
                        order_type=order.order_type, success=False, reason=why,
                        duration_ms=duration_ms)
        self._event("executed", verdict, success=ok)
        if hctx.after_completion is not None and ok:
            # orders.md §5.4: the completion goes out before the restart.
            try:
                async with asyncio.timeout(SYNC_POST_DEADLINE_S):
                    await self.outbox.drain(self.post, only=key, force=True)
            except TimeoutError:
                log.warning("orders.sync_post_timeout", "completion not posted within 10 s; it "
                            "stays in the outbox", order_id=order.order_id)
            asyncio.get_running_loop().call_later(hctx.restart_in_s, hctx.after_completion)
            return True
        await self.drain()
        return True

    # --- deferred completions (nixos_rebuild, update_daemon) -------------------------------

    def _deferred(self, verdict: Verdict) -> bool:
        """The handler marked its outcome deferred (durably, before the switch): nothing more
        is written for it here; its successor process completes it."""
        order = verdict.order
        assert order is not None
        self.stats.succeeded += 1
        log.info("orders.deferred", "order completes after the restart it started",
                 order_id=order.order_id, order_type=order.order_type)
        self._event("executed", verdict, success=True)
        return True

    def resolve_deferred(self, *, version: str | None = None) -> int:
        """After a successful checkin: post the deferred completions this process can decide
        (agent.update.pending); returns how many were queued. ``version``: the running
        release (default this one's)."""
        if pending.in_flight(self.state_dir) is None:
            return 0  # nothing deferred (the common case: two stat calls per checkin)
        updates, priv = self.hooks.updates, self.hooks.priv
        current_system = os.path.realpath(getattr(updates, "current_system",
                                                  "/run/current-system"))
        rollback_reason = priv.last_reason() if priv is not None else None
        version = version or running_version()
        try:
            decided = pending.resolve(self.state_dir, version=version,
                                      current_system=current_system, started_at=self.started_at,
                                      rollback_reason=rollback_reason)
        except OSError as exc:
            log.error("orders.deferred_failed", f"deferred completions not decided ({exc})")
            return 0
        for res in decided:
            body = completion_body(res.success, res.result, res.error)
            rec = self.records.records.get(res.nonce or "")
            try:
                if rec is not None and rec.state == "deferred":
                    self.records.finish(rec.nonce, "succeeded" if res.success else "failed", body)
                self.outbox.put(res.order_id, body, nonce=rec.nonce if rec else None)
                res.settle(self.state_dir)
            except (OSError, QueueError) as exc:
                log.error("orders.deferred_lost", f"a deferred completion could not be queued "
                          f"({exc})", order_id=res.order_id)
                continue
            emit = log.info if res.success else log.warning
            emit("orders.deferred_completed", "deferred order completed" if res.success else
                 f"deferred order failed: {res.error}", order_id=res.order_id,
                 success=res.success)
        return len(decided)

    # --- rejections ------------------------------------------------------------------------

    def _rejected(self, verdict: Verdict) -> None:
        reason = verdict.reason
        self.stats.rejected[reason] = self.stats.rejected.get(reason, 0) + 1
        self._event("rejected", verdict)
        quiet_key = (verdict.order_id or "", reason)
        now = self.clock()
        if now - self._quiet.get(quiet_key, -REJECT_QUIET_S) >= REJECT_QUIET_S:
            self._quiet[quiet_key] = now  # re-delivered within the hour: re-checked, not re-logged
            if len(self._quiet) > 10_000:
                self._quiet = {k: t for k, t in self._quiet.items() if now - t < REJECT_QUIET_S}
            emit = log.error if reason in SECURITY_REASONS else log.warning
            emit("orders.rejected", f"order rejected: {verdict.error_message}",
                 order_id=verdict.order_id, order_type=verdict.order_type, reason=reason,
                 payload_sha256=(verdict.payload_sha256 or "")[:16])
        if verdict.completion == "failure" and verdict.order_id is not None:
            # answered once per order, across restarts (orders/refusals.py)
            key = refusal_key(verdict.order_id, verdict.payload_sha256, reason)
            if self.refusals.answered(key):
                return
            try:
                self.outbox.put(verdict.order_id, completion_body(False, error=verdict.error_message),
                                reason=reason)
            except (OSError, QueueError) as exc:
                log.error("orders.outbox_failed", f"rejection completion not queued: {exc}",
                          order_id=verdict.order_id)
                return
            self.refusals.record(key)

    # --- outbox ----------------------------------------------------------------------------

    async def drain(self, *, force: bool = False) -> int:
        return await self.outbox.drain(self.post, force=force)

    def _settled(self, item: Item) -> None:
        if item.nonce is not None:
            try:
                self.records.acknowledge(item.nonce)
            except OSError as exc:  # harmless: after a restart it is posted again (a duplicate)
                log.warning("orders.ack_not_recorded", f"completion delivered; its "
                            f"acknowledgement could not be recorded ({exc})",
                            order_id=item.order_id)
        self._event("completed", None, order_id=item.order_id,
                    success=bool(item.body.get("success")))

    def _event(self, name: str, verdict: Verdict | None, **extra: Any) -> None:
        if self.on_event is not None:
            info: dict[str, Any] = dict(extra)
            if verdict is not None:
                info.update(order_id=verdict.order_id, order_type=verdict.order_type,
                            verdict=verdict.text)
            self.on_event(name, info)

    def close(self) -> None:
        self.records.close()
        self.inbox.close()


def _no_crash(point: str) -> None:
    pass


def _order_id(order: Any) -> Any:
    obj = as_object(order)
    return obj.get("order_id") if isinstance(obj, dict) else None


def _dur(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m0s"
    return f"{seconds:g}s"


# --- the component -------------------------------------------------------------------------------

class SiteView(IdentityView, DirectivesView, Protocol):
    """What the order worker reads of the site: its appliance id and the directives."""


class OrderComponent(BaseComponent):
    """The order worker as a component: verified orders from :class:`OrdersReceived`, completions
    through the Uplink, one ``orders`` job that finishes its in-flight order at shutdown."""

    name = "orders"

    def __init__(self, config: Config, config_path: Path, *, uplink: Uplink, site: SiteView,
                 trusted_keys: Callable[[], list[str]], bus: Bus,
                 untrusted: Callable[[], str] = lambda: "",
                 status: Callable[[], dict[str, Any]] | None = None,
                 restart: Callable[[], None] | None = None, hooks: Hooks | None = None,
                 clock: Callable[[], float] = time.time, established: bool = False,
                 reserve: DiskReserve | None = None) -> None:
        """``established``: the identity keys existed before this start (not a fresh install);
        then lost order records set an epoch (see :class:`OrderRecords`). ``reserve``: the
        state directory's disk reserve (:class:`~agent.state.reserve.DiskReserve`)."""
        self.site_id = config.site_id
        self.uplink = uplink
        self.site = site
        self.trusted_keys = trusted_keys
        self.untrusted = untrusted
        self.bus = bus
        self.clock = clock
        self.host: JobHost | None = None
        self._checkin_ok = False
        self._held_since: float | None = None
        h = hooks or Hooks()
        h.trigger_checkin = h.trigger_checkin or self._trigger_checkin
        h.restart = h.restart or restart
        h.healing_paused = h.healing_paused or (
            lambda: site.directives.healing_paused(datetime.now(UTC)))
        h.disabled_checks = h.disabled_checks or (lambda: site.directives.disabled_checks)
        h.status = h.status or status
        h.updates = h.updates or UpdateSettings.from_config(config)
        h.priv = h.priv or default_client(Path(config.state_dir))
        self.worker = OrderWorker(
            Path(config.state_dir), context=self._context, post=self._post, hooks=h,
            site_id=config.site_id, config_path=config_path, clock=clock, established=established,
            reserve=reserve)

    def health_figures(self) -> dict[str, Any]:
        """``daemon_health`` figures (central-api.md §6.3)."""
        return {"completion_outbox_pending": self.worker.outbox.pending()}

    def on_orders(self, event: OrdersReceived) -> None:
        """Record the delivered orders durably now; run them after :meth:`on_checkin`."""
        self._held_since = time.monotonic()
        self.submit(list(event.orders), list(event.malformed))

    def on_checkin(self, event: CheckinSucceeded | None = None) -> None:
        """The checkin response is fully applied (trusted keys, credentials): run its orders."""
        self._held_since = None
        self.worker.resolve_deferred()
        if self.host is not None and (self.worker.queue or self.worker.outbox.pending()):
            self.host.run_job_now(self.name)

    def _held(self) -> bool:
        if self._held_since is None:
            return False
        if time.monotonic() - self._held_since < HOLD_S:
            return True
        self._held_since = None
        return False

    def _context(self) -> Context | None:
        appliance_id = self.site.appliance_id
        if not appliance_id:
            return None
        return Context.build(appliance_id, self.site_id,
                             datetime.fromtimestamp(self.clock(), UTC), self.trusted_keys(),
                             untrusted=self.untrusted())

    async def _post(self, order_id: str, body: dict[str, Any]) -> int:
        from agent.protocol.orders import OrderCompletion, order_complete_path

        try:
            completion = msgspec.convert(body, OrderCompletion)
        except msgspec.ValidationError as exc:
            raise UplinkRefused("order_completion", f"not an order completion: {exc}") from None
        reply = await self.uplink.send(routes.ORDER_COMPLETE, completion,
                                       path=order_complete_path(order_id))
        return reply.status

    def submit(self, orders: list[Any], malformed: list[MalformedOrder]) -> None:
        """Handoff from a successful checkin (orders.md §4.5: only with an appliance id)."""
        self._checkin_ok = True
        added = self.worker.submit(orders, malformed)
        if self._held_since is None and self.host is not None \
                and (added or self.worker.outbox.pending()):
            self.host.run_job_now(self.name)

    def _trigger_checkin(self) -> None:
        self.bus.publish(CheckinRequested("force_checkin order"))

    def install(self, host: JobHost) -> None:
        self.host = host
        longest = max(t.timeout_s for t in REGISTRY.values() if t.status == "must")
        host.add_job(Job(
            name=self.name, run=self.run_once,
            delay=lambda: 1.0 if self.worker.queue and not self.worker.paused() else 15.0,
            deadline=longest + 2 * 60.0, on_shutdown="finish", from_completion=True))

    async def run_once(self) -> None:
        if self._held():
            return  # the checkin that delivered them is still being applied
        force = self._checkin_ok
        self._checkin_ok = False
        await self.worker.process_pending()
        await self.worker.drain(force=force)

    def status(self) -> dict[str, Any]:
        s = self.worker.stats
        return {"queued": len(self.worker.queue), "received": s.received, "verified": s.verified,
                "executed": s.executed, "succeeded": s.succeeded, "failed": s.failed,
                "duplicates": s.duplicates, "rejected": dict(s.rejected),
                "interrupted": s.interrupted, "refused": s.refused,
                "completion_outbox_pending": self.worker.outbox.pending(),
                "completion_outbox": self.worker.outbox.queue.status(),
                "inbox_pending": len(self.worker.inbox.open),
                "admission_paused": self.worker.paused(),
                "outbox_last_error": self.worker.outbox.last_error,
                "nonce_store": self.worker.records.summary()}

    def summary(self) -> str:
        pending = self.worker.outbox.pending()
        return f"orders {self.worker.stats.executed} run" + (f", {pending} unposted" if pending
                                                            else "")

    def flush(self) -> None:
        pass  # every record and outbox item is already durable when written

    async def close(self) -> None:
        self.worker.close()

