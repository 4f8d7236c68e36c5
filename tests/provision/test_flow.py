"""A blank appliance against the local Central Command: claim-v2 → verified config → checking in;
the operator-enabled fallbacks; and every refusal, each leaving no config behind."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import nacl.signing
import pytest

from agent import wiring
from agent.central import CentralCommand
from agent.config import load_config
from agent.provision import Provisioned, Provisioner, ProvisionRefused, provision, read_status, status_line
from agent.state import StateDir, load_or_create

from .conftest import FACTS, MAC, SITE, Image


async def _provision(image: Image, **kw: Any) -> Provisioned:
    return await provision(image.options(**kw), facts=FACTS, prepare=image.prepare)


async def _refused(image: Image, **kw: Any) -> ProvisionRefused:
    with pytest.raises(ProvisionRefused) as info:
        await _provision(image, **kw)
    assert not image.config.exists()
    return info.value


async def test_blank_appliance_provisions_itself_and_checks_in(image: Image, cc: CentralCommand) -> None:
    done = await _provision(image)
    assert done.method == "claim_v2"
    assert stat.S_IMODE(image.config.stat().st_mode) == 0o600
    cfg = load_config(image.config, environ={}).config
    assert (cfg.site_id, cfg.api_endpoint) == (SITE, cc.url)
    assert cfg.server_public_key == cc.server_public_key  # the image's pinned key seeds trust
    [event] = cc.provisioning.claim_events()
    keys = load_or_create(image.state, create=False)
    assert event["agent_pubkey_hex"] == bytes(keys.identity.verify_key).hex()
    assert event["iso_release_sha"] == image.release and event["hardware_id"] == FACTS.hardware_id
    assert status_line(image.state) and "done (claim_v2" in (status_line(image.state) or "")

    state = StateDir(image.state)
    state.open()
    w = wiring.build(cfg, image.config, keys, wiring.Options(
        appliance_params={"perm_files": [], "sshd_config": str(image.tmp / "absent")}))
    try:
        assert await w.checkin.run_once()
    finally:
        await w.close()
        state.close()
    [checkin] = cc.checkins(SITE)
    assert checkin["appliance_id"] == f"{SITE}-{MAC}" and checkin["http_status"] == 200
    assert checkin["sigauth"] == "ok"  # the claim registered the identity key the checkin signs with


async def test_an_existing_config_is_never_overwritten_without_force(image: Image) -> None:
    image.config.write_text("site_id: handmade\napi_key: kept-as-it-is-0123456789\n")
    with pytest.raises(ProvisionRefused) as info:
        await _provision(image)
    assert info.value.code == "config_present"
    assert image.config.read_text().startswith("site_id: handmade")
    await _provision(image, force=True)
    assert load_config(image.config, environ={}).config.site_id == SITE


async def test_expired_claim_certificate_is_refused_before_anything_is_sent(image: Image,
                                                                           cc: CentralCommand) -> None:
    image.write_cert(valid_for_s=-3600)
    seen = cc.capture_requests()
    exc = await _refused(image)
    assert exc.code == "claim_cert_expired" and "expired" in str(exc)
    assert seen == []
    assert (read_status(image.state) or {}).get("state") == "refused"
    assert (status_line(image.state) or "").startswith("provisioning: refused: claim certificate")


async def test_certificate_of_another_ca_is_refused(image: Image) -> None:
    image.write_cert(ca=nacl.signing.SigningKey.generate())  # signed and named by a foreign CA
    assert (await _refused(image)).code == "claim_cert_foreign_ca"


async def test_certificate_with_a_bad_signature_is_refused(image: Image) -> None:
    image.write_cert(tamper={"version": 2})  # signed over version 1
    assert (await _refused(image)).code == "claim_cert_bad_signature"


async def test_missing_ca_key_is_refused(image: Image) -> None:
    (image.root / "claim-ca.pub").unlink()
    assert (await _refused(image)).code == "claim_cert_ca_missing"


async def test_server_refuses_an_unregistered_release(tmp_path: Path, image: Image,
                                                      cc: CentralCommand) -> None:
    cc.provisioning.revoke_iso_ca(image.release)
    exc = await _refused(image)
    assert exc.code == "claim_refused" and "ca_revoked" in str(exc)


async def test_claim_v2_answer_for_another_key_is_refused(image: Image, cc: CentralCommand) -> None:
    body = {"appliance_id": f"{SITE}-{MAC}", "fingerprint": "0" * 16, "claim_event_id": 1,
            "api_key": "A" * 43}
    cc.inject_fault("/api/provision/claim-v2", status=200, body=json.dumps(body).encode())
    exc = await _refused(image)
    assert exc.code == "bad_answer" and "fingerprint" in str(exc)


async def test_server_errors_are_retried_with_backoff_while_status_says_waiting(
        image: Image, cc: CentralCommand) -> None:
    cc.inject_fault("/api/provision/claim-v2", status=503, body=b'{"detail":"down"}', count=2)
    await _provision(image)
    assert len(image.sleeps) == 2 and all(0 < d <= 0.04 for d in image.sleeps)
    assert all(s.startswith("provisioning: waiting for Central Command (server error: HTTP 503)")
               for s in image.statuses), image.statuses
    assert load_config(image.config, environ={}).config.site_id == SITE


async def test_unreachable_server_is_retried_then_given_up(image: Image, tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{_closed_port()}"
    (image.root / "provision.yaml").write_text(f"site_id: {SITE}\napi_endpoint: {closed}\n")
    exc = await _refused(image, attempts=3)
    assert exc.code == "gave_up" and "unreachable" in str(exc)
    assert len(image.sleeps) == 2
    assert all("waiting for Central Command at" in s for s in image.statuses)


async def test_wrong_tls_pin_never_provisions(tmp_path: Path) -> None:
    import trustme
    from tests.checkin.conftest import client_context, server_context

    ca = trustme.CA()
    cc = CentralCommand(tmp_path / "tls.db", ssl_context=server_context(ca))
    await cc.start()
    try:
        release = cc.provisioning.build_installer_image(
            tmp_path / "img", site_id=SITE, api_endpoint=cc.url, server_public_key=cc.server_public_key)
        img = Image(tmp_path / "img", nacl.signing.SigningKey(release.ca_seed), release.sha, cc,
                    tmp_path)
        opts = img.options(attempts=2, tls_pin_hash="ab" * 32, ssl_context=client_context(ca))
        with pytest.raises(ProvisionRefused) as info:
            await provision(opts, facts=FACTS, prepare=img.prepare)
        assert info.value.code == "gave_up" and "pin" in str(info.value)
        assert not img.config.exists() and cc.provisioning.claim_events() == []
        opts.tls_pin_hash, opts.attempts = None, 0  # trust on first use instead
        await provision(opts, facts=FACTS, prepare=img.prepare)
        assert (img.state / "tls_pins.json").exists() and img.config.exists()
    finally:
        await cc.stop()
        cc.close()


# --- the fallbacks the operator enables -------------------------------------------------------


async def test_provision_code_is_a_fallback_only_when_given(image: Image, cc: CentralCommand) -> None:
    (image.root / "claim.cert").unlink()
    assert (await _refused(image)).code == "no_method"
    code = cc.provisioning.create_provision_code("coded-site")
    done = await _provision(image, provision_code=code.lower())
    assert done.method == "provision_code"
    cfg = load_config(image.config, environ={}).config
    assert (cfg.site_id, cfg.api_endpoint) == ("coded-site", cc.url)
    image.config.unlink()
    exc = await _refused(image, provision_code=code)
    assert exc.code == "http_400" and "already claimed" in str(exc)


async def test_provision_code_refusals(image: Image, cc: CentralCommand) -> None:
    (image.root / "claim.cert").unlink()
    assert "Invalid provision code" in str(await _refused(image, provision_code="0" * 16))
    expired = cc.provisioning.create_provision_code("s", expires_at=1.0)
    assert "Provision code expired" in str(await _refused(image, provision_code=expired))


async def test_claim_v2_refused_falls_back_to_the_enabled_code(image: Image, cc: CentralCommand) -> None:
    cc.provisioning.revoke_iso_ca(image.release)
    code = cc.provisioning.create_provision_code("fallback-site")
    done = await _provision(image, provision_code=code)
    assert done.method == "provision_code"


async def test_mac_lookup_waits_for_assignment_then_takes_the_signed_config(
        image: Image, cc: CentralCommand) -> None:
    (image.root / "claim.cert").unlink()
    prov_opts = image.options(mac_lookup=True)
    waits = 0

    async def sleep(delay: float) -> None:
        nonlocal waits
        waits += 1
        image.statuses.append(status_line(image.state) or "")
        assert delay >= 60  # the server's retry_seconds raises the floor
        if waits == 2:
            assert cc.provisioning.unclaimed_macs() == [MAC]  # registered by the lookup itself
            # an operator assigns the MAC to a site in the dashboard
            cc.provisioning.register_mac(MAC, "mac-site", ["ssh-ed25519 AAAAC3Nz operator"])

    def prepare(prov: Provisioner) -> None:
        image.prepare(prov)
        prov.sleep = sleep

    done = await provision(prov_opts, facts=FACTS, prepare=prepare)
    assert done.method == "mac_lookup" and waits == 2
    assert image.statuses[0].startswith(f"provisioning: waiting for site assignment of MAC {MAC}")
    cfg = load_config(image.config, environ={})
    assert cfg.config.site_id == "mac-site" and "ssh_authorized_keys" in cfg.unknown_keys


async def test_mac_lookup_with_a_bad_signature_is_refused(image: Image, cc: CentralCommand) -> None:
    (image.root / "claim.cert").unlink()
    (image.root / "central-command.pub").write_text(bytes(nacl.signing.SigningKey.generate()
                                                          .verify_key).hex())
    cc.provisioning.register_mac(MAC, "mac-site")
    exc = await _refused(image, mac_lookup=True)
    assert exc.code == "bad_signature" and "pinned server key" in str(exc)


async def test_mac_lookup_unsigned_answer_is_refused(image: Image, cc: CentralCommand) -> None:
    (image.root / "claim.cert").unlink()
    body = {"config": {"site_id": "evil", "appliance_id": f"evil-{MAC}", "api_key": "A" * 43,
                       "api_endpoint": "https://evil.example"}, "signature": ""}
    cc.inject_fault(f"/api/provision/{MAC}", status=200, body=json.dumps(body).encode())
    assert (await _refused(image, mac_lookup=True)).code == "unsigned"


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_no_secret_in_the_status_file(tmp_path: Path) -> None:
    from agent.provision.status import write_status

    write_status(tmp_path, "waiting", detail="x")
    assert stat.S_IMODE(os.stat(tmp_path / "provisioning.json").st_mode) == 0o600


# --- run's provisioning mode ------------------------------------------------------------------


async def test_run_provisions_first_when_no_config_and_a_claim_certificate(
        image: Image, cc: CentralCommand, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from agent.provision import flow, provision_for_run

    monkeypatch.setattr(flow, "system_facts", lambda opts: FACTS)
    other = image.tmp / "elsewhere.yaml"
    other.write_text("site_id: x\n")
    seen = cc.capture_requests()
    assert await asyncio.to_thread(provision_for_run, other, image.state,
                                   installer_dir=image.root) is None
    assert seen == []  # a config exists: run goes on as before
    assert await asyncio.to_thread(provision_for_run, image.config, image.state,
                                   installer_dir=image.tmp / "no-image") is None
    assert not image.config.exists()  # no claim certificate: run reports the missing config
    told: list[str] = []
    assert await asyncio.to_thread(provision_for_run, image.config, image.state,
                                   installer_dir=image.root, notify=told.append) is None
    assert load_config(image.config, environ={}).config.site_id == SITE
    assert told and told[-1].startswith("provisioning: done (claim_v2")
    image.config.unlink()
    image.write_cert(valid_for_s=-1)
    assert await asyncio.to_thread(provision_for_run, image.config, image.state,
                                   installer_dir=image.root) == 1


async def test_expired_certificate_falls_back_to_the_mac_lookup_the_image_enables(
        image: Image, cc: CentralCommand) -> None:
    image.write_cert(valid_for_s=-60)
    (image.root / "provision.yaml").write_text(
        f"site_id: {SITE}\napi_endpoint: {cc.url}\nmac_lookup: true\n")
    cc.provisioning.register_mac(MAC, "mac-site")
    done = await _provision(image)
    assert done.method == "mac_lookup" and cc.provisioning.claim_events() == []
    image.config.unlink()
    cc.provisioning.register_mac(MAC, None)  # unassigned again, and only one attempt allowed
    exc = await _refused(image, attempts=1)
    assert exc.code == "gave_up" and "site assignment" in str(exc)
