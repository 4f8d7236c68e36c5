"""Fixtures for the local Central Command tests: a started server on loopback with a controllable
clock, the sample keys of ``../shared/samples/README.md`` and a small HTTP client."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tests.fakeclock import FakeClock

from agent.central import CentralCommand
from agent.crypto import Ed25519Key, X25519Keypair, sign_request

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
SITE = "lakeside-pediatrics"
MAC = "52:54:00:AB:CD:EF"
APPLIANCE = f"{SITE}-{MAC}"
SAMPLE_NOW = 1779289200.0  # 2026-05-20T15:00:00Z, the samples' "now"
CHECKIN = "/api/appliances/checkin"

SERVER_SEED = bytes(range(0, 32))
PREVIOUS_SEED = bytes(range(96, 128))
IDENTITY = Ed25519Key(bytes(range(32, 64)))
EVIDENCE_KEY = Ed25519Key(bytes(range(64, 96)))
ENVELOPE = X25519Keypair(bytes(range(160, 192)))


def load_shared(rel: str) -> Any:
    return json.loads((SHARED / rel).read_text())


def compact(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def sample_request() -> dict[str, Any]:
    data: dict[str, Any] = load_shared("samples/checkin_request.json")
    return data


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


class Api:
    """A tiny client for the server under test."""

    def __init__(self, session: aiohttp.ClientSession, cc: CentralCommand, clock: FakeClock) -> None:
        self.session = session
        self.cc = cc
        self.clock = clock

    async def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        *,
        key: str | None = None,
        headers: dict[str, str] | None = None,
        deadline_s: float = 30,
    ) -> Reply:
        h = {"Content-Type": "application/json", **(headers or {})}
        if key is not None:
            h["Authorization"] = f"Bearer {key}"
        async with self.session.request(
            method,
            self.cc.url + path,
            data=body,
            headers=h,
            timeout=aiohttp.ClientTimeout(total=deadline_s),
        ) as resp:
            return Reply(resp.status, await resp.read(), dict(resp.headers))

    async def post(self, path: str, obj: Any, *, key: str | None = None, **kw: Any) -> Reply:
        body = obj if isinstance(obj, bytes) else compact(obj)
        return await self.request("POST", path, body, key=key, **kw)

    async def checkin(
        self,
        body: dict[str, Any] | bytes | None = None,
        *,
        key: str | None,
        sign: bool = True,
        identity: Ed25519Key = IDENTITY,
        sign_now: float | None = None,
        nonce: str | None = None,
    ) -> Reply:
        raw = body if isinstance(body, bytes) else compact(body if body is not None else sample_request())
        headers: dict[str, str] = {}
        if sign:
            when = int(sign_now if sign_now is not None else self.clock.now)
            headers = sign_request(identity, "POST", CHECKIN, raw, now=when, nonce=nonce)
        return await self.request("POST", CHECKIN, raw, key=key, headers=headers)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(SAMPLE_NOW)


@pytest.fixture
async def cc(tmp_path: Path, clock: FakeClock) -> AsyncIterator[CentralCommand]:
    server = CentralCommand(tmp_path / "central.db", signing_seed=SERVER_SEED, clock=clock)
    await server.start()
    server.create_site(SITE)
    try:
        yield server
    finally:
        await server.stop()
        server.close()


@pytest.fixture
async def api(cc: CentralCommand, clock: FakeClock) -> AsyncIterator[Api]:
    async with aiohttp.ClientSession() as session:
        yield Api(session, cc, clock)


@pytest.fixture
def key(cc: CentralCommand) -> str:
    return cc.create_api_key(SITE)


@pytest.fixture
async def known(api: Api, key: str) -> str:
    """An appliance that has checked in once (its identity key is now learned)."""
    reply = await api.checkin(key=key)
    assert reply.status == 200, reply.body
    return key
