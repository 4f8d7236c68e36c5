"""The daemon under the crash loop: ``python -m agent run`` exactly as systemd starts it, with the
effect of the two non-idempotent order types recorded instead of performed.

The handlers of ``nix_gc`` and ``run_drift`` append ``<order_type> <nonce>`` to EFFECTS (fsynced
before they return): an order that ran twice shows as a repeated line.

    python bench/crash_child.py CONFIG EFFECTS
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

RECORDED = ("nix_gc", "run_drift")


def main(config: str, effects: Path) -> int:
    from agent import wiring
    from agent.cli import main as cli_main
    from agent.orders.handlers import HandlerContext

    async def effect(params: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
        fd = os.open(effects, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"{ctx.order.order_type} {ctx.order.nonce}\n".encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        return {"status": "done"}

    build = wiring.daemon

    def daemon(*args: Any, **kwargs: Any) -> wiring.Wired:
        wired = build(*args, **kwargs)
        wired.orders.worker.handlers = {**wired.orders.worker.handlers,
                                        **{t: effect for t in RECORDED}}
        return wired

    wiring.daemon = daemon  # type: ignore[assignment]
    return cli_main(["run", "--config", config])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], Path(sys.argv[2])))
