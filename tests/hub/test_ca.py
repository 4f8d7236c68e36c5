"""The agents' CA on disk and the registry file: created on first use with tight modes, reused,
durable revocations and tokens, a damaged registry failing closed."""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from tests.hub.agentclient import make_csr

from agent.config import parse_config
from agent.hub.ca import AgentCA, CAError
from agent.hub.component import ca_dir
from agent.hub.registry import AgentRegistry, TokenError


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_the_ca_is_created_on_first_use_with_tight_modes_and_then_reused(tmp_path: Path) -> None:
    d = tmp_path / "ca"
    ca = AgentCA(d)
    assert not d.exists()
    ca.ensure()
    assert mode(d) == 0o700 and mode(d / "ca.key") == 0o600 and mode(d / "ca.crt") == 0o644
    cert = x509.load_pem_x509_certificate((d / "ca.crt").read_bytes())
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    server_cert, server_key = ca.server_credentials(["127.0.0.1", "localhost"])
    assert mode(server_key) == 0o600
    again = AgentCA(d)
    assert again.ca_pem() == ca.ca_pem()  # loaded, not re-created
    assert again.server_credentials(["127.0.0.1"]) == (server_cert, server_key)
    assert server_cert.read_bytes() == again.server_cert_path.read_bytes()


def test_csr_checks(tmp_path: Path) -> None:
    ca = AgentCA(tmp_path / "ca")
    csr, _ = make_csr("ws-01")
    pem, serial = ca.sign_csr(csr, "WS-01.")
    ident = ca.verify_client(x509.load_pem_x509_certificate(pem).public_bytes(
        encoding=Encoding.DER))
    assert (ident.hostname, ident.serial) == ("ws-01", serial)
    for bad, why in ((b"not a csr", "PEM"), (make_csr("ws-02")[0], "another host"),
                     (b"x" * 9000, "too large")):
        with pytest.raises(CAError, match=why):
            ca.sign_csr(bad, "ws-01")
    other = AgentCA(tmp_path / "other")
    foreign, _ = other.sign_csr(csr, "ws-01")
    der = x509.load_pem_x509_certificate(foreign).public_bytes(
        Encoding.DER)
    # another hub's CA has the same name: its signature gives it away
    with pytest.raises(CAError, match="signature invalid"):
        ca.verify_client(der)
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    expired, _ = ca.sign_csr(csr, "ws-01", not_before=old)
    with pytest.raises(CAError, match="expired"):
        ca.verify_client(x509.load_pem_x509_certificate(expired).public_bytes(
            Encoding.DER))


def test_tokens_revocations_and_certificates_survive_a_restart(tmp_path: Path) -> None:
    reg = AgentRegistry(tmp_path)
    token = reg.issue_token("ws-01")
    reg.record_cert(12345678901234567890123456789, "ws-01", "compat", 4e9)
    reg.revoke_host("ws-01")
    again = AgentRegistry(tmp_path)
    assert again.is_revoked(12345678901234567890123456789)
    again.redeem_token(token, "ws-01")
    with pytest.raises(TokenError, match="already used"):
        AgentRegistry(tmp_path).redeem_token(token, "ws-01")
    assert token not in (tmp_path / "agent_registry.json").read_text()


def test_a_go_daemon_registry_is_adopted(tmp_path: Path) -> None:
    (tmp_path / "agent_registry.json").write_text(json.dumps(
        [{"agent_id": "go-ws-01-abcd1234", "hostname": "WS-01"}]))
    reg = AgentRegistry(tmp_path)
    agent = reg.agent_for_host("ws-01")
    assert agent is not None and agent.agent_id == "go-ws-01-abcd1234"
    assert reg.register("ws-01", os_version="", agent_version="", ip_address="").agent_id == (
        "go-ws-01-abcd1234")


def test_a_damaged_registry_fails_closed(tmp_path: Path) -> None:
    reg = AgentRegistry(tmp_path, clock=lambda: 1000.0)
    reg.record_cert(42, "ws-01", "csr", 4e9)
    reg.revoke_host("ws-01")
    (tmp_path / "agent_registry.json").write_text("{ damaged")
    after = AgentRegistry(tmp_path, clock=lambda: 2000.0)
    # the revocation list is gone, so every certificate from before is refused (re-enrollment)
    assert after.epoch == 2000.0 and AgentRegistry(tmp_path).epoch == 2000.0
    assert list(tmp_path.glob("agent_registry.json.corrupt.*"))


def test_ca_dir_default_follows_the_state_dir(tmp_path: Path) -> None:
    base = "site_id: s\napi_key: test-api-key-0123456789\n"
    cfg = parse_config(base + f"state_dir: {tmp_path}\n", environ={}).config
    assert ca_dir(cfg) == tmp_path / "ca"
    cfg = parse_config(base + f"state_dir: {tmp_path}\nca_dir: {tmp_path / 'x'}\n",
                       environ={}).config
    assert ca_dir(cfg) == tmp_path / "x"


def test_revoking_a_host_covers_certificates_never_recorded(tmp_path: Path) -> None:
    """A Go daemon's CA in ca_dir is adopted: its certificates are not in our registry, and
    revoking their host still refuses them; a certificate issued after that is accepted."""
    now = [1000.0]
    reg = AgentRegistry(tmp_path, clock=lambda: now[0])
    reg.revoke_host("ws-01")
    assert reg.is_revoked(777, "WS-01", not_before=900.0)  # a Go-issued certificate
    assert not reg.is_revoked(777, "ws-02", not_before=900.0)
    reg.record_cert(778, "ws-01", "csr", 4e9)  # issued after the revocation (backdated start)
    assert not reg.is_revoked(778, "ws-01", not_before=700.0)
    assert AgentRegistry(tmp_path).is_revoked(777, "ws-01", not_before=900.0)  # durable
