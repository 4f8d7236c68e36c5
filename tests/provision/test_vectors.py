"""Byte-level agreement with the server: our claim certificates and CSRs verify under the local
Central Command's own implementation of the server's rules (``iso_ca_helpers.py``), and the
canonical certificate JSON is the one the Go daemon pins in ``claim_cert_test.go``."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import nacl.signing

from agent.central import provisioning as server
from agent.crypto.keys import Ed25519Key
from agent.protocol.provision import ClaimCertPayload, MacLookupResponse
from agent.provision import VerifiedClaim, load_claim_cert
from agent.provision.answers import from_mac_lookup
from agent.provision.claim import b64url_decode, build_csr, canonical_cert

# claim_cert_test.go TestCanonicalCertJSON_DeterministicOutput: strict alphabetical key order.
GO_PAYLOAD = {"iso_release_sha": "deadbeef", "ca_pubkey_hex": "abcd", "issued_at": "2026-04-15T03:45:23Z",
              "valid_until": "2026-07-14T03:45:23Z", "version": 1}
GO_CANONICAL = (b'{"ca_pubkey_hex":"abcd","iso_release_sha":"deadbeef","issued_at":"2026-04-15T03:45:23Z",'
                b'"valid_until":"2026-07-14T03:45:23Z","version":1}')


def test_canonical_certificate_json_is_the_go_vector_on_both_sides() -> None:
    assert canonical_cert(msgspec.convert(GO_PAYLOAD, ClaimCertPayload)) == GO_CANONICAL
    assert server.cert_bytes(GO_PAYLOAD) == GO_CANONICAL


def _claim(tmp_path: Path) -> tuple[nacl.signing.SigningKey, VerifiedClaim]:
    ca = nacl.signing.SigningKey.generate()
    cert = server.mint_claim_cert(bytes(ca), "ab" * 20, issued_at=1_800_000_000,
                                  valid_until=1_900_000_000)
    (tmp_path / "claim.cert").write_text(json.dumps(cert))
    (tmp_path / "claim-ca.pub").write_text(bytes(ca.verify_key).hex() + "\n")
    claim = load_claim_cert(tmp_path / "claim.cert", tmp_path / "claim-ca.pub",
                            datetime.fromtimestamp(1_850_000_000, UTC))
    assert claim is not None
    return ca, claim


def test_a_certificate_minted_the_servers_way_verifies_here(tmp_path: Path) -> None:
    _, claim = _claim(tmp_path)
    assert claim.cert.payload.issued_at == "2027-01-15T08:00:00Z"


def test_our_csr_verifies_under_the_servers_rules(tmp_path: Path) -> None:
    _, claim = _claim(tmp_path)
    identity = Ed25519Key.generate()
    csr = build_csr(identity, claim, site_id="clinic-x", mac_address="aa:bb:cc:dd:ee:ff",
                    hardware_id="HW-123", now=datetime(2028, 8, 1, 12, 0, 0, tzinfo=UTC))
    body = msgspec.json.decode(msgspec.json.encode(csr))
    # The Go CSRRequest's field order, hardware_id included when set.
    assert list(body) == ["site_id", "mac_address", "agent_pubkey_hex", "hardware_id", "nonce",
                          "timestamp", "claim_cert", "csr_signature_b64"]
    assert body["mac_address"] == "AA:BB:CC:DD:EE:FF"
    assert body["agent_pubkey_hex"] == identity.public_hex == identity.public_hex.lower()
    assert re.fullmatch(r"[0-9a-f]{32}", body["nonce"])
    assert body["timestamp"] == "2028-08-01T12:00:00Z"
    sig = body["csr_signature_b64"]
    assert len(sig) == 86 and "=" not in sig and "+" not in sig and "/" not in sig
    # The server's check, written independently in the local Central Command.
    signed = server.csr_bytes(body, body["claim_cert"]["payload"])
    nacl.signing.VerifyKey(bytes.fromhex(body["agent_pubkey_hex"])).verify(signed, b64url_decode(sig))
    assert signed.split(b"\n")[:6] == [b"clinic-x", b"AA:BB:CC:DD:EE:FF", identity.public_hex.encode(),
                                       b"HW-123", body["nonce"].encode(), b"2028-08-01T12:00:00Z"]
    # ... and the embedded certificate under the CA's.
    cert = body["claim_cert"]
    assert server._verifies(cert["payload"]["ca_pubkey_hex"], server.cert_bytes(cert["payload"]),
                            cert["signature_b64"]) is True


def test_without_hardware_id_the_field_is_left_out_and_signed_empty(tmp_path: Path) -> None:
    _, claim = _claim(tmp_path)
    identity = Ed25519Key.generate()
    csr = build_csr(identity, claim, site_id="s", mac_address="AA:BB:CC:DD:EE:FF",
                    hardware_id=None, now=datetime(2028, 8, 1, tzinfo=UTC))
    body = msgspec.json.decode(msgspec.json.encode(csr))
    assert "hardware_id" not in body
    signed = server.csr_bytes(body, body["claim_cert"]["payload"])
    assert signed.split(b"\n")[3] == b""
    assert server._verifies(identity.public_hex, signed, body["csr_signature_b64"]) is True


def test_each_csr_has_a_fresh_nonce(tmp_path: Path) -> None:
    _, claim = _claim(tmp_path)
    identity = Ed25519Key.generate()
    now = datetime(2028, 8, 1, tzinfo=UTC)
    a, b = (build_csr(identity, claim, site_id="s", mac_address="AA:BB:CC:DD:EE:FF",
                      hardware_id=None, now=now) for _ in range(2))
    assert a.nonce != b.nonce


def test_the_mac_lookup_signature_is_over_pythons_default_json() -> None:
    key = nacl.signing.SigningKey.generate()
    config = {"site_id": "s1", "appliance_id": "s1-AA:BB:CC:DD:EE:FF", "api_key": "k" * 43,
              "api_endpoint": "https://cc.example", "ssh_authorized_keys": ["ssh-ed25519 AAAA x"]}
    text = server.signed_config_text(config)
    assert text.startswith('{"api_endpoint": "https://cc.example", "api_key": ')  # ", " and ": "
    answer = MacLookupResponse(config=config, signature=key.sign(text.encode()).signature.hex())
    got = from_mac_lookup(answer, bytes(key.verify_key).hex(), mac="aa:bb:cc:dd:ee:ff")
    assert (got.site_id, got.extra) == ("s1", {"ssh_authorized_keys": ["ssh-ed25519 AAAA x"]})


def test_signed_extras_never_replace_the_images_trust_anchors(tmp_path: Path) -> None:
    from agent.config.load import parse_config
    from agent.provision.answers import Provisioned, render_config

    got = Provisioned("mac_lookup", "s1", "k" * 43, "https://cc.example", "s1-AA:BB:CC:DD:EE:FF",
                      {"server_public_key": "ab" * 32, "state_dir": "/elsewhere",
                       "tls_pin_hash": "cd" * 32, "ssh_authorized_keys": ["ssh-ed25519 AAAA x"]})
    data = render_config(got, state_dir=tmp_path, server_public_key="ef" * 32, tls_pin_hash=None,
                         when="2028-01-01T00:00:00Z")
    loaded = parse_config(data, environ={})
    assert loaded.config.server_public_key == "ef" * 32 and loaded.config.tls_pin_hash is None
    assert loaded.config.state_dir == str(tmp_path)
    assert loaded.unknown_keys == ("appliance_id", "ssh_authorized_keys")  # kept, as the Go image does
