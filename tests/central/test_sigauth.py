"""Request-signature verdicts (central-api.md §4.4) and heartbeat verdicts (§4.5)."""

from __future__ import annotations

from agent.central import CentralCommand
from agent.crypto import Ed25519Key, sign_heartbeat
from agent.protocol.auth import AuthFailureKind, classify_401

from .conftest import (
    APPLIANCE,
    EVIDENCE_KEY,
    IDENTITY,
    MAC,
    SITE,
    Api,
    FakeClock,
    load_shared,
    sample_request,
)


def verdicts(cc: CentralCommand) -> list[str]:
    return [c["sigauth"] for c in cc.checkins(SITE)]


async def test_sigauth_vector_body_and_headers_verify(api: Api, key: str, cc: CentralCommand) -> None:
    case = load_shared("vectors/sigauth.json")["cases"][0]
    headers = {k: v for k, v in case.get("headers", {}).items()}
    assert headers, "vector carries its headers"
    body = case["body_text"].encode()
    # learn the key first, then replay the vector's own headers at its own time
    await api.checkin(body, key=key, sign_now=api.clock.now)
    reply = await api.request("POST", "/api/appliances/checkin", body, key=key, headers=headers)
    assert reply.status == 200
    assert verdicts(cc) == ["unknown_pubkey", "ok"]


async def test_first_checkin_unknown_pubkey_then_ok(api: Api, key: str, cc: CentralCommand) -> None:
    await api.checkin(key=key)
    await api.checkin(key=key)
    assert verdicts(cc) == ["unknown_pubkey", "ok"]
    assert cc.appliances(SITE)[0]["identity_pubkey"] == IDENTITY.public_hex


async def test_unknown_pubkey_not_learned_from_bad_signature(api: Api, key: str, cc: CentralCommand) -> None:
    await api.checkin(key=key, identity=Ed25519Key(bytes(32)))  # signed by a key other than the body's
    await api.checkin(key=key)
    assert verdicts(cc) == ["unknown_pubkey", "unknown_pubkey"]


async def test_nonce_replay(api: Api, known: str, cc: CentralCommand, clock: FakeClock) -> None:
    nonce = "ab" * 16
    await api.checkin(key=known, nonce=nonce)
    clock.advance(5)
    await api.checkin(key=known, nonce=nonce)
    assert verdicts(cc)[1:] == ["ok", "nonce_replay"]


async def test_nonce_forgotten_after_two_hours(
    api: Api, known: str, cc: CentralCommand, clock: FakeClock
) -> None:
    nonce = "cd" * 16
    await api.checkin(key=known, nonce=nonce)
    clock.advance(2 * 3600 + 61)
    await api.checkin(key=known, nonce=nonce)
    assert verdicts(cc)[1:] == ["ok", "ok"]


async def test_clock_skew(api: Api, known: str, cc: CentralCommand, clock: FakeClock) -> None:
    await api.checkin(key=known, sign_now=clock.now - 60)  # at the limit: accepted
    await api.checkin(key=known, sign_now=clock.now + 61)
    await api.checkin(key=known, sign_now=clock.now - 120)
    assert verdicts(cc)[1:] == ["ok", "clock_skew", "clock_skew"]


async def test_missing_headers_and_bad_signature(api: Api, known: str, cc: CentralCommand) -> None:
    await api.checkin(key=known, sign=False)
    await api.checkin(key=known, identity=Ed25519Key(bytes(range(1, 33))))
    assert verdicts(cc)[1:] == ["no_headers", "invalid_signature"]


async def test_tampered_body(api: Api, known: str, cc: CentralCommand) -> None:
    from agent.crypto import sign_request

    body = sample_request()
    raw = __import__("json").dumps(body, separators=(",", ":")).encode()
    headers = sign_request(IDENTITY, "POST", "/api/appliances/checkin", raw, now=int(api.clock.now))
    tampered = raw.replace(b'"uptime_seconds":86400', b'"uptime_seconds":86401')
    await api.request("POST", "/api/appliances/checkin", tampered, key=known, headers=headers)
    assert verdicts(cc)[-1] == "invalid_signature"


async def test_enforce_mode_rejects(api: Api, known: str, cc: CentralCommand, clock: FakeClock) -> None:
    cc.set_sigauth_enforce(APPLIANCE, True)
    assert (await api.checkin(key=known)).status == 200
    reply = await api.checkin(key=known, sign_now=clock.now + 300)
    assert reply.status == 401
    detail = reply.json()["detail"]
    assert detail["code"] == "SIGAUTH_ENFORCE_REJECTED" and detail["reason"] == "clock_skew"
    failure = classify_401(reply.body)
    assert failure.kind is AuthFailureKind.SIGAUTH_REJECTED and failure.reason == "clock_skew"
    assert not failure.counts_towards_rekey
    reply = await api.checkin(key=known, sign=False)
    assert reply.json()["detail"]["reason"] == "no_headers"
    assert [c["http_status"] for c in cc.checkins(SITE)] == [200, 200, 401, 401]


async def test_enforce_before_first_checkin_rejects_unknown_pubkey(
    api: Api, key: str, cc: CentralCommand
) -> None:
    cc.set_sigauth_enforce(APPLIANCE, True)
    reply = await api.checkin(key=key)
    assert reply.status == 401 and reply.json()["detail"]["reason"] == "unknown_pubkey"
    cc.set_sigauth_enforce(APPLIANCE, False)
    assert (await api.checkin(key=key)).status == 200


def heartbeats(cc: CentralCommand) -> list[str]:
    return [c["heartbeat"] for c in cc.checkins(SITE)]


async def test_heartbeat_verdicts(api: Api, key: str, cc: CentralCommand, clock: FakeClock) -> None:
    await api.checkin(key=key)  # the sample's signature and timestamp: path A
    body = sample_request()
    body["heartbeat_signature"] = "00" * 64
    await api.checkin(body, key=key)
    body = sample_request()
    del body["heartbeat_signature"], body["heartbeat_timestamp"]
    await api.checkin(body, key=key)
    body = sample_request()  # Go-daemon style: signature without timestamp → ±60 s search
    ts = int(clock.now) - 17
    body["heartbeat_signature"] = sign_heartbeat(EVIDENCE_KEY, SITE, MAC, ts, "1.0.0")
    del body["heartbeat_timestamp"]
    await api.checkin(body, key=key)
    assert heartbeats(cc) == ["valid", "invalid", "absent", "valid_path_b"]


async def test_heartbeat_uses_key_site(api: Api, cc: CentralCommand) -> None:
    cc.create_site("other-site")
    other = cc.create_api_key("other-site")
    await api.checkin(key=other)  # the sample signature covers lakeside-pediatrics, not other-site
    assert [c["heartbeat"] for c in cc.checkins("other-site")] == ["invalid"]
