"""``journal show``: heals and orders from the real journal writers, read-only."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.fakeclock import FakeClock
from tests.orders import signer

from agent.healing.journal import HealingJournal
from agent.orders.handlers import HANDLERS, HandlerContext, HandlerError
from agent.orders.verify import Context
from agent.orders.worker import OrderWorker

from .conftest import Cli


def _heals(state: Path) -> None:
    t = iter(range(1_779_289_200, 1_779_289_300))
    j = HealingJournal(state, clock=lambda: float(next(t)))
    j.open()
    for hid, host, outcome in (("h1", "pc-01", "healed"), ("h2", "pc-02", "failed"),
                               ("h3", "pc-01", None)):
        j.append(hid, "begin", durable=True, level="L1", incident_id=f"i-{hid}", rule_id="R1",
                 runbook_id="LIN-FW-001", host=host, platform="linux", check_type="linux_firewall",
                 trigger="scan", param_names=[])
        j.append(hid, "phase_begin", durable=True, phase="remediate")
        if outcome is not None:
            j.append(hid, "end", durable=True, outcome=outcome, phase="verify",
                     error_category="verify_failed" if outcome == "failed" else "",
                     error="firewall still off" if outcome == "failed" else "")
    j.append("n1", "escalated", durable=False, incident_id="i-9", check_type="linux_ntp",
             reason="no_l1_match")
    j.close()


async def _orders(state: Path) -> list[dict[str, Any]]:
    async def post(order_id: str, body: dict[str, Any]) -> int:
        return 200

    async def refuses(params: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
        raise HandlerError("sensor daemon not installed")

    clk = FakeClock(signer.NOW.timestamp())
    ctx = Context.build(signer.APPLIANCE, signer.SITE, signer.NOW, [signer.KEY.public_hex])
    w = OrderWorker(state, context=lambda: replace(ctx, now=datetime.fromtimestamp(clk.t, UTC)),
                    post=post, site_id=signer.SITE, clock=clk,
                    handlers={**HANDLERS, "sensor_status": refuses})
    orders = [signer.admin("disable_healing", {"reason": "maintenance"}), signer.admin("sensor_status")]
    w.submit(orders)
    await w.process_pending()
    w.close()
    return orders


async def test_show_open_finished_and_orders(cli: Cli) -> None:
    _heals(cli.state)
    orders = await _orders(cli.state)
    before = {p.name: p.read_bytes() for p in cli.state.iterdir() if p.is_file()}
    doc = cli.json("journal", "show")
    assert [h["heal_id"] for h in doc["open_heals"]] == ["h3"]
    assert doc["open_heals"][0]["phase"] == "remediate"
    assert [(h["heal_id"], h["status"]) for h in doc["finished_heals"]] == [
        ("h1", "healed"), ("h2", "failed")]
    assert doc["finished_heals"][1]["error"] == "firewall still off"
    assert doc["decisions"] == [{"status": "escalated", "at": doc["decisions"][0]["at"],
                                 "incident_id": "i-9", "check_type": "linux_ntp",
                                 "rule_id": None, "runbook_id": None, "reason": "no_l1_match"}]
    by_id = {o["order_id"]: o for o in doc["orders"]}
    assert by_id[orders[0]["order_id"]]["status"] == "succeeded"
    assert by_id[orders[1]["order_id"]]["status"] == "failed"
    assert by_id[orders[1]["order_id"]]["error"] == "sensor daemon not installed"
    after = {p.name: p.read_bytes() for p in cli.state.iterdir() if p.is_file()}
    assert after == before  # read-only

    text = cli("journal", "show")
    assert text.returncode == 0
    assert "Open heals: 1" in text.stdout and "failed in verify: verify_failed firewall still off" \
        in text.stdout
    assert "sensor_status" in text.stdout and "sensor daemon not installed" in text.stdout


async def test_filters(cli: Cli) -> None:
    _heals(cli.state)
    await _orders(cli.state)
    only_open = cli.json("journal", "show", "--open")
    assert [h["heal_id"] for h in only_open["open_heals"]] == ["h3"]
    assert "finished_heals" not in only_open and only_open["orders"] == []
    host = cli.json("journal", "show", "--host", "pc-02")
    assert [h["heal_id"] for h in host["finished_heals"]] == ["h2"] and host["open_heals"] == []
    failed = cli.json("journal", "show", "--status", "failed")
    assert [h["heal_id"] for h in failed["finished_heals"]] == ["h2"]
    assert [o["order_type"] for o in failed["orders"]] == ["sensor_status"]
    last = cli.json("journal", "show", "--last", "1")
    assert [h["heal_id"] for h in last["finished_heals"]] == ["h2"] and len(last["orders"]) == 1
    assert cli("journal", "show", "--last", "0").returncode == 2


def test_damaged_lines_are_reported(cli: Cli) -> None:
    _heals(cli.state)
    with open(cli.state / "healing_journal.jsonl", "ab") as fh:
        fh.write(b"\x00garbage\n")
    r = cli("journal", "show")
    assert r.returncode == 1 and "1 damaged line(s) skipped" in r.stdout
    empty = Cli(cli.tmp, cli.tmp / "other")
    (cli.tmp / "other").mkdir()
    assert empty.json("journal", "show")["open_heals"] == []
