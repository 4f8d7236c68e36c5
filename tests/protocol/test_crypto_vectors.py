"""Every case of vectors/sigauth.json, heartbeat.json and envelope.json reproduced exactly."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from agent.crypto import (
    Ed25519Key,
    EnvelopeError,
    X25519Keypair,
    decrypt_credentials,
    fingerprint,
    heartbeat_fields,
    heartbeat_payload,
    open_envelope,
    seal_envelope,
    sign_heartbeat,
    sign_request,
    signed_message,
    verify_heartbeat,
    verify_request,
)
from agent.protocol import EncryptedCredentials, LinuxTarget, WindowsTarget, decode

from .conftest import VECTORS, load_json

SIGAUTH = load_json(VECTORS / "sigauth.json")
HEARTBEAT = load_json(VECTORS / "heartbeat.json")
ENVELOPE = load_json(VECTORS / "envelope.json")


def _case_id(case: dict[str, Any]) -> str:
    return str(case["name"])


# --- keys -------------------------------------------------------------------------------------


def test_identity_key_from_seed_rule() -> None:
    ident = SIGAUTH["identity_key"]
    key = Ed25519Key(bytes(range(32, 64)))
    assert key.seed().hex() == ident["seed_hex"]
    assert key.public_hex == ident["public_key_hex"]
    assert key.fingerprint == ident["fingerprint"]
    assert fingerprint(key.public_key) == ident["fingerprint"]
    # agent.key content: the vector shows the newline escaped as the two characters "\n"
    assert key.seed_hex_file_content() == ident["agent_key_file_content"].replace("\\n", "\n")
    assert Ed25519Key.from_seed_hex(key.seed_hex_file_content()).public_hex == key.public_hex


def test_evidence_key_from_seed_rule() -> None:
    ev = HEARTBEAT["evidence_key"]
    key = Ed25519Key(bytes(range(64, 96)))
    assert key.seed().hex() == ev["seed_hex"]
    assert key.public_hex == ev["public_key_hex"]


def test_key_repr_hides_seed() -> None:
    key = Ed25519Key(bytes(range(32, 64)))
    assert SIGAUTH["identity_key"]["seed_hex"] not in repr(key)
    assert key.fingerprint in repr(key)
    pair = X25519Keypair(bytes(range(160, 192)))
    assert ENVELOPE["appliance_key"]["private_key_hex"] not in repr(pair)


# --- sigauth ----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", SIGAUTH["cases"], ids=_case_id)
def test_sigauth_vector(case: dict[str, Any]) -> None:
    key = Ed25519Key(bytes.fromhex(SIGAUTH["identity_key"]["seed_hex"]))
    body = case["body_text"].encode("utf-8")
    assert hashlib.sha256(body).hexdigest() == case["body_sha256_hex"]
    msg = signed_message(case["method"], case["path"], body, case["timestamp"], case["nonce"])
    assert msg == case["signed_message_text"].encode()
    assert msg.hex() == case["signed_message_hex"]
    now = datetime.strptime(case["timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    headers = sign_request(key, case["method"], case["path"], body, now=now, nonce=case["nonce"])
    assert headers == case["headers"]
    assert headers["X-Appliance-Signature"] == case["signature_base64url"]
    assert len(headers["X-Appliance-Signature"]) == 86
    # the server-side check accepts it, and rejects any change to the body
    assert verify_request(key.public_key, case["method"], case["path"], body, headers, now=now) is None
    assert (
        verify_request(key.public_key, case["method"], case["path"], body + b" ", headers, now=now)
        == "invalid_signature"
    )


def test_sigauth_accepts_memoryview_body_and_strips_query() -> None:
    case = SIGAUTH["cases"][1]
    key = Ed25519Key(bytes.fromhex(SIGAUTH["identity_key"]["seed_hex"]))
    body = bytearray(case["body_text"].encode())
    now = datetime(2026, 5, 20, 15, 1, tzinfo=UTC)
    headers = sign_request(key, "post", case["path"] + "?x=1", memoryview(body), now=now, nonce=case["nonce"])
    assert headers == case["headers"]


def test_sigauth_fresh_nonce_and_time_by_default() -> None:
    key = Ed25519Key(bytes(range(32, 64)))
    a = sign_request(key, "POST", "/api/appliances/checkin", b"{}")
    b = sign_request(key, "POST", "/api/appliances/checkin", b"{}")
    assert a["X-Appliance-Nonce"] != b["X-Appliance-Nonce"]
    assert len(a["X-Appliance-Nonce"]) == 32
    assert verify_request(key.public_key, "POST", "/api/appliances/checkin", b"{}", a) is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"X-Appliance-Signature": ""}, "no_headers"),
        ({"X-Appliance-Timestamp": "2026-05-20 15:01:00"}, "bad_timestamp"),
        ({"X-Appliance-Timestamp": "2026-05-20T15:03:00Z"}, "clock_skew"),
        ({"X-Appliance-Nonce": "XYZ"}, "bad_nonce"),
        ({"X-Appliance-Signature": "abc"}, "bad_signature_format"),
        ({"X-Appliance-Nonce": "00112233445566778899aabbccddeefe"}, "invalid_signature"),
    ],
)
def test_sigauth_verify_reasons(change: dict[str, str], reason: str) -> None:
    case = SIGAUTH["cases"][1]
    key = Ed25519Key(bytes(range(32, 64)))
    headers = {**case["headers"], **change}
    now = datetime(2026, 5, 20, 15, 1, tzinfo=UTC)
    got = verify_request(key.public_key, "POST", case["path"], case["body_text"].encode(), headers, now=now)
    assert got == reason


# --- heartbeat --------------------------------------------------------------------------------


@pytest.mark.parametrize("case", HEARTBEAT["cases"], ids=_case_id)
def test_heartbeat_vector(case: dict[str, Any]) -> None:
    key = Ed25519Key(bytes.fromhex(HEARTBEAT["evidence_key"]["seed_hex"]))
    args = (case["site_id"], case["mac_address"], case["heartbeat_timestamp"], case["agent_version"])
    payload = heartbeat_payload(*args)
    assert payload == case["payload_text"].encode()
    assert hashlib.sha256(payload).hexdigest() == case["payload_sha256_hex"]
    assert sign_heartbeat(key, *args) == case["heartbeat_signature_hex"]
    assert verify_heartbeat(key.public_key, *args, case["heartbeat_signature_hex"])
    sig, ts_used = heartbeat_fields(
        key, case["site_id"], case["mac_address"], case["agent_version"], now=case["heartbeat_timestamp"]
    )
    assert (sig, ts_used) == (case["heartbeat_signature_hex"], case["heartbeat_timestamp"])
    site, mac, ts, ver = args
    assert not verify_heartbeat(key.public_key, site, mac, ts + 1, ver, case["heartbeat_signature_hex"])


# --- envelope ---------------------------------------------------------------------------------


def _appliance_pair() -> X25519Keypair:
    kp = ENVELOPE["appliance_key"]["encryption_keypair_json"]
    pair = X25519Keypair.from_json_fields(kp["public_key"], kp["private_key"])
    assert pair.public_hex == ENVELOPE["appliance_key"]["public_key_hex"]
    assert pair.private_key() == bytes(range(160, 192))
    return pair


def _env(case: dict[str, Any]) -> EncryptedCredentials:
    return decode(json.dumps(case["encrypted_credentials"]), EncryptedCredentials)


def _case(name: str) -> dict[str, Any]:
    return next(c for c in ENVELOPE["cases"] if c["name"] == name)


def test_envelope_sample_plaintext_exact() -> None:
    case = _case("sample_response")
    plaintext = open_envelope(_env(case), _appliance_pair())
    assert plaintext.decode() == case["expected_plaintext_text"]
    creds = decrypt_credentials(_env(case), _appliance_pair())
    exp = case["expected_plaintext"]
    assert creds.windows_targets == [WindowsTarget(**t) for t in exp["windows_targets"]]
    assert creds.linux_targets == [LinuxTarget(**t) for t in exp["linux_targets"]]
    assert creds.linux_targets[0].port == 22
    assert creds.linux_targets[0].private_key is None


def test_envelope_large_plaintext_hash() -> None:
    case = _case("large_response")
    plaintext = open_envelope(_env(case), _appliance_pair())
    assert len(plaintext) == case["expected_plaintext_length"]
    assert hashlib.sha256(plaintext).hexdigest() == case["expected_plaintext_sha256_hex"]
    creds = decrypt_credentials(_env(case), _appliance_pair())
    assert len(creds.windows_targets) + len(creds.linux_targets) == 55


@pytest.mark.parametrize("name", ["sample_response", "large_response"])
def test_envelope_seal_reproduces_ciphertext(name: str) -> None:
    """Sealing the expected plaintext with the fixed ephemeral key and nonce gives the vector."""
    case = _case(name)
    pair = _appliance_pair()
    plaintext = open_envelope(_env(case), pair)
    sealed = seal_envelope(
        plaintext,
        pair.public_key,
        ephemeral_private_key=bytes.fromhex(case["server_ephemeral_private_key_hex"]),
        nonce=bytes.fromhex(_env(case).nonce),
    )
    assert sealed == _env(case)


@pytest.mark.parametrize("name", ["tampered_ciphertext", "wrong_nonce"])
def test_envelope_authentication_failures(name: str) -> None:
    case = _case(name)
    assert case["expected"] == "decryption_failed"
    with pytest.raises(EnvelopeError) as info:
        decrypt_credentials(_env(case), _appliance_pair())
    assert info.value.reason == "decryption_failed"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ephemeral_public_key", "ab" * 31),
        ("ephemeral_public_key", "zz" * 32),
        ("nonce", "e0" * 23),
        ("ciphertext", "abc"),
        ("ciphertext", "ab" * 15),
        ("ciphertext", "gg" * 40),
    ],
)
def test_envelope_format_errors(field: str, value: str) -> None:
    env = _env(_case("sample_response"))
    setattr(env, field, value)
    with pytest.raises(EnvelopeError) as info:
        open_envelope(env, _appliance_pair())
    assert info.value.reason == "format"


def test_envelope_bad_plaintext_is_envelope_error() -> None:
    pair = _appliance_pair()
    for plaintext in (
        b"not json",
        b'{"windows_targets": {"x": 1}}',
        b'{"linux_targets": [{"hostname": "h", "port": 0, "username": "u"}]}',
    ):
        env = seal_envelope(plaintext, pair.public_key)
        with pytest.raises(EnvelopeError) as info:
            decrypt_credentials(env, pair)
        assert info.value.reason == "plaintext"


def test_envelope_plaintext_ignores_unknown_keys() -> None:
    pair = _appliance_pair()
    env = seal_envelope(b'{"windows_targets": [], "future": 1, "linux_targets": []}', pair.public_key)
    creds = decrypt_credentials(env, pair)
    assert creds.windows_targets == [] and creds.linux_targets == []


def test_credential_reprs_mask_secrets() -> None:
    creds = decrypt_credentials(_env(_case("sample_response")), _appliance_pair())
    text = repr(creds)
    assert "FAKE-Winter-Orchid-42" not in text
    assert "FAKE-Quiet-Harbor-17" not in text
    assert "192.168.88.250" in text and "***" in text
