"""Tolerance where central-api.md §9/§10 asks for it, strictness everywhere else."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from agent.protocol import (
    CheckinResponse,
    EncryptedCredentials,
    ProtocolError,
    TargetAssignments,
    decode,
    decode_checkin_request,
    decode_checkin_response,
    encode_checkin_response,
    parse_checkin_response,
)
from agent.protocol.evidence import EvidenceSubmit
from agent.protocol.l2 import L2Plan
from agent.protocol.orders import decode_order_completion_response

from .conftest import SAMPLES, compact, load_json

LIVE_USB: dict[str, Any] = {
    "status": "ok",
    "appliance_id": None,
    "server_time": "2026-05-20T15:00:00+00:00",
    "rotated_api_key": None,
    "server_public_key": None,
    "server_public_keys": [],
    "pending_orders": [],
    "windows_targets": [],
    "linux_targets": [],
    "encrypted_credentials": [],
    "pending_deploys": [],
    "peer_bundle_hashes": [],
    "mesh_peers": [],
    "target_assignments": [],
    "reconcile_plan": None,
    "install_session": True,
}


def _sample() -> dict[str, Any]:
    data: dict[str, Any] = load_json(SAMPLES / "checkin_response.json")
    return data


def _body(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


# --- quirks accepted --------------------------------------------------------------------------


def test_live_usb_response_empty_arrays_accepted() -> None:
    resp = decode_checkin_response(_body(LIVE_USB))
    assert resp.appliance_id is None
    assert resp.encrypted_credentials == ()
    assert resp.target_assignments == ()
    assert resp.envelope is None
    assert resp.assignment is None
    assert resp.install_session is True
    # kept as received, so the local Central Command can reproduce the quirk
    again = json.loads(encode_checkin_response(resp))
    assert again["encrypted_credentials"] == [] and again["target_assignments"] == []


@pytest.mark.parametrize("value", [[], {}, None])
def test_envelope_and_assignment_absent_forms(value: Any) -> None:
    data = _sample()
    data["encrypted_credentials"] = value
    data["target_assignments"] = value
    resp = decode_checkin_response(_body(data))
    assert resp.envelope is None
    assert resp.assignment is None


def test_missing_fields_take_table_defaults() -> None:
    resp = decode_checkin_response(b"{}")
    assert resp == CheckinResponse()
    assert resp.pending_orders == [] and resp.disabled_checks == []
    assert resp.billing_hold is False and resp.trigger_immediate_scan is False
    assert resp.envelope is None and resp.assignment is None


def test_unknown_fields_ignored_everywhere() -> None:
    data = _sample()
    data["brand_new_field"] = {"nested": [1, 2, 3]}
    data["pending_orders"][0]["server_debug"] = "x"
    data["encrypted_credentials"]["version"] = 2
    data["target_assignments"]["ring_hash"] = "abc"
    resp = decode_checkin_response(_body(data))
    assert resp == decode_checkin_response(compact(SAMPLES / "checkin_response.json"))
    req = load_json(SAMPLES / "checkin_request.json")
    req["bundle_hashes"] = ["x"]
    req["daemon_health"]["future_metric"] = 1.5
    assert decode_checkin_request(_body(req)).daemon_health.goroutines == 23


# --- strict elsewhere -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d.update(pending_orders={}), "$.pending_orders"),
        (lambda d: d["pending_orders"][1].update(order_type=5), "$.pending_orders[1].order_type"),
        (lambda d: d["pending_orders"][0].pop("signature"), "$.pending_orders[0]"),
        (lambda d: d.update(billing_hold="yes"), "$.billing_hold"),
        (lambda d: d.update(encrypted_credentials=[1]), "$.encrypted_credentials"),
        (lambda d: d.update(encrypted_credentials="abc"), "$.encrypted_credentials"),
        (lambda d: d["target_assignments"].update(your_targets=[1]), "$.target_assignments.your_targets[0]"),
        (lambda d: d.update(server_public_keys=None), "$.server_public_keys"),
        (lambda d: d.update(l2_confidence_threshold="0.8"), "$.l2_confidence_threshold"),
        (lambda d: d.update(windows_targets=[{"hostname": ""}]), "$.windows_targets[0].hostname"),
    ],
)
def test_wrong_types_name_the_field_path(mutate: Any, path: str) -> None:
    data = _sample()
    mutate(data)
    with pytest.raises(ProtocolError) as info:
        decode_checkin_response(_body(data))
    err = info.value
    assert err.path == path
    assert path in str(err)
    assert err.what == "checkin response"


@pytest.mark.parametrize("body", [b"", b"not json", b'{"status":', b"Internal Server Error"])
def test_invalid_json_is_protocol_error(body: bytes) -> None:
    with pytest.raises(ProtocolError) as info:
        decode_checkin_response(body)
    assert "invalid JSON" in str(info.value)


@pytest.mark.parametrize("body", [b"[]", b"3", b'"ok"', b"null"])
def test_non_object_is_protocol_error(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_checkin_response(body)
    with pytest.raises(ProtocolError):
        parse_checkin_response(body)


def test_error_messages_never_echo_values() -> None:
    data = _sample()
    data["rotated_api_key"] = 12345678901234567890
    with pytest.raises(ProtocolError) as info:
        decode_checkin_response(_body(data))
    assert "12345678901234567890" not in str(info.value)


def test_request_wrong_type_is_protocol_error() -> None:
    req = load_json(SAMPLES / "checkin_request.json")
    req["connected_agents"][1]["drift_count"] = "2"
    with pytest.raises(ProtocolError) as info:
        decode_checkin_request(_body(req))
    assert info.value.path == "$.connected_agents[1].drift_count"
    with pytest.raises(ProtocolError) as info:
        decode_checkin_request(b'{"site_id":"s","hostname":"h"}')
    assert "mac_address" in str(info.value)


def test_other_endpoints_strict_too() -> None:
    with pytest.raises(ProtocolError) as info:
        decode(b'{"confidence":"high"}', L2Plan)
    assert info.value.path == "$.confidence"
    with pytest.raises(ProtocolError):
        decode(b'{"site_id":"s"}', EvidenceSubmit)
    with pytest.raises(ProtocolError):
        decode_order_completion_response(b"[]")
    with pytest.raises(ProtocolError) as info:
        decode(b'{"ephemeral_public_key":1}', EncryptedCredentials)
    assert info.value.path == "$.ephemeral_public_key"


def test_protocol_error_is_the_only_exception_type() -> None:
    """Random garbage never escapes as anything but ProtocolError."""
    for body in (b"\xff\xfe", b"{" * 5000, b'{"pending_orders":[{"order_id":null}]}', b"1e999999"):
        with pytest.raises(ProtocolError):
            decode_checkin_response(body)


# --- tolerant checkin parse (§10 g) -----------------------------------------------------------


def test_parse_fast_path_has_no_issues() -> None:
    parsed = parse_checkin_response(compact(SAMPLES / "checkin_response_large.json"))
    assert parsed.issues == [] and parsed.malformed_orders == []
    assert len(parsed.response.pending_orders) == 20


def test_parse_drops_wrongly_typed_optional_fields() -> None:
    data = _sample()
    data["billing_hold"] = "yes"
    data["disabled_checks"] = None  # null = default, silently
    data["mesh_peers"] = [{"mac": 5}]
    data["unknown"] = 1
    parsed = parse_checkin_response(_body(data))
    resp = parsed.response
    assert resp.billing_hold is False
    assert resp.disabled_checks == []
    assert resp.mesh_peers == []
    assert resp.appliance_id == "lakeside-pediatrics-52:54:00:AB:CD:EF"
    assert len(resp.pending_orders) == 2
    assert resp.envelope is not None
    assert sorted(i.path for i in parsed.issues) == ["$.billing_hold", "$.mesh_peers[0].mac"]
    assert all("treated as absent" in i.message for i in parsed.issues)


def test_parse_salvages_orders_individually() -> None:
    data = _sample()
    good = data["pending_orders"][1]
    data["pending_orders"] = [
        {**data["pending_orders"][0], "order_type": 7},
        "not an object",
        good,
        {"order_id": "..", "order_type": "x"},
        {"order_id": "ORD-2", "signature": "00", "signed_payload": "{}"},
    ]
    parsed = parse_checkin_response(_body(data))
    assert parsed.response.pending_orders == [msgspec.convert(good, type(parsed.response.pending_orders[0]))]
    bad = {m.index: m for m in parsed.malformed_orders}
    assert sorted(bad) == [0, 1, 3, 4]
    assert bad[0].order_id == "ORD-2A4122A225071C34"
    assert bad[0].error.endswith("(at $.order_type)")
    assert bad[1].order_id is None
    assert bad[3].order_id is None  # unusable id: nothing can be posted
    assert bad[4].order_id == "ORD-2"
    assert "order_type" in bad[4].error


@pytest.mark.parametrize("poison", [b'"\\ud800"', b"1e400", b"-1E999", b'"\\udc00x"', b'"\xff"'])
def test_parse_refuses_a_poisoned_order_alone(poison: bytes) -> None:
    data = _sample()
    first, good = data["pending_orders"][0], data["pending_orders"][1]
    data["pending_orders"] = [{**first, "parameters": {"days": "@POISON@"}}, good,
                              {**first, "order_id": "@POISON@"}]
    data["server_time"] = "@POISON@"
    body = _body(data).replace(b'"@POISON@"', poison)
    with pytest.raises(ProtocolError):
        decode_checkin_response(body)  # the strict decoder refuses the whole body
    parsed = parse_checkin_response(body)
    assert parsed.response.pending_orders == [
        msgspec.convert(good, type(parsed.response.pending_orders[0]))]
    bad = {m.index: m for m in parsed.malformed_orders}
    assert sorted(bad) == [0, 2]
    assert bad[0].order_id == first["order_id"]  # it can be answered with a failure
    assert bad[0].error.endswith("(at $.parameters.days)")
    assert ("non-finite number" if b"e" in poison.lower() else "unpaired surrogate") in bad[0].error
    assert bad[2].order_id is None  # its id is the poison: nothing can be posted
    assert [i.path for i in parsed.issues] == ["$.server_time"]
    assert parsed.response.appliance_id == data["appliance_id"]


def test_parse_keeps_empty_array_quirks() -> None:
    data: dict[str, Any] = dict(LIVE_USB)
    data["billing_hold"] = 1
    parsed = parse_checkin_response(_body(data))
    assert parsed.response.target_assignments == ()
    assert parsed.response.encrypted_credentials == ()
    assert [i.path for i in parsed.issues] == ["$.billing_hold"]


def test_target_assignments_empty_object_round_trips() -> None:
    resp = decode_checkin_response(b'{"target_assignments":{}}')
    assert resp.target_assignments == TargetAssignments()
    assert b'"target_assignments":{}' in encode_checkin_response(resp)
