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
    from tests.orders import agentparts

    from agent.orders.handlers import HandlerContext

    effects = cfg_path.parent / "effects.log"

    async def effect(params: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
        _append(effects, f"{ctx.order.order_type} {ctx.order.nonce}")
        return {"status": "done"}

    def crash(name: str) -> None:
        if name == point:
            os._exit(CRASH_EXIT)

    comp, orders = agentparts.build(cfg_path)
    orders.worker.handlers = {"nix_gc": effect, "run_drift": effect}
    orders.worker.crash_point = crash
    if point == "applying":  # dies while the rest of the checkin response is being applied
        comp._directives = lambda r: crash("applying")  # type: ignore[method-assign]
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
