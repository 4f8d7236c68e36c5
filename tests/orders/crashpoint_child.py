"""Child of the named-crash-point test: one agent start (checkin → order worker → completions)
against the local Central Command, dying with ``os._exit`` at the named durability point.

Handlers record their effect by appending ``<order_type> <nonce>`` to ``effects.log`` (fsynced):
a double execution shows as a repeated line.

    python -m tests.orders.crashpoint_child CONFIG POINT|-
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from tests.orders.killchild import _append

CRASH_EXIT = 86


async def main(cfg_path: Path, point: str) -> int:
    from agent.bus import Bus
    from agent.checkin import CheckinComponent
    from agent.config import load_config
    from agent.events import OrdersReceived
    from agent.orders.handlers import HandlerContext
    from agent.orders.worker import OrderComponent
    from agent.state import load_or_create

    effects = cfg_path.parent / "effects.log"

    async def effect(params: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
        _append(effects, f"{ctx.order.order_type} {ctx.order.nonce}")
        return {"status": "done"}

    def crash(name: str) -> None:
        if name == point:
            os._exit(CRASH_EXIT)

    cfg = load_config(cfg_path, environ={}).config
    bus = Bus()
    comp = CheckinComponent(cfg, cfg_path, load_or_create(Path(cfg.state_dir)), bus=bus)
    orders = OrderComponent(cfg, cfg_path, uplink=comp.uplink, site=comp.shared,
                            trusted_keys=comp.server_keys.trusted_keys, bus=bus, status=comp.status)
    orders.worker.handlers = {"nix_gc": effect, "run_drift": effect}
    orders.worker.crash_point = crash
    bus.subscribe(OrdersReceived, orders.on_orders)
    bus.freeze()
    try:
        for _ in range(2):
            assert await comp.run_once()
            await orders.run_once()
    finally:
        await orders.close()
        await comp.close()
    print("DONE", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(Path(sys.argv[1]), sys.argv[2])))
