"""Credential envelope (orders.md §8) and rekey (central-api.md §4.3)."""

from __future__ import annotations

import json
from typing import Any

from agent.central import CentralCommand
from agent.crypto import decrypt_credentials, open_envelope
from agent.protocol import decode_checkin_response
from agent.protocol.rekey import is_valid_api_key, rekey_retry_seconds

from .conftest import APPLIANCE, ENVELOPE, MAC, SITE, Api, FakeClock, sample_request

WINDOWS = [
    {
        "hostname": "192.168.88.250",
        "username": "LAKESIDE\\svc",
        "password": "fake-pw-1",
        "use_ssl": True,
        "role": "domain_controller",
    }
]
LINUX = [
    {"hostname": "192.168.88.20", "port": 22, "username": "root", "password": "fake-pw-2", "distro": "ubuntu"}
]


async def test_envelope_decrypts_to_credentials(api: Api, key: str, cc: CentralCommand) -> None:
    cc.set_credentials(SITE, WINDOWS, LINUX)
    reply = await api.checkin(key=key)
    data = reply.json()
    assert data["windows_targets"] == [] and data["linux_targets"] == []
    env = data["encrypted_credentials"]
    assert len(env["ephemeral_public_key"]) == 64 and len(env["nonce"]) == 48
    resp = decode_checkin_response(reply.body)
    assert resp.envelope is not None
    plaintext = open_envelope(resp.envelope, ENVELOPE)
    assert json.loads(plaintext) == {"windows_targets": WINDOWS, "linux_targets": LINUX}
    assert plaintext.startswith(b'{"windows_targets": [{')  # Python json.dumps default separators
    creds = decrypt_credentials(resp.envelope, ENVELOPE)
    assert creds.windows_targets[0].password == "fake-pw-1"
    assert creds.linux_targets[0].port == 22
    # a fresh ephemeral key and nonce per checkin
    env2 = (await api.checkin(key=key)).json()["encrypted_credentials"]
    assert env2["ephemeral_public_key"] != env["ephemeral_public_key"] and env2["nonce"] != env["nonce"]


async def test_plaintext_without_encryption_key(api: Api, key: str, cc: CentralCommand) -> None:
    cc.set_credentials(SITE, WINDOWS, LINUX)
    body = sample_request()
    del body["encryption_public_key"]
    data = (await api.checkin(body, key=key)).json()
    assert data["encrypted_credentials"] is None
    assert data["windows_targets"][0]["hostname"] == "192.168.88.250"
    assert data["linux_targets"][0]["port"] == 22


async def test_no_credentials(api: Api, key: str) -> None:
    data = (await api.checkin(key=key)).json()
    assert data["encrypted_credentials"] is None and data["windows_targets"] == []


def test_credentials_validated(cc: CentralCommand) -> None:
    import pytest

    with pytest.raises(ValueError):
        cc.set_credentials(SITE, [], [{"hostname": "h", "port": 70000, "username": "u"}])


async def rekey(api: Api, body: dict[str, Any]) -> Any:
    return await api.post("/api/provision/rekey", body)


async def test_rekey_flow(api: Api, known: str, cc: CentralCommand, clock: FakeClock) -> None:
    body = {"site_id": SITE, "mac_address": MAC, "hostname": "msp-appliance", "hardware_id": "uuid-1"}
    reply = await rekey(api, body)
    assert reply.status == 200
    data = reply.json()
    assert data["status"] == "rekeyed" and data["appliance_id"] == APPLIANCE
    assert is_valid_api_key(data["api_key"]) and len(data["api_key"]) == 43
    assert (await api.checkin(key=data["api_key"])).status == 200
    # rate limit: one per appliance per hour
    clock.advance(600)
    reply = await rekey(api, body)
    assert reply.status == 429
    assert reply.json() == {"detail": "Rekey rate limited. Retry in 3000s"}
    assert rekey_retry_seconds(reply.json()["detail"]) == 3000
    clock.advance(3000)
    second = await rekey(api, body)
    assert second.status == 200
    # the key from the first rekey is deactivated: key mismatch for this known appliance
    reply = await api.checkin(key=data["api_key"])
    assert reply.status == 401 and reply.json()["detail"]["code"] == "AUTH_KEY_MISMATCH"
    assert (await api.checkin(key=second.json()["api_key"])).status == 200


async def test_rekey_errors(api: Api, known: str, cc: CentralCommand) -> None:
    reply = await rekey(api, {"site_id": "no-such-site", "mac_address": MAC})
    assert reply.status == 404 and reply.json() == {"detail": "Appliance not provisioned"}
    reply = await rekey(api, {"site_id": SITE, "mac_address": "52:54:00:00:00:99"})
    assert reply.status == 404 and reply.json() == {"detail": "Unknown appliance"}
    cc.set_hardware_id(APPLIANCE, "uuid-real")
    reply = await rekey(api, {"site_id": SITE, "mac_address": MAC, "hardware_id": "uuid-clone"})
    assert reply.status == 403 and reply.json() == {"detail": "Hardware ID mismatch"}
    reply = await rekey(api, {"site_id": SITE})
    assert reply.status == 422
    reply = await rekey(api, {"site_id": SITE, "mac_address": MAC, "hardware_id": "uuid-real"})
    assert reply.status == 200
