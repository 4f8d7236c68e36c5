"""Sensor orders as the Go daemon answers them."""

from __future__ import annotations

from pathlib import Path

import pytest

from . import signer
from .test_worker import Server, make, run


@pytest.mark.parametrize("kind", ["deploy_sensor", "remove_sensor", "deploy_linux_sensor",
                                  "remove_linux_sensor"])
async def test_sensor_orders_need_a_hostname(tmp_path: Path, kind: str) -> None:
    """The Go daemon fails these with 'hostname is required' (processor.go handleDeploySensor)."""
    server = Server()
    w = make(tmp_path, server)
    bare, empty = signer.admin(kind, {}), signer.admin(kind, {"hostname": ""})
    named = signer.admin(kind, {"hostname": "ws01.clinic.local"})
    await run(w, bare, empty, named)
    for o in (bare, empty):
        [body] = server.bodies(o["order_id"])
        assert body == {"success": False, "error_message": "hostname is required"}
    [ok] = server.bodies(named["order_id"])
    assert ok["success"] is True and ok["result"]["status"] == "not_implemented"
    assert ok["result"]["hostname"] == "ws01.clinic.local"
