"""Enrollment and mTLS over real TLS on loopback: CSR mode with one-time tokens, renewal,
refusals (replayed/missing token, CSR for another host, expired and revoked certificates, no
certificate on every RPC), and compatibility mode for today's Go agents."""

from __future__ import annotations

import datetime as dt
import os
import ssl

import pytest
from cryptography import x509
from grpclib.const import Status
from grpclib.exceptions import GRPCError, StreamTerminatedError
from tests.hub.agentclient import make_csr


async def test_csr_enrollment_with_a_token_gives_a_certificate_and_no_key(hub) -> None:
    token = hub.registry.issue_token("ws-01")
    a = hub.agent("ws-01")
    resp = await a.enroll(token)
    assert resp.agent_id.startswith("go-ws-01-")
    assert resp.agent_key_pem == b""
    assert resp.ca_cert_pem == hub.ca_pem
    cert = x509.load_pem_x509_certificate(resp.agent_cert_pem)
    assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "agent-ws-01"
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert lifetime <= dt.timedelta(days=31)
    # the certificate carries mTLS calls
    assert (await a.heartbeat()).acknowledged
    assert hub.registry.pushes_own_results("WS-01")
    # the token is stored hashed only
    raw = (hub.tmp / "state" / "agent_registry.json").read_text()
    assert token not in raw
    assert os.stat(hub.tmp / "state" / "agent_registry.json").st_mode & 0o777 == 0o600


async def test_a_replayed_token_is_refused(hub) -> None:
    token = hub.registry.issue_token("ws-01")
    await hub.agent("ws-01").enroll(token)
    with pytest.raises(GRPCError) as info:
        await hub.agent("ws-01").enroll(token)
    assert info.value.status is Status.PERMISSION_DENIED
    assert "already used" in (info.value.message or "")


async def test_enrollment_without_a_token_is_refused(hub) -> None:
    csr, _ = make_csr("ws-01")
    with pytest.raises(GRPCError) as info:
        await hub.agent("ws-01").register(csr=csr, with_cert=False)
    assert info.value.status is Status.UNAUTHENTICATED
    # nor without a CSR (compatibility enrollment is off by default)
    with pytest.raises(GRPCError) as info:
        await hub.agent("ws-01").register(needs_certs=True, with_cert=False)
    assert info.value.status is Status.UNAUTHENTICATED
    assert not hub.registry.certs


async def test_a_csr_for_another_host_is_refused_and_the_token_survives(hub) -> None:
    token = hub.registry.issue_token("ws-01")
    csr, _ = make_csr("ws-02")
    with pytest.raises(GRPCError) as info:
        await hub.agent("ws-01").register(csr=csr, token=token, with_cert=False)
    assert info.value.status is Status.INVALID_ARGUMENT
    assert "another host" in (info.value.message or "")
    # a token of ws-01 does not enroll ws-02 either
    with pytest.raises(GRPCError) as info:
        await hub.agent("ws-02").enroll(token)
    assert info.value.status is Status.PERMISSION_DENIED
    # the refused attempts spent nothing: ws-01 still enrolls with it
    assert (await hub.agent("ws-01").enroll(token)).agent_cert_pem


async def test_an_expired_token_is_refused(hub) -> None:
    token = hub.registry.issue_token("ws-01", ttl_s=-1)
    with pytest.raises(GRPCError) as info:
        await hub.agent("ws-01").enroll(token)
    assert info.value.status is Status.PERMISSION_DENIED
    assert "expired" in (info.value.message or "")


async def test_renewal_over_mtls_needs_no_token(hub) -> None:
    a = hub.agent("ws-01")
    await a.enroll(hub.registry.issue_token("ws-01"))
    first = x509.load_pem_x509_certificate(a.cert_pem).serial_number
    csr, key = make_csr("ws-01")
    resp = await a.register(csr=csr)  # over mTLS with the current certificate
    a.key_pem = key
    assert x509.load_pem_x509_certificate(resp.agent_cert_pem).serial_number != first
    assert (await a.heartbeat()).acknowledged


async def test_an_expired_certificate_is_refused(hub) -> None:
    a = hub.agent("ws-01")
    await a.enroll(hub.registry.issue_token("ws-01"))
    assert (await a.heartbeat()).acknowledged  # the same agent, with a current certificate
    csr, key = make_csr("ws-01")
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    a.cert_pem, _ = hub.hub.ca.sign_csr(csr, "ws-01", days=1, not_before=past)
    a.key_pem = key
    with pytest.raises((ssl.SSLError, ConnectionError, StreamTerminatedError, GRPCError)):
        await a.heartbeat()
    # the TLS handshake refuses it (the hub verifies presented certificates), nothing counted
    assert hub.hub.service.stats["heartbeats"] == 1


async def test_a_revoked_certificate_is_refused_on_every_call(hub) -> None:
    a = hub.agent("ws-01")
    await a.enroll(hub.registry.issue_token("ws-01"))
    assert (await a.heartbeat()).acknowledged
    assert hub.registry.revoke_host("ws-01") == 1
    for call in (a.heartbeat, a.rmm):
        with pytest.raises(GRPCError) as info:
            await call()
        assert info.value.status is Status.UNAUTHENTICATED
        assert "revoked" in (info.value.message or "")
    # the revocation is durable
    from agent.hub.registry import AgentRegistry

    assert AgentRegistry(hub.tmp / "state").revoked == hub.registry.revoked


async def test_every_rpc_but_register_requires_a_client_certificate(hub) -> None:
    a = hub.agent("ws-01")
    await a.enroll(hub.registry.issue_token("ws-01"))
    calls = [lambda: a.heartbeat(with_cert=False), lambda: a.rmm(with_cert=False),
             lambda: a.healing(check_type="firewall", command_id="x", with_cert=False)]
    for call in calls:
        with pytest.raises(GRPCError) as info:
            await call()
        assert info.value.status is Status.UNAUTHENTICATED
    with pytest.raises(GRPCError) as info:
        async with a.drift_stream(with_cert=False) as st:
            await st.send_message(a.drift("firewall"))
            await st.recv_message()
    assert info.value.status is Status.UNAUTHENTICATED
    assert hub.incidents == []
    assert hub.hub.service.stats["refused_no_cert"] == 4


async def test_a_certificate_cannot_speak_for_another_agent(hub) -> None:
    a, b = hub.agent("ws-01"), hub.agent("ws-02")
    await a.enroll(hub.registry.issue_token("ws-01"))
    await b.enroll(hub.registry.issue_token("ws-02"))
    a.agent_id = b.agent_id
    with pytest.raises(GRPCError) as info:
        await a.heartbeat()
    assert info.value.status is Status.PERMISSION_DENIED


async def test_compat_enrollment_from_a_listed_host(compat_hub) -> None:
    a = compat_hub.agent("ws-02")
    resp = await a.register(needs_certs=True, with_cert=False)
    assert resp.agent_cert_pem and resp.agent_key_pem and resp.ca_cert_pem
    assert (await a.heartbeat()).acknowledged
    # one certificate per host until revoked
    with pytest.raises(GRPCError) as info:
        await compat_hub.agent("ws-02").register(needs_certs=True, with_cert=False)
    assert info.value.status is Status.PERMISSION_DENIED
    compat_hub.registry.revoke_host("ws-02")
    assert (await compat_hub.agent("ws-02").register(needs_certs=True,
                                                     with_cert=False)).agent_key_pem


async def test_compat_enrollment_refused_from_an_unlisted_host(compat_hub) -> None:
    with pytest.raises(GRPCError) as info:
        await compat_hub.agent("laptop-x").register(needs_certs=True, with_cert=False)
    assert info.value.status is Status.PERMISSION_DENIED
    assert not compat_hub.registry.certs


async def test_compat_enrollment_is_rate_limited_per_address(compat_hub) -> None:
    for host in ("ws-01", "ws-02", "dc-01"):
        await compat_hub.agent(host).register(needs_certs=True, with_cert=False)
    compat_hub.registry.revoke_host("ws-01")
    with pytest.raises(GRPCError) as info:
        await compat_hub.agent("ws-01").register(needs_certs=True, with_cert=False)
    assert info.value.status is Status.RESOURCE_EXHAUSTED


async def test_compat_renewal_over_mtls_replaces_the_certificate(compat_hub) -> None:
    """Today's Go agents renew by registering again with needs_certificates over mTLS."""
    a = compat_hub.agent("ws-01")
    first = await a.register(needs_certs=True, with_cert=False)
    lifetime = (x509.load_pem_x509_certificate(first.agent_cert_pem).not_valid_after_utc
                - x509.load_pem_x509_certificate(first.agent_cert_pem).not_valid_before_utc)
    assert lifetime > dt.timedelta(days=60)  # longer than the Go agents' 30-day renewal window
    old_cert, old_key = a.cert_pem, a.key_pem
    again = await a.register(needs_certs=True)  # with the current certificate
    assert again.agent_cert_pem != first.agent_cert_pem and again.agent_key_pem
    assert (await a.heartbeat()).acknowledged  # the new one works
    a.cert_pem, a.key_pem = old_cert, old_key
    with pytest.raises(GRPCError) as info:  # the old one is revoked
        await a.heartbeat()
    assert info.value.status is Status.UNAUTHENTICATED
