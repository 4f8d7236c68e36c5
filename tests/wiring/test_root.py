"""The composition root builds one of each service, hands them out, subscribes every consumer,
freezes the bus, and closes the shared services exactly once after the components."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.bus import FrozenBus
from agent.config import load_config
from agent.events import CheckinRequested, CheckinSucceeded, OrdersReceived
from agent.scan.events import HealFinished, HealQueued, HostScanned, IncidentsFound
from agent.state import load_or_create
from agent.wiring import Options, Wired, build


def _build(tmp_path: Path, **opts: Any) -> Wired:
    state = tmp_path / "state"
    state.mkdir(mode=0o700, exist_ok=True)
    cfg_path = tmp_path / "config.yaml"
    cfg_path.write_text(f"site_id: clinic-root\napi_key: {'k' * 40}\n"
                        f"api_endpoint: http://127.0.0.1:9\nstate_dir: {state}\n")
    return build(load_config(cfg_path, environ={}).config, cfg_path, load_or_create(state),
                 Options(own_mac="", **opts))


async def test_every_consumer_is_subscribed_and_the_bus_is_frozen(tmp_path: Path) -> None:
    w = _build(tmp_path)
    try:
        assert w.bus.frozen
        with pytest.raises(FrozenBus):
            w.bus.subscribe(CheckinSucceeded, lambda e: None)
        expected = {CheckinSucceeded: 5, OrdersReceived: 1, CheckinRequested: 1, HostScanned: 3,
                    IncidentsFound: 1, HealQueued: 1, HealFinished: 2}
        assert {t: w.bus.subscribers(t) for t in expected} == expected
        names = [c.name for c in w.components]
        assert len(names) == len(set(names))
        assert set(names) == {"checkin", "orders", "evidence", "reports", "scan", "healing",
                              "state_file", "logship", "inventory"}
    finally:
        await w.close()


async def test_one_of_each_service_is_shared(tmp_path: Path) -> None:
    w = _build(tmp_path)
    try:
        # one Uplink for every sender, one executor pool for scanning and healing, one site state
        assert w.checkin.uplink is w.uplink and w.orders.uplink is w.uplink
        assert w.evidence.uplink is w.uplink and w.reports.uplink is w.uplink
        assert w.logship.uplink is w.uplink and w.scan.uplink is w.uplink
        assert w.healing.uplink is w.uplink
        assert w.inventory is not None and w.inventory.uplink is w.uplink
        assert w.scan.executors is w.executors and w.healing.executors is w.executors
        assert w.checkin.shared is w.site and w.orders.site is w.site and w.scan.site is w.site
        assert w.scan.engine is w.rules.engine is w.healing.engine
        assert w.checkin.witness is w.evidence.witness
    finally:
        await w.close()


async def test_events_flow_between_components_through_the_bus(tmp_path: Path) -> None:
    from agent.exec import Target
    from agent.scan.model import HostResult

    w = _build(tmp_path)
    try:
        res = HostResult("localhost", "linux", "complete", {}, [], finished_at=1.0)
        w.bus.publish(HostScanned(Target.local(), res))  # the state file records the scan
        assert "localhost" in w.state_file.persistence.doc.last_successful_scan
        w.bus.publish(HealQueued("10.0.0.9"))  # the scan holds the host ...
        w.bus.publish(HealFinished("10.0.0.9", ran=True))  # ... and rescans it early
    finally:
        await w.close()


async def test_the_shared_services_are_closed_once_after_the_components(tmp_path: Path) -> None:
    order: list[str] = []
    w = _build(tmp_path)
    real_uplink, real_pool = w.uplink.close, w.executors.close

    async def uplink_close() -> None:
        order.append("uplink")
        await real_uplink()

    async def pool_close() -> None:
        order.append("executors")
        await real_pool()

    w.uplink.close = uplink_close  # type: ignore[method-assign]
    w.executors.close = pool_close  # type: ignore[method-assign]
    for comp in w.components:
        real = comp.close

        async def close(real: Any = real, name: str = comp.name) -> None:
            order.append(name)
            await real()

        comp.close = close  # type: ignore[method-assign]
    await w.close()
    assert order[-2:] == ["executors", "uplink"] and order.count("uplink") == 1
    assert order[0] == "logship" and order.index("checkin") == len(order) - 3
