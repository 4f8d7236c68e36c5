"""Checkin against the local Central Command over real TLS: pinning, signatures, credentials,
orders, 401 → rekey, failures and the server's quirks."""

from __future__ import annotations

import dataclasses
import json

import msgspec
import pytest
import trustme
from tests.checkin.conftest import SITE, Env

from agent.transport.client import Endpoint
from agent.uplink import routes

pytestmark = pytest.mark.asyncio


async def test_checkin_signed_pinned_and_keys_trusted(env: Env) -> None:
    comp = env.component()
    try:
        assert await comp.run_once()
        assert await comp.run_once()
    finally:
        await comp.close()
    seen = env.cc.checkins(SITE)
    assert [c["http_status"] for c in seen] == [200, 200]
    # The server learns the identity key from the first signed checkin, then verifies it.
    assert seen[0]["sigauth"] == "unknown_pubkey" and seen[1]["sigauth"] == "ok"
    assert all(c["heartbeat"] == "valid" for c in seen)
    assert comp.shared.appliance_id == seen[0]["appliance_id"]
    pins = json.loads((env.state / "tls_pins.json").read_text())
    (entry,) = pins["hosts"].values()
    assert entry["source"] == "tofu" and len(entry["spki_sha256"]) >= 2  # leaf + CA
    trusted = json.loads((env.state / "server_keys.json").read_text())
    assert trusted["current"] == env.cc.server_public_key and trusted["source"] == "first_checkin"
    assert comp.status()["breaker"] == "closed"


async def test_swapped_server_certificate_is_refused_before_sending(env: Env) -> None:
    other_ca = trustme.CA()
    comp = env.component(env.ca, other_ca)  # both chains validate; only the pin differs
    try:
        assert await comp.run_once()
        pins_before = (env.state / "tls_pins.json").read_bytes()
        seen_before = len(env.cc.checkins(SITE))
        await env.restart_server(other_ca)
        await comp.uplink.close()  # drop the pooled connection to the old server
        assert not await comp.run_once()
        assert comp.last_error_kind == "pin"
        assert comp.status()["tls_pin_alert"]
        assert len(env.cc.checkins(SITE)) == seen_before  # nothing reached the new server
        assert (env.state / "tls_pins.json").read_bytes() == pins_before  # never replaced
        assert not await comp.run_once()  # and it stays refused
    finally:
        await comp.close()


async def test_credentials_envelope_and_orders(env: Env) -> None:
    comp = env.component()
    try:
        assert await comp.run_once()  # the server learns our envelope key
        env.cc.set_credentials(SITE, [{"hostname": "dc01.clinic.local", "username": "CLINIC\\svc",
                                       "password": "Winter2026!dc", "use_ssl": True}],
                               [{"hostname": "10.0.0.7", "port": 22, "username": "ops",
                                 "password": "lnx-pass-77", "sudo_password": "sudo-pass-77"}])
        order_id = env.cc.issue_order(SITE, "force_checkin", {})
        assert await comp.run_once()
    finally:
        await comp.close()
    creds = comp.shared.credentials
    assert [t.hostname for t in creds.windows_targets] == ["dc01.clinic.local"]
    assert creds.linux_targets[0].sudo_password == "sudo-pass-77"
    assert env.cc.checkins(SITE)[-1]["credentials_encrypted"] is True
    assert order_id in {o.removeprefix("fleet::") for o in comp.shared.pending_orders} or \
        any(order_id in oid for oid in comp.shared.pending_orders)
    sealed = (env.state / "credentials.sealed").read_bytes()
    assert b"Winter2026" not in sealed and b"lnx-pass" not in sealed
    assert "Winter2026" not in repr(creds)
    # After a restart without network, the sealed store brings the targets back.
    again = env.component()
    assert [t.hostname for t in again.shared.credentials.windows_targets] == ["dc01.clinic.local"]
    await again.close()


async def test_401_three_times_then_rekey_persists_new_key(env: Env) -> None:
    comp = env.component()
    try:
        assert await comp.run_once()
        env.cc.deactivate_api_key(env.api_key)
        results = [await comp.run_once() for _ in range(3)]
        assert results == [False, False, False]
        assert comp.rekeys == 1
        new_key = comp.credentials.api_key
        assert new_key != env.api_key
        assert f'api_key: "{new_key}"' in env.config_path.read_text()
        assert "poll_interval: 60" in env.config_path.read_text()  # the rest is kept
        assert comp.backoff.delay == 1.0  # checks in again at once
        assert await comp.run_once()
        assert env.cc.checkins(SITE)[-1]["sigauth"] == "ok"  # still signed after the rekey
    finally:
        await comp.close()


async def test_revoked_key_and_sigauth_rejections_never_rekey(env: Env) -> None:
    comp = env.component()
    try:
        assert await comp.run_once()
        env.cc.revoke_api_key(env.api_key)
        for _ in range(4):
            assert not await comp.run_once()
        assert comp.rekeys == 0 and comp.credentials.api_key == env.api_key
    finally:
        await comp.close()


async def test_server_errors_back_off_with_retry_after(env: Env) -> None:
    comp = env.component()
    try:
        env.cc.inject_fault("/api/appliances/checkin", status=503, body=b"busy",
                            headers={"Retry-After": "120"})
        assert not await comp.run_once()
        assert comp.last_error_kind == "server" and comp.backoff.delay >= 120
        env.cc.inject_fault("/api/appliances/checkin", status=500, body=b"Internal Server Error",
                            content_type="text/plain", count=2)
        assert not await comp.run_once()
        assert not await comp.run_once()
        assert comp.backoff.failures == 3 and 1.0 <= comp.backoff.delay <= comp.backoff.ceiling()
        assert await comp.run_once()  # the loop goes on and recovers
        assert comp.backoff.failures == 0 and comp.uplink.breaker_state == "closed"
    finally:
        await comp.close()


async def test_deadline_is_enforced(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    short = Endpoint("checkin", 0.3, 10 * 1024 * 1024, secondary=False)
    monkeypatch.setattr(routes, "CHECKIN", dataclasses.replace(routes.CHECKIN, endpoint=short))
    comp = env.component()
    try:
        env.cc.inject_fault("/api/appliances/checkin", delay_s=5)
        assert not await comp.run_once()
        assert comp.last_error_kind == "timeout"
    finally:
        await comp.close()


@pytest.mark.parametrize("body,kind", [
    (b"x" * (10 * 1024 * 1024 + 10), "too_large"),
    (b"<html>not json</html>", "protocol"),
    (b"[]", "protocol"),
])
async def test_oversized_and_malformed_responses(env: Env, body: bytes, kind: str) -> None:
    comp = env.component()
    try:
        env.cc.inject_fault("/api/appliances/checkin", status=200, body=body)
        assert not await comp.run_once()
        assert comp.last_error_kind == kind
        assert await comp.run_once()  # the next checkin works
    finally:
        await comp.close()


async def test_empty_array_quirks_and_wrong_types_are_tolerated(env: Env) -> None:
    comp = env.component()
    try:
        assert await comp.run_once()
        quirky = {"status": "ok", "appliance_id": comp.shared.appliance_id,
                  "server_time": "2026-05-20T15:00:00.412345+00:00",
                  "encrypted_credentials": [], "target_assignments": [], "pending_orders": [],
                  "server_public_keys": [], "disabled_checks": "firewall", "billing_hold": "no",
                  "brand_new_field": {"x": 1}}
        env.cc.inject_fault("/api/appliances/checkin", status=200,
                            body=json.dumps(quirky).encode())
        assert await comp.run_once()
        assert comp.issues_seen >= 2  # the wrongly typed fields were logged, not fatal
        assert comp.shared.directives.disabled_checks == frozenset()
    finally:
        await comp.close()


async def test_rotated_api_key_is_persisted_then_used(env: Env) -> None:
    comp = env.component()
    try:
        assert await comp.run_once()
        new_key = env.cc.create_api_key(SITE)
        body = {"status": "ok", "appliance_id": comp.shared.appliance_id, "rotated_api_key": new_key}
        env.cc.inject_fault("/api/appliances/checkin", status=200, body=json.dumps(body).encode())
        assert await comp.run_once()
        assert comp.credentials.api_key == new_key
        assert f'"{new_key}"' in env.config_path.read_text()
        env.cc.deactivate_api_key(env.api_key)  # the old key is dead; the new one works
        assert await comp.run_once()
    finally:
        await comp.close()


async def test_directives_and_server_key_rotation(env: Env) -> None:
    comp = env.component()
    try:
        assert await comp.run_once()
        first = env.cc.server_public_key
        env.cc.set_directives(SITE, disabled_checks=["bitlocker"], billing_hold=True,
                              l2_confidence_threshold=0.8)
        env.cc.rotate_signing_key()
        assert await comp.run_once()
        d = comp.shared.directives
        assert d.disabled_checks == frozenset({"bitlocker"}) and d.billing_hold
        assert d.l2_confidence_threshold == 0.8
        trusted = json.loads((env.state / "server_keys.json").read_text())
        assert trusted["source"] == "rotation"
        assert {trusted["current"], trusted["previous"]} == {env.cc.server_public_key, first}
    finally:
        await comp.close()


async def test_request_body_fields(env: Env) -> None:
    comp = env.component(enable_evidence_upload="false")
    try:
        assert await comp.run_once()
    finally:
        await comp.close()
    (c,) = env.cc.checkins(SITE)
    assert c["heartbeat"] == "absent"  # evidence upload off: no heartbeat, no evidence key
    assert c["agent_version"] == "1.0.0"
    req = msgspec.json.decode(json.dumps(c).encode())
    assert "daemon_health" in req


async def test_no_secret_in_status(env: Env) -> None:
    comp = env.component()
    try:
        assert await comp.run_once()
    finally:
        await comp.close()
    assert env.api_key not in json.dumps(comp.status())
