"""Reconcile plans (orders.md §6) and their acknowledgement (central-api.md §7.2).

A plan arrives in a checkin response after the appliance woke in a past state. It is checked in
the order of orders.md §6 (any failure: ERROR logged, nothing changed, **no** ack); a valid plan is
applied — the new generation UUID written durably, the last-known-good marker touched, the plan id
recorded (the last 100 in ``reconcile_plans.json``) — and acknowledged through the Uplink
(``POST /api/appliances/reconcile/ack`` with ``post_boot_counter`` / ``post_generation_uuid``; a
failed apply is acked with ``success: false`` and the error). Unlike the Go daemon
(reconcile_apply.go), the order nonce store is **not** purged (orders.md §4.4). ``runbook_ids`` are
logged only: the normal scan cycle re-heals. An ack that could not be delivered is tried again
after later checkins, at most :data:`ACK_TRIES` times within :data:`ACK_WINDOW_S`, then dropped.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from agent.crypto.keys import verify_ed25519
from agent.log import get_logger
from agent.protocol.codec import strict_json
from agent.protocol.errors import ProtocolError
from agent.protocol.reconcile import ReconcileAck, ReconcilePlan
from agent.protocol.timefmt import parse_timestamp
from agent.state.atomic import atomic_write
from agent.uplink import TransportError, Uplink, UplinkRefused, routes

log = get_logger("checkin")

GENERATION_FILE: Final = "generation_uuid"
LKG_FILE: Final = "last_known_good.mtime"  # the Go daemon's marker (reconcile.go)
APPLIED_FILE: Final = "reconcile_plans.json"
KEEP_APPLIED: Final = 100
MAX_AGE_S: Final = 600.0
ACK_TRIES: Final = 3
ACK_WINDOW_S: Final = 600.0
_SIG: Final = re.compile(r"[0-9a-f]{128}", re.ASCII)
_UUID: Final = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", re.ASCII)
_SIGNED_KEYS: Final = ("event_id", "appliance_id", "nonce_epoch_hex", "generation_uuid",
                       "runbook_ids", "issued_at")


class PlanRejected(Exception):
    """The plan failed a check of orders.md §6: nothing changes, no ack."""


def check_plan(plan: ReconcilePlan, trusted_keys: Sequence[bytes], appliance_id: str | None,
               now: float, applied: Sequence[str]) -> None:
    """orders.md §6 checks 1-7; raises :class:`PlanRejected` naming the first that fails."""
    if not _SIG.fullmatch(plan.signature_hex):
        raise PlanRejected("signature_hex is not 128 lower-case hex characters")
    payload = plan.signed_payload.encode("utf-8", "surrogatepass")
    sig = bytes.fromhex(plan.signature_hex)
    if not any(verify_ed25519(k, payload, sig) for k in trusted_keys):
        raise PlanRejected("signature does not verify with a trusted server key")
    try:
        signed = strict_json(plan.signed_payload)
    except (ValueError, RecursionError):
        raise PlanRejected("signed_payload is not strict JSON") from None
    if not isinstance(signed, dict) or any(k not in signed for k in _SIGNED_KEYS):
        raise PlanRejected("signed_payload lacks a required key")
    wire = {"event_id": plan.plan_id, "generation_uuid": plan.new_generation_uuid,
            "nonce_epoch_hex": plan.nonce_epoch_hex, "runbook_ids": plan.runbook_ids,
            "appliance_id": plan.appliance_id}
    for key, value in wire.items():
        if signed[key] != value:
            raise PlanRejected(f"unsigned {key} differs from the signed value")
    try:
        issued = parse_timestamp(str(signed["issued_at"])).timestamp()
        wire_issued = parse_timestamp(plan.issued_at).timestamp()
    except ProtocolError:
        raise PlanRejected("issued_at is not a valid timestamp") from None
    if issued != wire_issued:
        raise PlanRejected("unsigned issued_at differs from the signed value")
    if not appliance_id or signed["appliance_id"] != appliance_id:
        raise PlanRejected("plan is for another appliance")
    if abs(now - issued) > MAX_AGE_S:
        raise PlanRejected("plan issued more than 10 minutes from now")
    if plan.plan_id in applied:
        raise PlanRejected("plan already applied")
    if not _UUID.fullmatch(plan.new_generation_uuid):
        raise PlanRejected("new_generation_uuid is not a UUID")


@dataclass
class _PendingAck:
    ack: ReconcileAck
    first_try: float
    tries: int = 0


class Reconciler:
    def __init__(self, state_dir: Path, *, boot_counter: Callable[[], int],
                 clock: Callable[[], float] = time.time) -> None:
        self.state_dir = state_dir
        self.boot_counter = boot_counter
        self.clock = clock
        self.pending: list[_PendingAck] = []
        self.stats = {"applied": 0, "rejected": 0, "acked": 0, "ack_dropped": 0}

    def applied(self) -> list[str]:
        try:
            doc = json.loads((self.state_dir / APPLIED_FILE).read_bytes())
        except (OSError, ValueError):
            return []
        ids = doc.get("applied") if isinstance(doc, dict) else None
        return [i for i in ids if isinstance(i, str)] if isinstance(ids, list) else []

    async def handle(self, plan: ReconcilePlan | None, trusted_keys: Sequence[bytes],
                     appliance_id: str | None, uplink: Uplink) -> None:
        """One checkin's plan (if any), then any acks still owed."""
        if plan is not None:
            ack = self._check_and_apply(plan, trusted_keys, appliance_id)
            if ack is not None:
                self.pending.append(_PendingAck(ack, self.clock()))
        await self.send_pending(uplink)

    def _check_and_apply(self, plan: ReconcilePlan, trusted_keys: Sequence[bytes],
                         appliance_id: str | None) -> ReconcileAck | None:
        try:
            check_plan(plan, trusted_keys, appliance_id, self.clock(), self.applied())
        except PlanRejected as exc:
            self.stats["rejected"] += 1
            log.error("reconcile.rejected", f"reconcile plan rejected: {exc}; nothing changed, "
                      "no ack", plan_id=plan.plan_id)
            return None
        log.warning("reconcile.applying", "reconcile plan verified; applying",
                    plan_id=plan.plan_id, runbook_ids=list(plan.runbook_ids))
        try:
            atomic_write(self.state_dir / GENERATION_FILE,
                         plan.new_generation_uuid.encode() + b"\n", 0o600)
        except OSError as exc:
            log.error("reconcile.apply_failed", f"generation_uuid not written: {exc}",
                      plan_id=plan.plan_id)
            return ReconcileAck(event_id=plan.plan_id, success=False,
                                error_message=f"generation_uuid write failed: {exc}")
        try:
            atomic_write(self.state_dir / LKG_FILE, b"", 0o600)
        except OSError as exc:  # the next checkin touches it; not a failed plan
            log.warning("reconcile.lkg_not_touched", f"last-known-good marker: {exc}")
        ids = [*self.applied(), plan.plan_id][-KEEP_APPLIED:]
        try:
            atomic_write(self.state_dir / APPLIED_FILE, json.dumps({"applied": ids}).encode(),
                         0o600)
        except OSError as exc:
            log.warning("reconcile.not_recorded", f"applied plan id not recorded: {exc}")
        self.stats["applied"] += 1
        return ReconcileAck(event_id=plan.plan_id, success=True,
                            post_boot_counter=self.boot_counter(),
                            post_generation_uuid=plan.new_generation_uuid)

    async def send_pending(self, uplink: Uplink) -> None:
        now, keep = self.clock(), []
        for p in self.pending:
            if p.tries >= ACK_TRIES or now - p.first_try > ACK_WINDOW_S:
                self.stats["ack_dropped"] += 1
                log.error("reconcile.ack_dropped", "reconcile ack not delivered; dropped",
                          plan_id=p.ack.event_id, tries=p.tries)
                continue
            p.tries += 1
            try:
                reply = await uplink.send(routes.RECONCILE_ACK, p.ack)
                delivered = 200 <= reply.status < 300
            except (OSError, TransportError, UplinkRefused) as exc:
                log.warning("reconcile.ack_failed", f"reconcile ack not sent: {exc}",
                            plan_id=p.ack.event_id)
                delivered = False
            if delivered:
                self.stats["acked"] += 1
                log.info("reconcile.acked", "reconcile plan acknowledged",
                         plan_id=p.ack.event_id, success=p.ack.success)
            else:
                keep.append(p)
        self.pending = keep
