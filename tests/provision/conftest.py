"""Fixtures of the provisioning tests: the local Central Command and an installer image whose ISO
release CA it knows."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nacl.signing
import pytest

from agent.backoff import Backoff
from agent.central import CentralCommand
from agent.central.provisioning import mint_claim_cert
from agent.checkin.sysinfo import interface_macs
from agent.provision import Facts, Installer, Options, Provisioner

SITE = "clinic-blank"
#: The MAC the checkin will send (its appliance id must be the one the claim registered).
MAC = interface_macs()[0][1] if interface_macs() else "00:00:00:00:00:00"


@dataclass
class Image:
    """An installer image (``claim.cert``, ``claim-ca.pub``, ``central-command.pub``,
    ``provision.yaml``) and the test's view of it."""

    root: Path
    ca: nacl.signing.SigningKey
    release: str
    cc: CentralCommand
    tmp: Path
    sleeps: list[float] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)

    @property
    def installer(self) -> Installer:
        return Installer.at(self.root)

    @property
    def config(self) -> Path:
        return self.tmp / "config.yaml"

    @property
    def state(self) -> Path:
        return self.tmp / "state"

    def write_cert(self, *, valid_for_s: float = 90 * 86400, ca: nacl.signing.SigningKey | None = None,
                   tamper: dict[str, Any] | None = None) -> dict[str, Any]:
        now = time.time()
        cert = mint_claim_cert(bytes(ca or self.ca), self.release, issued_at=now - 60,
                               valid_until=now + valid_for_s)
        cert["payload"].update(tamper or {})
        (self.root / "claim.cert").write_text(json.dumps(cert, indent=2))
        return cert

    def options(self, **kw: Any) -> Options:
        return Options(self.config, self.state, self.installer, **kw)

    def prepare(self, prov: Provisioner) -> None:
        """No real waiting: the delays the one Backoff picks are recorded, and the status line
        read while waiting."""
        from agent.provision import status_line

        prov.backoff = Backoff(0.01, 0.04, jitter="full", retry_after_max_s=3600.0)

        async def sleep(delay: float) -> None:
            self.sleeps.append(delay)
            self.statuses.append(status_line(self.state) or "")

        prov.sleep = sleep


FACTS = Facts(MAC, [MAC], "blank-appliance", "4C4C4544-0042-3010-8057-B4C04F303032")


@pytest.fixture
async def cc(tmp_path: Path) -> AsyncIterator[CentralCommand]:
    server = CentralCommand(tmp_path / "central.db")
    await server.start()
    yield server
    await server.stop()
    server.close()


@pytest.fixture
def image(tmp_path: Path, cc: CentralCommand) -> Image:
    root = tmp_path / "installer"
    release = cc.provisioning.build_installer_image(root, site_id=SITE, api_endpoint=cc.url,
                                                    server_public_key=cc.server_public_key)
    return Image(root, nacl.signing.SigningKey(release.ca_seed), release.sha, cc, tmp_path)
