"""The other endpoints of central-api.md §4.2, §4.3, §7 and evidence.md §4."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from agent.protocol import OrderCompletion, ProtocolError, decode, encode, order_complete_path
from agent.protocol.auth import AuthFailureKind, classify_401
from agent.protocol.devices import DeviceSync
from agent.protocol.evidence import (
    EvidenceSubmit,
    decode_evidence_submit,
    encode_evidence_submit,
    evidence_submit_path,
)
from agent.protocol.incidents import IncidentReport, IncidentResolve
from agent.protocol.l2 import L2Plan
from agent.protocol.logs import LogEntry, LogIngest, decode_log_ingest, encode_log_ingest_gzip
from agent.protocol.mesh import MeshAck, MeshAckTarget
from agent.protocol.rekey import (
    RekeyRequest,
    RekeyResponse,
    is_valid_api_key,
    rekey_retry_seconds,
)
from agent.protocol.telemetry import Execution, ExecutionReport
from agent.protocol.timefmt import format_utc, parse_timestamp
from agent.protocol.watchdog import WatchdogBootstrapResponse

from .conftest import VECTORS, load_json


def test_completion_body_matches_sigauth_vector() -> None:
    case = next(c for c in load_json(VECTORS / "sigauth.json")["cases"] if c["name"] == "order_complete")
    body = encode(OrderCompletion(success=True, result={"status": "checkin_triggered"}))
    assert body == case["body_text"].encode()
    assert order_complete_path("ORD-20260520145500-c4bd2ddc") == case["path"]
    assert encode(OrderCompletion(success=False, error_message="bad_signature: x")) == (
        b'{"success":false,"error_message":"bad_signature: x"}'
    )


@pytest.mark.parametrize(
    ("order_id", "segment"),
    [
        (
            "fleet::cf51591c-fffc-4ae9-bbee-d0e3b3814941::site-52:54:00:AB:CD:EF",
            "fleet::cf51591c-fffc-4ae9-bbee-d0e3b3814941::site-52:54:00:AB:CD:EF",
        ),
        ("a/b?c#d e%", "a%2Fb%3Fc%23d%20e%25"),
        ("ü~_.-@", "%C3%BC~_.-@"),
    ],
)
def test_order_id_percent_encoding(order_id: str, segment: str) -> None:
    assert order_complete_path(order_id) == f"/api/orders/{segment}/complete"


@pytest.mark.parametrize("order_id", ["", ".", "..", "x" * 257, "a\nb", "a\x7fb"])
def test_unusable_order_ids_rejected(order_id: str) -> None:
    with pytest.raises(ProtocolError):
        order_complete_path(order_id)


def test_evidence_submit_bodies_round_trip() -> None:
    vectors = load_json(VECTORS / "evidence.json")
    bundles = vectors["bundles"]
    assert bundles
    for bundle in bundles:
        raw = json.dumps(bundle["submit_body"], separators=(",", ":"), ensure_ascii=False).encode()
        body = decode_evidence_submit(raw)
        assert isinstance(body, EvidenceSubmit)
        assert encode_evidence_submit(body) == raw
        assert body.signed_data == bundle["signed_data"]
    assert evidence_submit_path("lakeside-pediatrics") == ("/api/evidence/sites/lakeside-pediatrics/submit")


@pytest.mark.parametrize(
    ("body", "kind", "counts"),
    [
        (
            b'{"detail":{"error":"API key mismatch","code":"AUTH_KEY_MISMATCH"}}',
            AuthFailureKind.KEY_MISMATCH,
            True,
        ),
        (b'{"detail":"Invalid API key"}', AuthFailureKind.INVALID_KEY, True),
        (
            b'{"detail":{"error":"x","code":"SIGAUTH_ENFORCE_REJECTED","reason":"clock_skew"}}',
            AuthFailureKind.SIGAUTH_REJECTED,
            False,
        ),
        (b'{"detail":"bearer_revoked"}', AuthFailureKind.BEARER_REVOKED, False),
        (b'{"detail":"Empty API key"}', AuthFailureKind.LOCAL_BUG, False),
        (b'{"detail":"Missing or invalid Authorization header"}', AuthFailureKind.LOCAL_BUG, False),
        (b'{"detail":"something new"}', AuthFailureKind.INVALID_KEY, True),
        (b"Internal Server Error", AuthFailureKind.INVALID_KEY, True),
    ],
)
def test_classify_401(body: bytes, kind: AuthFailureKind, counts: bool) -> None:
    failure = classify_401(body)
    assert failure.kind is kind
    assert failure.counts_towards_rekey is counts
    if kind is AuthFailureKind.SIGAUTH_REJECTED:
        assert failure.reason == "clock_skew"


def test_rekey_models_and_helpers() -> None:
    assert encode(RekeyRequest(site_id="s", mac_address="52:54:00:AB:CD:EF")) == (
        b'{"site_id":"s","mac_address":"52:54:00:AB:CD:EF"}'
    )
    key = "A" * 20 + "b-_" * 8
    resp = decode(json.dumps({"status": "rekeyed", "api_key": key, "appliance_id": "x"}), RekeyResponse)
    assert key not in repr(resp) and "***" in repr(resp)
    assert is_valid_api_key(key)
    assert not is_valid_api_key("short")
    assert not is_valid_api_key("A" * 39 + "/")
    assert rekey_retry_seconds("Rekey rate limited. Retry in 1234s") == 1234
    assert rekey_retry_seconds("Rekey rate limited.") == 3600


def test_watchdog_bootstrap_masks_key() -> None:
    resp = decode(
        b'{"site_id":"s","appliance_id":"a","api_key":"SECRETSECRET","api_endpoint":"e"}',
        WatchdogBootstrapResponse,
    )
    assert "SECRETSECRET" not in repr(resp)


def test_log_ingest_gzip_body() -> None:
    body = LogIngest(
        site_id="s", hostname="h", batch=[LogEntry(ts="2026-05-20T15:00:00Z", unit="sshd", pri=6, msg="m")]
    )
    raw = gzip.decompress(encode_log_ingest_gzip(body))
    assert raw == (
        b'{"site_id":"s","hostname":"h","batch":[{"ts":"2026-05-20T15:00:00Z",'
        b'"unit":"sshd","pri":6,"msg":"m"}]}'
    )
    assert decode_log_ingest(raw) == body


def test_optional_fields_omitted_in_agent_bodies() -> None:
    assert encode(IncidentReport(site_id="s", host_id="h", incident_type="t", severity="low")) == (
        b'{"site_id":"s","host_id":"h","incident_type":"t","severity":"low"}'
    )
    assert json.loads(
        encode(
            IncidentResolve(site_id="s", host_id="h", check_type="c", resolution_tier="L1", runbook_id="r")
        )
    )["status"] == ("resolved")
    ex = Execution(
        execution_id="e",
        incident_id="i",
        runbook_id="r",
        hostname="h",
        incident_type="t",
        duration_seconds=1.5,
        success=True,
        status="success",
        confidence=1.0,
        resolution_level="L1",
    )
    out = json.loads(encode(ExecutionReport(site_id="s", reported_at="t", execution=ex)))
    assert "cost_usd" not in out["execution"] and out["execution"]["confidence"] == 1.0
    ack = MeshAck(site_id="s", appliance_id="a", targets=[MeshAckTarget(target_key="10.0.0.1")])
    assert json.loads(encode(ack))["targets"] == [{"target_key": "10.0.0.1", "target_type": "device"}]
    with pytest.raises(ProtocolError):
        decode(b'{"appliance_id":"a","site_id":"s","devices":[]}', DeviceSync)


def test_l2_plan_flags() -> None:
    plan = decode(b'{"incident_id":"i","confidence":0.9,"l2_decision_recorded":false}', L2Plan)
    assert not plan.actionable
    assert decode(b'{"confidence":0.9}', L2Plan).actionable
    assert not decode(b'{"requires_approval":true}', L2Plan).actionable


def test_timestamps() -> None:
    assert format_utc(1779289200) == "2026-05-20T15:00:00Z"
    assert format_utc(datetime(2026, 5, 20, 17, 0, 0, 999, tzinfo=timezone(timedelta(hours=2)))) == (
        "2026-05-20T15:00:00Z"
    )
    a = parse_timestamp("2026-05-20T15:00:00.412345+00:00")
    assert a == datetime(2026, 5, 20, 15, 0, 0, 412345, tzinfo=UTC)
    assert parse_timestamp("2026-05-20T10:00:00.4-05:00") == datetime(
        2026, 5, 20, 15, 0, 0, 400000, tzinfo=UTC
    )
    for bad in (
        "2026-05-20T15:00:00",
        "2026-05-20 15:00:00Z",
        "2026-05-20T15:00:00.1234567Z",
        "2026-02-30T15:00:00Z",
        "2026-05-20T15:00:00+24:00",
    ):
        with pytest.raises(ProtocolError):
            parse_timestamp(bad)
    with pytest.raises(ValueError):
        format_utc(datetime(2026, 5, 20))
