"""Round trips of every sample payload, and the sample-level facts listed in samples/README.md."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from agent.crypto import Ed25519Key, X25519Keypair, decrypt_credentials, sign_heartbeat, verify_ed25519
from agent.protocol import (
    CheckinRequest,
    CheckinResponse,
    Order,
    decode_checkin_request,
    decode_checkin_response,
    encode_checkin_request,
    encode_checkin_response,
)

from .conftest import SAMPLES, VECTORS, compact, load_json

REQUESTS = ["checkin_request.json", "checkin_request_large.json"]
RESPONSES = ["checkin_response.json", "checkin_response_large.json"]
SERVER_CURRENT = bytes.fromhex("03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8")
SERVER_PREVIOUS = bytes.fromhex("174553b456dddfc6908ecab1c101fe6ab21e2baa0617795b7d43a63482993fd5")


@pytest.mark.parametrize("name", REQUESTS)
def test_request_sample_round_trip_byte_exact(name: str) -> None:
    body = compact(SAMPLES / name)
    req = decode_checkin_request(body)
    assert isinstance(req, CheckinRequest)
    again = encode_checkin_request(req)
    assert again == body
    assert decode_checkin_request(again) == req


@pytest.mark.parametrize("name", RESPONSES)
def test_response_sample_round_trip_byte_exact(name: str) -> None:
    body = compact(SAMPLES / name)
    resp = decode_checkin_response(body)
    assert isinstance(resp, CheckinResponse)
    again = encode_checkin_response(resp)
    assert again == body
    assert decode_checkin_response(again) == resp


def test_request_sample_is_sigauth_body() -> None:
    """samples/README.md: the compact typical request is the first sigauth case's body."""
    case = load_json(VECTORS / "sigauth.json")["cases"][0]
    assert case["name"] == "checkin_sample_request"
    req = decode_checkin_request(compact(SAMPLES / "checkin_request.json"))
    body = encode_checkin_request(req)
    assert body == case["body_text"].encode()
    assert hashlib.sha256(body).hexdigest() == case["body_sha256_hex"]


def test_request_built_from_scratch_matches_sample() -> None:
    """Building the request the way the agent will (keys, heartbeat) gives the sample bytes."""
    sample = decode_checkin_request(compact(SAMPLES / "checkin_request.json"))
    evidence = Ed25519Key(bytes(range(64, 96)))
    identity = Ed25519Key(bytes(range(32, 64)))
    envelope = X25519Keypair(bytes(range(160, 192)))
    ts = 1779289200
    req = CheckinRequest(
        site_id="lakeside-pediatrics",
        hostname="msp-appliance",
        mac_address="52:54:00:AB:CD:EF",
        all_mac_addresses=["52:54:00:AB:CD:EF"],
        ip_addresses=["192.168.88.50"],
        uptime_seconds=86400,
        agent_version="1.0.0",
        nixos_version="24.05",
        agent_public_key=evidence.public_hex,
        agent_identity_public_key=identity.public_hex,
        boot_source="installed_disk",
        heartbeat_signature=sign_heartbeat(evidence, "lakeside-pediatrics", "52:54:00:AB:CD:EF", ts, "1.0.0"),
        heartbeat_timestamp=ts,
        connected_agents=sample.connected_agents,
        encryption_public_key=envelope.public_hex,
        daemon_health=sample.daemon_health,
        boot_counter=14,
        generation_uuid="48e47d64-36c1-4f0f-8cf8-d01f4a651d00",
        wg_ip="",  # empty optional strings are not sent (Go omitempty)
        deploy_results=[],  # nor empty optional lists
    )
    assert encode_checkin_request(req) == compact(SAMPLES / "checkin_request.json")


def test_minimal_request_decodes_and_always_fields_are_sent() -> None:
    case = load_json(VECTORS / "sigauth.json")["cases"][1]
    req = decode_checkin_request(case["body_text"])
    assert req.site_id == "lakeside-pediatrics"
    body = encode_checkin_request(req)
    for always in (
        b'"has_local_credentials":false',
        b'"wg_connected":false',
        b'"reconcile_needed":false',
        b'"reconcile_signals":[]',
    ):
        assert always in body
    for optional in (
        b"heartbeat_signature",
        b"wg_ip",
        b"connected_agents",
        b"generation_uuid",
        b"witness_attestations",
        b"deploy_results",
        b"agent_public_key",
    ):
        assert optional not in body


def _trusted(order: Order) -> bool:
    sig = bytes.fromhex(order.signature)
    payload = order.signed_payload.encode()
    return verify_ed25519(SERVER_CURRENT, payload, sig) or verify_ed25519(SERVER_PREVIOUS, payload, sig)


@pytest.mark.parametrize(("name", "count"), [(RESPONSES[0], 2), (RESPONSES[1], 20)])
def test_response_orders_verify_against_server_keys(name: str, count: int) -> None:
    resp = decode_checkin_response(compact(SAMPLES / name))
    assert len(resp.pending_orders) == count
    assert all(_trusted(o) for o in resp.pending_orders)
    assert resp.server_public_keys[0] == SERVER_CURRENT.hex()


def test_large_response_contents() -> None:
    resp = decode_checkin_response(compact(SAMPLES / "checkin_response_large.json"))
    kinds: dict[str, int] = {}
    for o in resp.pending_orders:
        kind = (
            "fleet"
            if o.order_id.startswith("fleet::")
            else ("healing" if o.order_type == "healing" else "admin")
        )
        kinds[kind] = kinds.get(kind, 0) + 1
    assert kinds == {"admin": 8, "fleet": 6, "healing": 6}
    healing = [o for o in resp.pending_orders if o.order_type == "healing"]
    assert all(isinstance(o.runbook_id, str) for o in healing)
    assert len(resp.pending_deploys) == 5
    assert len(resp.peer_bundle_hashes) == 10
    assert len(resp.mesh_peers) == 2
    assert resp.server_public_keys == [SERVER_CURRENT.hex(), SERVER_PREVIOUS.hex()]
    assert resp.assignment is not None and resp.assignment.assignment_epoch > 0
    env = resp.envelope
    assert env is not None
    creds = decrypt_credentials(env, X25519Keypair(bytes(range(160, 192))))
    assert len(creds.windows_targets) + len(creds.linux_targets) == 55
    # pending deploys carry plaintext passwords: never in repr
    text = repr(resp)
    assert all(d.password not in text for d in resp.pending_deploys)


def test_typical_response_directives() -> None:
    resp = decode_checkin_response(compact(SAMPLES / "checkin_response.json"))
    assert resp.appliance_id == "lakeside-pediatrics-52:54:00:AB:CD:EF"
    assert resp.disabled_checks == ["screen_lock_policy"]
    assert resp.l2_confidence_threshold == 0.8
    assert resp.rotated_api_key is None
    assert resp.reconcile_plan is None
    ta = resp.assignment
    assert ta is not None
    assert ta.your_targets == ["192.168.88.20", "192.168.88.250"]
    assert ta.ring_members == ["525400ABCDEF"]
    fleet = resp.pending_orders[1]
    params: Any = fleet.parameters
    assert params["fleet_order_id"] == "cf51591c-fffc-4ae9-bbee-d0e3b3814941"
