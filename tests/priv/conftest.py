"""The update tests' world: the local Central Command over TLS (a test CA, ``localhost``) serving
the releases, the played service manager, a release signer, and release 1.0.0 installed by the
helper and current (the initial install)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from nacl.signing import SigningKey
from tests.checkin.conftest import server_context
from tests.orders import agentparts

from agent.central import CentralCommand
from agent.priv.bundle import unpack
from agent.priv.client import PrivClient

from . import harness
from .releases import release

SITE = "clinic-update"


@dataclass
class World:
    h: harness.Harness
    cc: CentralCommand
    seed: bytes
    url: str
    cfg: Path
    client: PrivClient

    def publish(self, name: str, data: bytes) -> tuple[str, str]:
        path, sha = self.cc.artifacts.publish(name, data)
        return self.url + path, sha


async def install_base(h: harness.Harness, client: PrivClient, seed: bytes) -> None:
    await harness.install_initial_release(h, client, "1.0.0", release("1.0.0", seed))


@dataclass
class Base:
    h: harness.Harness
    client: PrivClient
    seed: bytes

    def stage(self, name: str, data: bytes) -> None:
        """A bundle as the agent stages it, for the helper to install."""
        staging = self.h.state_dir / "update-staging"
        staging.mkdir(mode=0o700, exist_ok=True)
        archive = self.h.root / f"{name}.tar"
        archive.write_bytes(data)
        unpack(archive, staging / name, 1 << 26)


async def _base(tmp_path: Path, nixos: bool) -> Base:
    seed = os.urandom(32)
    h = harness.install(tmp_path, release_key=SigningKey(seed).verify_key.encode().hex())
    client = PrivClient(h.priv_root, systemctl=h.systemctl,
                        trial_file=h.priv_state / "trial.json")
    if nixos:
        await harness.install_store_release(h, client, "1.0.0", release("1.0.0", seed))
    else:
        await install_base(h, client, seed)
    return Base(h, client, seed)


@pytest.fixture
async def base(tmp_path: Path) -> Base:
    """The played service manager, a release signer, release 1.0.0 installed and current."""
    return await _base(tmp_path, nixos=False)


@pytest.fixture
async def nixos_base(tmp_path: Path) -> Base:
    """The played NixOS: release 1.0.0 is the unit's store program, no release installed."""
    return await _base(tmp_path, nixos=True)


async def _world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 nixos: bool) -> AsyncIterator[World]:
    ca = trustme.CA()
    ca_pem = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_pem))
    cc = CentralCommand(tmp_path / "central.db", ssl_context=server_context(ca))
    await cc.start()
    cc.create_site(SITE)
    seed = os.urandom(32)
    pub = SigningKey(seed).verify_key.encode().hex()
    h = harness.install(tmp_path, release_key=pub)
    url = f"https://localhost:{cc.port}"
    cfg = agentparts.write_config(tmp_path, url, SITE, cc.create_api_key(SITE))
    with cfg.open("a") as fh:
        fh.write(f"download_allowed_hosts: [localhost]\nrelease_public_key: {pub}\n"
                 f"download_ca_file: {ca_pem}\nupdate_health_timeout_s: 60\n")
    h.set_agent(cfg, {"SSL_CERT_FILE": str(ca_pem)})
    for key, value in h.agent_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_pem))
    client = PrivClient(h.priv_root, systemctl=h.systemctl,
                        trial_file=h.priv_state / "trial.json")
    if nixos:
        await harness.install_store_release(h, client, "1.0.0", release("1.0.0", seed))
    else:
        await install_base(h, client, seed)
    try:
        yield World(h, cc, seed, url, cfg, client)
    finally:
        await cc.stop()
        cc.close()


@pytest.fixture
async def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    async for w in _world(tmp_path, monkeypatch, nixos=False):
        yield w


@pytest.fixture
async def nixos_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    """The world on the played NixOS: 1.0.0 is the store program of the agent unit."""
    async for w in _world(tmp_path, monkeypatch, nixos=True):
        yield w
