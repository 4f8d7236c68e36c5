"""The worker: execution, failure results, rejections, outbox delivery and crash recovery."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tests.fakeclock import FakeClock

from agent.orders.handlers import HANDLERS, Handler, HandlerContext, Hooks
from agent.orders.registry import REGISTRY
from agent.orders.store import INTERRUPTED, OrderRecords
from agent.orders.verify import Context
from agent.orders.worker import OrderWorker
from agent.transport.client import TransportError

from . import signer


class Server:
    """A fake completion endpoint: answers from a script, records what it accepted."""

    def __init__(self) -> None:
        self.answers: list[int | Exception] = []
        self.posted: list[tuple[str, dict[str, Any]]] = []
        self.calls = 0

    async def __call__(self, order_id: str, body: dict[str, Any]) -> int:
        self.calls += 1
        answer = self.answers.pop(0) if self.answers else 200
        if isinstance(answer, Exception):
            raise answer
        if answer < 300:
            self.posted.append((order_id, body))
        return answer

    def bodies(self, order_id: str) -> list[dict[str, Any]]:
        return [b for oid, b in self.posted if oid == order_id]

T0 = signer.NOW.timestamp()


def make(tmp_path: Path, server: Server, clock: FakeClock | None = None, **kw: Any) -> OrderWorker:
    clk = clock or FakeClock(T0)
    ctx = Context.build(signer.APPLIANCE, signer.SITE, signer.NOW, [signer.KEY.public_hex])
    return OrderWorker(tmp_path, context=lambda: replace(ctx, now=_dt(clk.t)), post=server,
                       site_id=signer.SITE, clock=clk, **kw)


def _dt(t: float) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC)


async def run(worker: OrderWorker, *orders: dict[str, Any]) -> None:
    worker.submit(list(orders))
    await worker.process_pending()


async def test_executes_posts_and_acknowledges(tmp_path: Path) -> None:
    server = Server()
    w = make(tmp_path, server)
    o = signer.admin("disable_healing", {"reason": "maintenance"})
    await run(w, o)
    assert server.bodies(o["order_id"]) == [
        {"success": True, "result": {"healing_enabled": False, "reason": "maintenance"}}]
    assert (tmp_path / "healing_enabled").read_text() == "false\n"
    assert w.records.records[o["nonce"]].acked and w.outbox.pending() == 0
    await run(w, o)  # re-delivered: duplicate, not executed again
    assert w.stats.executed == 1 and w.stats.duplicates == 1 and len(server.posted) == 1


async def test_bad_parameters_are_a_failed_result(tmp_path: Path) -> None:
    server = Server()
    w = make(tmp_path, server)
    orders = [signer.admin("view_logs", {"lines": 501}),
              signer.admin("diagnostic", {"command": "rm -rf /"}),
              signer.admin("nix_gc", {"older_than_days": "many"}),
              signer.admin("force_checkin", {"surprise": 1}),
              signer.admin("reprovision", {"new_site_id": "x", "new_api_key": "short"}),
              signer.admin("sync_promoted_rule", {"rule_id": "r1", "rule_yaml": "id: r1"}),
              signer.admin("clear_winrm_pin", {"hostname": ["a"]})]
    await run(w, *orders)
    for o in orders:
        [body] = server.bodies(o["order_id"])
        assert body["success"] is False and body["error_message"], o["order_type"]
    assert "between 1 and 500" in server.bodies(orders[0]["order_id"])[0]["error_message"]
    assert "unexpected parameters: surprise" in server.bodies(orders[3]["order_id"])[0][
        "error_message"]


async def test_timeout_and_crashing_handler(tmp_path: Path) -> None:
    async def slow(params: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
        await asyncio.sleep(3600)
        return {}

    async def broken(params: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
        raise KeyError("boom")

    registry = dict(REGISTRY, view_logs=replace(REGISTRY["view_logs"], timeout_s=0.01))
    server = Server()
    w = make(tmp_path, server, handlers={**HANDLERS, "view_logs": slow, "sensor_status": broken},
             registry=registry)
    a, b = signer.admin("view_logs"), signer.admin("sensor_status")
    await run(w, a, b)
    assert server.bodies(a["order_id"]) == [{"success": False,
                                             "error_message": "timed out after 0.01s"}]
    assert server.bodies(b["order_id"])[0]["error_message"] == "KeyError: 'boom'"


async def test_rejections_follow_the_completion_policy(tmp_path: Path) -> None:
    server = Server()
    w = make(tmp_path, server)
    forged = signer.admin("nix_gc", key=signer.OTHER_KEY)
    sibling = signer.admin("nix_gc", appliance_id="clinic-a-52:54:00:00:00:02")
    later = signer.admin("rotate_wg_key")
    never = signer.admin("run_command", {"command": "id"})
    watchdog = signer.admin("watchdog_restart_daemon")
    await run(w, forged, sibling, later, never, watchdog)
    await run(w, forged)  # re-delivered within the hour: not re-posted
    assert [b["error_message"].split(":")[0] for b in server.bodies(forged["order_id"])] == [
        "bad_signature"]
    assert server.bodies(sibling["order_id"]) == [] and server.bodies(watchdog["order_id"]) == []
    for o in (later, never):
        [body] = server.bodies(o["order_id"])
        assert body["error_message"].startswith("unsupported_order_type")
    assert w.stats.executed == 0
    assert w.stats.rejected == {"bad_signature": 2, "wrong_target": 1,
                                "unsupported_order_type": 2, "wrong_recipient": 1}


async def test_outbox_keeps_results_while_the_server_is_down(tmp_path: Path) -> None:
    server = Server()
    clock = FakeClock(T0)
    w = make(tmp_path, server, clock)
    o = signer.admin("sensor_status")
    server.answers = [TransportError("connect", "refused")]
    await run(w, o)
    assert w.outbox.pending() == 1 and not server.posted
    assert await w.drain() == 0 and server.calls == 1  # backing off: not even tried
    # The agent restarts while the server is down: the result survives on disk.
    w.close()
    server.answers = [503, 401]
    w = make(tmp_path, server, clock)
    clock.t += 10
    await w.drain()
    clock.t += 60
    await w.drain()
    assert w.outbox.pending() == 1 and not server.posted
    await w.drain(force=True)  # after a successful checkin
    assert [b["success"] for b in server.bodies(o["order_id"])] == [True]
    assert w.outbox.pending() == 0 and w.records.records[o["nonce"]].acked


async def test_definitive_4xx_removes_and_old_items_are_dropped(tmp_path: Path) -> None:
    server = Server()
    clock = FakeClock(T0)
    w = make(tmp_path, server, clock)
    server.answers = [404]
    await run(w, signer.admin("sensor_status"))
    assert w.outbox.pending() == 0 and not server.posted
    server.answers = [503]
    await run(w, signer.admin("sensor_status"))
    clock.t += 8 * 86400
    await w.drain(force=True)
    assert w.outbox.pending() == 0 and w.outbox.dropped == 1


async def test_crash_mid_execution_is_reported_not_rerun(tmp_path: Path) -> None:
    o = signer.admin("nix_gc")
    ctx = Context.build(signer.APPLIANCE, signer.SITE, signer.NOW, [signer.KEY.public_hex])
    store = OrderRecords(tmp_path, clock=FakeClock(T0))
    from agent.orders.verify import verify

    assert verify(o, ctx, store).verdict == "accept"  # journaled as executing, then "killed"
    store.close()
    server = Server()
    w = make(tmp_path, server)
    await w.drain()
    assert server.bodies(o["order_id"]) == [{"success": False, "error_message": INTERRUPTED}]
    await run(w, o)
    assert w.stats.executed == 0 and w.stats.duplicates == 1


async def test_idempotent_order_is_rerun_after_a_crash(tmp_path: Path) -> None:
    o = signer.admin("sensor_status")
    ctx = Context.build(signer.APPLIANCE, signer.SITE, signer.NOW, [signer.KEY.public_hex])
    store = OrderRecords(tmp_path, clock=FakeClock(T0))
    from agent.orders.verify import verify

    verify(o, ctx, store)
    store.close()
    server = Server()
    w = make(tmp_path, server)
    await w.process_pending()
    [body] = server.bodies(o["order_id"])
    assert body["success"] is True and w.stats.resumed == 1


async def test_restart_agent_posts_before_restarting(tmp_path: Path) -> None:
    server = Server()
    seen: list[int] = []
    restarted = asyncio.Event()

    def restart() -> None:
        seen.append(len(server.posted))
        restarted.set()

    w = make(tmp_path, server, hooks=Hooks(restart=restart))
    o = signer.admin("restart_agent")
    await run(w, o)
    await asyncio.wait_for(restarted.wait(), 5)
    assert seen == [1] and server.bodies(o["order_id"])[0]["result"] == {
        "status": "restart_scheduled"}


async def test_reprovision_rewrites_config_and_requires_a_target(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("site_id: clinic-a\napi_key: \"old-key-0123456789012345678901234567890\"\n")
    server = Server()
    restarted = asyncio.Event()
    w = make(tmp_path, server, hooks=Hooks(restart=restarted.set), config_path=cfg)
    new_key = "N" * 43
    untargeted = signer.fleet("reprovision", {"new_site_id": "clinic-b", "new_api_key": new_key})
    await run(w, untargeted)
    assert server.bodies(untargeted["order_id"])[0]["success"] is False
    assert "clinic-a" in cfg.read_text()
    o = signer.admin("reprovision", {"new_site_id": "clinic-b", "new_api_key": new_key,
                                     "restart_delay_sec": 0})
    await run(w, o)
    await asyncio.wait_for(restarted.wait(), 5)
    text = cfg.read_text()
    assert "site_id: \"clinic-b\"" in text and new_key in text
    assert (tmp_path / "config.yaml.pre-reprovision").read_text().startswith("site_id: clinic-a")
    assert server.bodies(o["order_id"])[0]["result"]["new_site_id"] == "clinic-b"


async def test_file_handlers(tmp_path: Path) -> None:
    server = Server()
    w = make(tmp_path, server)
    rule = ("id: promoted-1\nname: Firewall\nconditions:\n  - field: check_type\n"
            "    operator: eq\n    value: firewall\naction: restore_firewall_baseline\n")
    (tmp_path / "winrm_pins.json").write_text(json.dumps({"dc01": {}, "dc01:5985": {}, "x": {}}))
    orders = [signer.admin("sync_promoted_rule", {"rule_id": "promoted-1", "rule_yaml": rule}),
              signer.admin("sync_promoted_rule", {"rule_id": "promoted-1", "rule_yaml": rule}),
              signer.admin("clear_winrm_pin", {"hostname": "dc01"}),
              signer.admin("diagnostic", {"command": "order_nonces"}),
              signer.admin("update_iso", {"version": "1.2", "iso_url": "https://evil.example/x"})]
    await run(w, *orders)
    results = [server.bodies(o["order_id"])[0] for o in orders]
    assert results[0]["result"] == {"status": "deployed", "rule_id": "promoted-1"}
    assert results[1]["result"] == {"status": "already_exists", "rule_id": "promoted-1"}
    assert (tmp_path / "rules" / "promoted" / "promoted-1.yaml").read_text() == rule
    assert json.loads((tmp_path / "winrm_pins.json").read_text()) == {"x": {}}
    assert json.loads(results[3]["result"]["output"])["records"] == 4
    assert results[4]["success"] is False and "allowed host" in results[4]["error_message"]


@pytest.mark.parametrize(("selectors", "why"), [
    ({"hostname": "10.0.0.5", "check_type": "firewall"}, "incident journal not available"),
    ({"check_type": "firewall"}, "incident journal not available"),
])
async def test_healing_is_blocked_without_local_records(tmp_path: Path, selectors: dict[str, Any],
                                                        why: str) -> None:
    server = Server()
    w = make(tmp_path, server)
    o = signer.healing("RB-WIN-FIREWALL-001", selectors)
    await run(w, o)
    [body] = server.bodies(o["order_id"])
    assert body["success"] is False and body["result"]["status"] == "blocked"
    assert why in body["result"]["reason"]
    (tmp_path / "healing_enabled").write_text("false\n")
    o2 = signer.healing("RB-WIN-FIREWALL-001", selectors)
    await run(w, o2)
    assert server.bodies(o2["order_id"])[0]["error_message"].startswith("healing paused")


async def test_no_context_keeps_orders_queued(tmp_path: Path) -> None:
    server = Server()
    w = OrderWorker(tmp_path, context=lambda: None, post=server)
    w.submit([signer.admin("sensor_status")])
    assert await w.process_pending() == 0 and len(w.queue) == 1


def _recorder() -> tuple[list[str], Handler]:
    """A handler that records the nonce of every order it ran."""
    effects: list[str] = []

    async def effect(params: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
        effects.append(ctx.order.nonce)
        return {"status": "done"}

    return effects, effect


async def test_delivered_orders_survive_a_restart_before_they_run(tmp_path: Path) -> None:
    o = signer.admin("nix_gc", {"older_than_days": 3})
    effects, effect = _recorder()

    server = Server()
    w = make(tmp_path, server, handlers={"nix_gc": effect})
    assert w.submit([o]) == 1
    w.close()  # "killed" after the checkin handed the order over, before it ran
    w = make(tmp_path, server, handlers={"nix_gc": effect})
    assert len(w.queue) == 1
    await w.process_pending()
    assert effects == [o["nonce"]] and server.bodies(o["order_id"])[0]["success"] is True
    w.close()
    w = make(tmp_path, server, handlers={"nix_gc": effect})
    assert w.queue == [] and w.inbox.pending() == []
    await run(w, o)  # re-delivered: a duplicate
    assert effects == [o["nonce"]]


async def test_admitted_order_that_never_started_runs_after_a_restart(tmp_path: Path) -> None:
    o = signer.admin("nix_gc", {"older_than_days": 3})
    effects, effect = _recorder()

    def die(point: str) -> None:
        if point == "admitted":
            raise SystemExit  # the nonce record is written; the handler never started

    server = Server()
    w = make(tmp_path, server, handlers={"nix_gc": effect})
    w.crash_point = die
    with pytest.raises(SystemExit):
        await run(w, o)
    w.close()
    w = make(tmp_path, server, handlers={"nix_gc": effect})
    await w.process_pending()
    assert effects == [o["nonce"]] and w.stats.resumed == 1
    assert server.bodies(o["order_id"]) == [{"success": True, "result": {"status": "done"}}]


async def test_lost_records_never_rerun_an_executed_order(tmp_path: Path) -> None:
    o = signer.admin("nix_gc", {"older_than_days": 3})
    effects, effect = _recorder()
    server = Server()
    w = make(tmp_path, server, handlers={"nix_gc": effect})
    await run(w, o)
    w.close()
    (tmp_path / "order_records.db").unlink()  # the nonce records are gone
    clock = FakeClock(T0 + 30)
    w = make(tmp_path, server, clock, handlers={"nix_gc": effect}, established=True)
    await run(w, o)  # redelivered while still valid
    assert effects == [o["nonce"]] and w.stats.rejected == {"before_epoch": 1}
    assert w.records.summary()["epoch"] is not None
    assert server.bodies(o["order_id"])[-1]["error_message"].startswith("before_epoch: ")


async def test_one_checkin_s_orders_are_verified_in_one_signature_batch(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import agent.orders.verify as verify_mod

    calls: list[int] = []
    real = verify_mod.verify_any_key

    def counting(signed: Any, keys: Any) -> Any:
        calls.append(len(signed))
        return real(signed, keys)

    monkeypatch.setattr(verify_mod, "verify_any_key", counting)
    single: list[Any] = []
    monkeypatch.setattr(verify_mod, "verify_ed25519", lambda *a: single.append(a) or False)
    server = Server()
    w = make(tmp_path, server)
    good = [signer.admin("disable_healing", {"reason": f"r{i}"}) for i in range(4)]
    forged = signer.admin("nix_gc", key=signer.OTHER_KEY)
    await run(w, good[0], forged, *good[1:])
    assert calls == [5] and single == []  # one batch for the five; none verified alone
    assert w.stats.executed == 4 and w.stats.rejected == {"bad_signature": 1}
    assert [b["error_message"].split(":")[0] for b in server.bodies(forged["order_id"])] == [
        "bad_signature"]
