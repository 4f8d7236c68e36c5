"""Child process of the kill -9 test: processes a stream of signed orders with the real worker,
nonce store and outbox in STATE, and may be killed at any instant.

Every start re-delivers the whole stream (as a server re-delivers what it has not seen completed),
processes it, and drains the outbox until empty. Handlers record their effect by appending the
order's nonce to ``effects.log`` (fsynced) — a double execution would show as a repeated line. The
"server" appends every accepted completion to ``server.log`` (fsynced) and randomly answers 503.

    python -m tests.orders.killchild STATE ORDERS.json SEED
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def _append(path: Path, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)


async def main(state: Path, spec: dict[str, Any], seed: int) -> int:
    from agent.orders.handlers import HandlerContext
    from agent.orders.verify import Context
    from agent.orders.worker import OrderWorker

    rng = random.Random(seed)
    effects = state.parent / "effects.log"
    server = state.parent / "server.log"

    async def effect(params: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
        await asyncio.sleep(rng.uniform(0, 0.01))
        _append(effects, f"{ctx.order.order_type} {ctx.order.nonce}")
        await asyncio.sleep(rng.uniform(0, 0.01))
        return {"status": "done", "nonce": ctx.order.nonce}

    async def post(order_id: str, body: dict[str, Any]) -> int:
        await asyncio.sleep(rng.uniform(0, 0.003))
        if rng.random() < 0.25:
            return 503
        _append(server, json.dumps({"order_id": order_id, "body": body}))
        return 200

    def context() -> Context:
        return Context.build(spec["appliance_id"], spec["site_id"], datetime.now(UTC),
                             spec["trusted_keys"])

    worker = OrderWorker(state, context=context, post=post,
                         handlers={t: effect for t in ("nix_gc", "run_drift", "force_checkin")})
    print("READY", flush=True)
    worker.submit(spec["orders"])
    await worker.process_pending()
    while worker.outbox.pending():
        await worker.drain(force=True)
    worker.close()
    print("DONE", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text()),
                             int(sys.argv[3]))))
