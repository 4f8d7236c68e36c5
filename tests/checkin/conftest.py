"""The agent's checkin component against a real local Central Command over TLS on loopback."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from agent.bus import Figures
from agent.central import CentralCommand
from agent.checkin import CheckinComponent
from agent.config import Config, load_config
from agent.state import load_or_create
from agent.wiring import Options, Wired, build

SITE = "clinic-test"


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
    return ctx


def client_context(*cas: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    for ca in cas:
        ca.configure_trust(ctx)
    return ctx


@dataclass
class Env:
    tmp: Path
    cc: CentralCommand
    ca: trustme.CA
    api_key: str
    config_path: Path
    state: Path

    def _config(self, overrides: dict[str, object]) -> Config:
        lines = [f"site_id: {SITE}", f"api_key: {self.api_key}", f"api_endpoint: {self.cc.url}",
                 f"state_dir: {self.state}", "poll_interval: 60"]
        lines += [f"{k}: {v}" for k, v in overrides.items()]
        self.config_path.write_text("\n".join(lines) + "\n")
        return load_config(self.config_path, environ={}).config

    def component(self, *cas: trustme.CA, figures: Figures | None = None,
                  **overrides: object) -> CheckinComponent:
        """The checkin component alone, with private services."""
        cfg = self._config(overrides)
        keys = load_or_create(self.state)
        return CheckinComponent(cfg, self.config_path, keys, figures=figures,
                                ssl_context=client_context(*(cas or (self.ca,))))

    def wired(self, options: Options | None = None, **overrides: object) -> Wired:
        """The whole agent as the composition root builds it, over TLS to this server."""
        cfg = self._config(overrides)
        keys = load_or_create(self.state)
        opt = options or Options(own_mac="")
        opt.ssl_context = client_context(self.ca)
        return build(cfg, self.config_path, keys, opt)

    async def restart_server(self, ca: trustme.CA) -> None:
        port = self.cc.port
        await self.cc.stop()
        self.cc.close()
        self.cc = CentralCommand(self.tmp / "central.db", port=port, ssl_context=server_context(ca))
        await self.cc.start()


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    ca = trustme.CA()
    cc = CentralCommand(tmp_path / "central.db", ssl_context=server_context(ca))
    await cc.start()
    cc.create_site(SITE)
    key = cc.create_api_key(SITE)
    e = Env(tmp_path, cc, ca, key, tmp_path / "config.yaml", tmp_path / "state")
    e.state.mkdir(mode=0o700)
    yield e
    await e.cc.stop()
    e.cc.close()
