"""The agent's checkin and order worker wired as the daemon does, against the local Central
Command (shared by the end-to-end order tests and their crash child)."""

from __future__ import annotations

from pathlib import Path

from agent.bus import Bus
from agent.checkin import CheckinComponent
from agent.config import load_config
from agent.events import CheckinSucceeded, OrdersReceived
from agent.orders.worker import OrderComponent
from agent.state import load_or_create


def write_config(root: Path, url: str, site_id: str, api_key: str) -> Path:
    """A state directory and ``config.yaml`` under ``root``; returns the config path."""
    state = root / "state"
    state.mkdir(mode=0o700, exist_ok=True)
    cfg_path = root / "config.yaml"
    cfg_path.write_text(f"site_id: {site_id}\napi_key: {api_key}\n"
                        f"api_endpoint: {url}\nstate_dir: {state}\npoll_interval: 60\n")
    return cfg_path


def build(cfg_path: Path) -> tuple[CheckinComponent, OrderComponent]:
    """The checkin and the order worker alone, without the scan/heal/rules hooks or a restart
    hook: the order types that need them fail, saying so."""
    cfg = load_config(cfg_path, environ={}).config
    bus = Bus()
    comp = CheckinComponent(cfg, cfg_path, load_or_create(Path(cfg.state_dir)), bus=bus)
    orders = OrderComponent(cfg, cfg_path, uplink=comp.uplink, site=comp.shared,
                            trusted_keys=comp.server_keys.trusted_keys, bus=bus, status=comp.status)
    bus.subscribe(OrdersReceived, orders.on_orders)
    bus.subscribe(CheckinSucceeded, orders.on_checkin)
    bus.freeze()
    return comp, orders
