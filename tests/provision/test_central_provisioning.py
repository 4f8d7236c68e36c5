"""The local Central Command answers the three provisioning endpoints as the real server does
(``iso_ca.py``, ``iso_ca_helpers.py``, ``provisioning.py``): one request per refusal code."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp
import msgspec
import nacl.signing

from agent.central import CentralCommand
from agent.crypto.keys import Ed25519Key
from agent.provision import load_claim_cert
from agent.provision.claim import b64url, build_csr

from .conftest import Image


def _csr(image: Image, identity: Ed25519Key | None = None) -> dict[str, Any]:
    claim = load_claim_cert(image.root / "claim.cert", image.root / "claim-ca.pub", datetime.now(UTC))
    assert claim is not None
    csr = build_csr(identity or Ed25519Key.generate(), claim, site_id="s1",
                    mac_address="aa:bb:cc:dd:ee:ff", hardware_id="HW", now=datetime.now(UTC))
    doc: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(csr))
    return doc


async def _post(cc: CentralCommand, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.post(cc.url + path, json=body) as r:
        return r.status, json.loads(await r.read())


async def test_claim_v2_accepts_our_csr_and_answers_unsigned(image: Image, cc: CentralCommand) -> None:
    identity = Ed25519Key.generate()
    status, body = await _post(cc, "/api/provision/claim-v2", _csr(image, identity))
    assert status == 200
    assert set(body) == {"appliance_id", "fingerprint", "claim_event_id", "api_key"}
    assert body["appliance_id"] == "s1-AA:BB:CC:DD:EE:FF" and body["fingerprint"] == identity.fingerprint


async def test_claim_v2_refusal_codes(image: Image, cc: CentralCommand) -> None:
    async def code_of(doc: dict[str, Any]) -> tuple[int, Any]:
        status, body = await _post(cc, "/api/provision/claim-v2", doc)
        return status, body["detail"]

    doc = _csr(image)
    doc["timestamp"] = "2000-01-01T00:00:00Z"  # signed: the CSR no longer verifies
    assert await code_of(doc) == (401, {"error": "csr signature invalid", "code": "bad_csr_signature"})

    doc = _csr(image)
    doc["claim_cert"]["payload"]["issued_at"] = "2000-01-01T00:00:00Z"
    assert (await code_of(doc))[1]["code"] == "cert_signature_invalid"

    doc = _csr(image)
    doc["claim_cert"]["signature_b64"] = b64url(b"\0" * 10)
    assert (await code_of(doc))[1]["code"] == "bad_cert_signature_format"

    doc = _csr(image)
    doc["claim_cert"]["payload"]["ca_pubkey_hex"] = bytes(
        nacl.signing.SigningKey.generate().verify_key).hex()
    assert (await code_of(doc))[1]["code"] == "ca_pubkey_mismatch"

    doc = _csr(image)
    doc["claim_cert"]["payload"]["iso_release_sha"] = "ef" * 20
    assert (await code_of(doc))[1] == {"error": "claim cert invalid", "code": "unknown_iso_release"}

    cc.provisioning.register_iso_ca(image.release, bytes(image.ca.verify_key).hex(),
                                    valid_from=time.time() + 3600, valid_until=time.time() + 7200)
    assert (await code_of(_csr(image)))[1]["code"] == "ca_outside_validity_window"
    cc.provisioning.revoke_iso_ca(image.release)
    assert (await code_of(_csr(image)))[1]["code"] == "ca_revoked"

    doc = _csr(image)
    doc["nonce"] = "abc"
    status, _ = await _post(cc, "/api/provision/claim-v2", doc)
    assert status == 422


async def test_mac_lookup_signs_pythons_default_json_with_the_server_key(cc: CentralCommand) -> None:
    cc.provisioning.register_mac("AA:BB:CC:DD:EE:FF", "site-m", ["ssh-ed25519 AAAA k"])
    url = cc.url + "/api/provision/AA%3ABB%3ACC%3ADD%3AEE%3AFF"
    async with aiohttp.ClientSession() as s, s.get(url) as r:
        body = json.loads(await r.read())
    signed = json.dumps(body["config"], sort_keys=True).encode()
    server_key = nacl.signing.VerifyKey(bytes.fromhex(cc.server_public_key))
    server_key.verify(signed, bytes.fromhex(body["signature"]))
    assert body["config"]["appliance_id"] == "site-m-AA:BB:CC:DD:EE:FF"
    assert body["api_key"] == body["config"]["api_key"]  # the flat duplicates
