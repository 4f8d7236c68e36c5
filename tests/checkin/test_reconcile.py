"""Reconcile plans (orders.md §6): checked, applied and acknowledged against the local Central
Command, which issues one when the checkin reports two time-travel signals."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from nacl.signing import SigningKey

from agent.checkin.reconcile import GENERATION_FILE, LKG_FILE, PlanRejected, check_plan
from agent.protocol.reconcile import ReconcilePlan

from .conftest import SITE, Env

NOW = 1_790_000_000.0
ISSUED = datetime.fromtimestamp(NOW, UTC).isoformat()
APPLIANCE = f"{SITE}-52:54:00:AB:CD:EF"
KEY = SigningKey(bytes(range(32)))
PUB = bytes(KEY.verify_key)


def _plan(**change: Any) -> ReconcilePlan:
    signed = {"event_id": "11111111-2222-3333-4444-555555555555", "appliance_id": APPLIANCE,
              "nonce_epoch_hex": "ab" * 32,
              "generation_uuid": "66666666-7777-8888-9999-000000000000", "runbook_ids": [],
              "issued_at": ISSUED}
    signed.update(change.pop("signed", {}))
    text = json.dumps(signed, sort_keys=True)
    wire = {"plan_id": signed["event_id"], "new_generation_uuid": signed["generation_uuid"],
            "nonce_epoch_hex": signed["nonce_epoch_hex"], "runbook_ids": signed["runbook_ids"],
            "issued_at": signed["issued_at"], "appliance_id": signed["appliance_id"],
            "signature_hex": KEY.sign(text.encode()).signature.hex(), "signed_payload": text}
    wire.update(change)
    return msgspec.convert(wire, ReconcilePlan)


def test_a_valid_plan_passes() -> None:
    check_plan(_plan(), [PUB], APPLIANCE, NOW, [])


@pytest.mark.parametrize(("plan", "appliance", "now", "applied", "why"), [
    (_plan(signature_hex="AB" * 64), APPLIANCE, NOW, [], "hex"),
    (_plan(signature_hex="00" * 64), APPLIANCE, NOW, [], "does not verify"),
    (_plan(new_generation_uuid="66666666-7777-8888-9999-000000000001"), APPLIANCE, NOW, [],
     "generation_uuid differs"),
    (_plan(issued_at=datetime.fromtimestamp(NOW + 1, UTC).isoformat()), APPLIANCE, NOW, [],
     "issued_at differs"),
    (_plan(), f"{SITE}-52:54:00:AB:CD:EE", NOW, [], "another appliance"),
    (_plan(), APPLIANCE, NOW + 601, [], "10 minutes"),
    (_plan(), APPLIANCE, NOW, ["11111111-2222-3333-4444-555555555555"], "already applied"),
])
def test_every_check_refuses(plan: ReconcilePlan, appliance: str, now: float, applied: list[str],
                             why: str) -> None:
    with pytest.raises(PlanRejected, match=why):
        check_plan(plan, [PUB], appliance, now, applied)


def _signals(comp: Any) -> Any:
    """The checkin reports two time-travel signals (the agent's detection is not built yet);
    returns the original request builder."""
    build = comp.build_request

    def with_signals(facts: Any) -> Any:
        return msgspec.structs.replace(build(facts), reconcile_needed=True,
                                       reconcile_signals=["boot_counter_regression",
                                                          "generation_mismatch"])
    comp.build_request = with_signals
    return build


async def test_a_plan_from_the_server_is_applied_and_acknowledged(env: Env) -> None:
    comp = env.component()
    try:
        assert await comp.run_once()  # first contact: the server's key becomes trusted
        build = _signals(comp)
        assert await comp.run_once()  # the response carries a signed plan
        comp.build_request = build  # the signals are gone once the plan is applied
        [ack] = env.cc.records("reconcile_ack", SITE)
        state = Path(env.state)
        assert ack["success"] is True
        assert ack["post_generation_uuid"] == (state / GENERATION_FILE).read_text().strip()
        assert isinstance(ack["post_boot_counter"], int)
        assert (state / LKG_FILE).exists()
        assert comp.reconciler.stats == {"applied": 1, "rejected": 0, "acked": 1,
                                         "ack_dropped": 0}
        assert await comp.run_once()  # no plan without signals; none re-applied
        assert len(env.cc.records("reconcile_ack", SITE)) == 1
    finally:
        await comp.close()


class _FlakyUplink:
    """Fails the first ``failures`` sends, then answers 200."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.sent: list[Any] = []

    async def send(self, route: Any, payload: Any) -> Any:
        from agent.uplink import Reply, TransportError

        self.sent.append(payload)
        if self.failures > 0:
            self.failures -= 1
            raise TransportError("connect", "refused")
        return Reply(200, b'{"status": "recorded"}')


async def test_an_undelivered_ack_is_retried_then_dropped(tmp_path: Path) -> None:
    from tests.fakeclock import FakeClock

    from agent.checkin.reconcile import Reconciler

    clock = FakeClock(NOW)
    rec = Reconciler(tmp_path, boot_counter=lambda: 7, clock=clock)
    flaky: Any = _FlakyUplink(failures=1)
    await rec.handle(_plan(), [PUB], APPLIANCE, flaky)  # applied; the ack fails once
    assert rec.stats["applied"] == 1 and rec.stats["acked"] == 0 and len(rec.pending) == 1
    await rec.handle(None, [PUB], APPLIANCE, flaky)  # the next checkin delivers it
    assert rec.stats["acked"] == 1 and not rec.pending
    assert flaky.sent[-1].post_boot_counter == 7 and flaky.sent[-1].success is True
    down: Any = _FlakyUplink(failures=99)
    second = _plan(signed={"event_id": "11111111-2222-3333-4444-555555555556"})
    await rec.handle(second, [PUB], APPLIANCE, down)
    for _ in range(5):
        clock.advance(60)
        await rec.handle(None, [PUB], APPLIANCE, down)
    assert len(down.sent) == 3 and rec.stats["ack_dropped"] == 1 and not rec.pending
    await rec.handle(_plan(), [PUB], APPLIANCE, down)  # already applied: no change, no ack
    assert rec.stats["rejected"] == 1 and len(down.sent) == 3
