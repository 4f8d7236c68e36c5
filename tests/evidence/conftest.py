"""Shared fixtures: an evidence store and submitter against the local Central Command (real
HTTP on loopback) with a settable clock."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tests.fakeclock import FakeClock

from agent.central import CentralCommand
from agent.crypto import Ed25519Key
from agent.evidence.bundle import CheckResult, ScanResult
from agent.evidence.store import EvidenceStore, Limits
from agent.evidence.submit import EvidenceSubmitter

KEY = Ed25519Key(bytes(range(64, 96)))
SITE = "lakeside-pediatrics"
NOW = 1_779_289_200.0  # 2026-05-20T15:00:00Z


class Env:
    def __init__(self, cc: CentralCommand, session: aiohttp.ClientSession, key: str,
                 state: Path, clock: FakeClock) -> None:
        self.cc, self.session, self.key, self.state, self.clock = cc, session, key, state, clock
        self.down = False
        self.reopen()

    def reopen(self) -> None:
        """A new store and submitter on the same state (an agent restart)."""
        self.store = EvidenceStore(self.state, KEY, SITE, limits=Limits(min_free_bytes=0),
                                   clock=self.clock)
        self.sub = EvidenceSubmitter(self.store, self.request, clock=self.clock)

    async def request(self, method: str, path: str, body: bytes | None,
                      probe: bool) -> tuple[int, bytes, float | None]:
        if self.down:
            raise OSError("connection refused")
        headers = {"Content-Type": "application/json"}
        if not probe:
            headers["Authorization"] = f"Bearer {self.key}"
        async with self.session.request(method, self.cc.url + path, data=body,
                                        headers=headers) as r:
            return r.status, await r.read(), None

    def scan(self, host: str = "192.168.88.20", fail: bool = False) -> ScanResult:
        ts = self.clock() - 60
        import time as _t
        checked = _t.strftime("%Y-%m-%dT%H:%M:%SZ", _t.gmtime(ts))
        res = [CheckResult("linux_firewall", host, "fail" if fail else "pass",
                           expected="active", actual="inactive", hipaa_control="164.312(e)(1)")]
        return ScanResult("linux", checked, [host], res)

    def journal(self) -> list[dict[str, Any]]:
        return [json.loads(x) for p in sorted((self.state / "evidence_chain").glob("journal-*"))
                for x in p.read_text().splitlines()]


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    clock = FakeClock(NOW)
    cc = CentralCommand(tmp_path / "central.db", clock=clock)
    await cc.start()
    cc.create_site(SITE)
    async with aiohttp.ClientSession() as session:
        yield Env(cc, session, cc.create_api_key(SITE), tmp_path / "state", clock)
    await cc.stop()
    cc.close()
