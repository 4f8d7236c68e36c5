"""Downloads for the update orders (real TLS on loopback, a real full disk), ``update_agent``,
``nixos_rebuild`` through the helper, and update orders that are replayed or not signed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from tests.orders import agentparts, signer
from tests.orders.test_worker import Server, make, run

from agent.orders.handlers import Hooks
from agent.update import release as staging
from agent.update.download import DownloadError, download
from agent.update.settings import UpdateSettings

from .conftest import SITE, World
from .releases import release


def settings(world: World, **kw: object) -> UpdateSettings:
    base = dict(allowed_hosts=("localhost",), release_key=world.h.cfg["helper_env"][  # type: ignore[index]
        "MSP_AGENT_RELEASE_KEY"], flake_pattern=r"^github:jbouey/msp-flake#[A-Za-z0-9_-]+$",
        max_bytes=1 << 22, download_timeout_s=60.0, health_timeout_s=60,
        cafile=os.environ["SSL_CERT_FILE"])
    base.update(kw)
    return UpdateSettings(**base)  # type: ignore[arg-type]


async def test_disk_full_during_download_is_refused_and_nothing_is_kept(
        world: World, tmpfs: Path) -> None:
    url, sha = world.publish("big.tar", release("1.1.0", world.seed) + os.urandom(2 << 20))
    with pytest.raises(staging.ReleaseError, match="disk is full"):
        await staging.stage(tmpfs, url=url, sha256=sha, version="1.1.0", running="1.0.0",
                            settings=settings(world))
    assert list((tmpfs / "update-staging").iterdir()) == []


async def test_size_cap_and_missing_artifact(world: World, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    url, _ = world.publish("big.bin", os.urandom(300_000))
    dest = tmp_path / "x.part"
    ca = os.environ["SSL_CERT_FILE"]
    with pytest.raises(DownloadError, match="larger than"):
        await download(url, dest, allowed_hosts=("localhost",), max_bytes=100_000,
                       deadline_s=30, cafile=os.environ["SSL_CERT_FILE"])
    with pytest.raises(DownloadError, match="HTTP 404"):
        await download(url + "-missing", dest, allowed_hosts=("localhost",), max_bytes=100_000,
                       deadline_s=30, cafile=os.environ["SSL_CERT_FILE"])
    monkeypatch.delenv("SSL_CERT_FILE")
    with pytest.raises(DownloadError, match="CERTIFICATE_VERIFY_FAILED"):  # not a trusted CA
        await download(url, dest, allowed_hosts=("localhost",), max_bytes=1 << 20,
                       deadline_s=30, cafile=None)
    got = await download(url, dest, allowed_hosts=("localhost",), max_bytes=1 << 20,
                         deadline_s=30, cafile=ca)
    assert got.size == 300_000 and dest.stat().st_size == 300_000
    dest.unlink()
    for bad in ("http://localhost/x", "https://user:pw@localhost/x", "https://[::1]/x",
                "https://evil.example/x"):
        with pytest.raises(DownloadError):
            await download(bad, dest, allowed_hosts=("localhost",), max_bytes=1, deadline_s=1)
    assert not dest.exists()


async def test_update_agent_stores_the_binary_and_the_manifest(world: World) -> None:
    exe = os.urandom(50_000)
    url, sha = world.publish("osiris-agent.exe", exe)
    manifest = world.h.state_dir / "bin" / "manifest.json"
    manifest.parent.mkdir(mode=0o700)
    manifest.write_text(json.dumps({"entries": [{"platform": "darwin", "arch": "arm64",
                                                 "filename": "osiris-agent-darwin"}]}))
    comp, orders = agentparts.build(world.cfg)
    try:
        assert await comp.run_once()
        world.cc.issue_order(SITE, "update_agent", {"package_url": url, "binary_sha256": sha,
                                                    "version": "0.4.2"}, fleet=True)
        world.cc.issue_order(SITE, "update_agent", {"package_url": url, "binary_sha256": "0" * 64,
                                                    "version": "0.4.3"}, fleet=True)
        assert await comp.run_once()
        await orders.run_once()
    finally:
        await orders.close()
        await comp.close()
    good, bad = [c for c in world.cc.completions(SITE) if c["order_type"] == "update_agent"]
    assert good["success"] and good["result"]["sha256"] == sha, good
    assert not bad["success"] and "SHA-256 mismatch" in bad["error_message"]
    assert (world.h.state_dir / "agent" / "osiris-agent.exe").read_bytes() == exe
    assert (world.h.state_dir / "agent" / "VERSION").read_text() == "0.4.2"
    entries = json.loads(manifest.read_text())["entries"]
    assert [(e["platform"], e.get("version")) for e in entries] == [("darwin", None),
                                                                    ("windows", "0.4.2")]
    assert sorted(p.name for p in (world.h.state_dir / "agent").iterdir()) == [
        "VERSION", "osiris-agent.exe"]  # the refused download left nothing


async def test_nixos_rebuild_test_then_checkin_then_switch(world: World) -> None:
    ref = "github:jbouey/msp-flake#osiriscare-appliance-disk"
    comp, orders = agentparts.build(world.cfg)
    try:
        assert await comp.run_once()
        world.cc.issue_order(SITE, "nixos_rebuild", {"flake_ref": ref}, fleet=True)
        world.cc.issue_order(SITE, "nixos_rebuild", {"flake_ref": "github:evil/flake#x"},
                             fleet=True)
        assert await comp.run_once()
        await orders.run_once()
        # the generation changed without restarting this agent: its next checkin verifies it
        assert await comp.run_once()
        await orders.run_once()
    finally:
        await orders.close()
        await comp.close()
    done = [c for c in world.cc.completions(SITE) if c["order_type"] == "nixos_rebuild"]
    refused = [c for c in done if not c["success"]]
    assert len(refused) == 1 and "official flake pattern" in refused[0]["error_message"]
    [ok] = [c for c in done if c["success"]]
    assert ok["result"]["status"] == "rebuild_complete"
    assert ok["result"]["system"].endswith("generations/new")
    assert f"nixos-rebuild test --flake {ref} --refresh" in world.h.calls()
    assert (world.h.state_dir / ".rebuild-verified").exists()
    assert not (world.h.state_dir / ".pending-rebuild-order").exists()
    res = await world.client.run("watchdog")
    assert res.result == {"status": "committed"}
    assert f"nixos-rebuild switch --flake {ref} --refresh" in world.h.calls()


async def test_a_failed_rebuild_fails_the_order_at_once(world: World) -> None:
    world.h.cfg["rebuild_fails"] = True
    world.h.save()
    comp, orders = agentparts.build(world.cfg)
    try:
        assert await comp.run_once()
        world.cc.issue_order(SITE, "nixos_rebuild",
                             {"flake_ref": "github:jbouey/msp-flake#appliance"}, fleet=True)
        assert await comp.run_once()
        await orders.run_once()
    finally:
        await orders.close()
        await comp.close()
    [c] = [c for c in world.cc.completions(SITE) if c["order_type"] == "nixos_rebuild"]
    assert not c["success"] and "flake evaluation failed" in c["error_message"]
    assert not (world.h.state_dir / ".pending-rebuild-order").exists()
    assert world.h.trial()["status"] == "failed"


async def test_replayed_and_unsigned_update_orders_are_refused(tmp_path: Path) -> None:
    server = Server()
    calls: list[str] = []

    class NoHelper:
        async def run(self, action: str, params: object = None) -> None:
            calls.append(action)

    w = make(tmp_path, server, hooks=Hooks(priv=NoHelper()))
    params = {"binary_url": "https://release.osiriscare.net/a.tar", "binary_sha256": "a" * 64,
              "version": "2.0.0"}
    forged = signer.fleet("update_daemon", params, key=signer.OTHER_KEY)
    unsigned = {**signer.fleet("update_daemon", params), "signature": ""}
    first = signer.admin("update_agent", {"package_url": "https://release.osiriscare.net/x",
                                          "binary_sha256": "a" * 64, "version": "1"})
    # the same signed nonce in another signed order: a replay
    replay = signer.admin("update_agent", first["parameters"], nonce=first["nonce"])
    await run(w, forged, unsigned)
    assert w.stats.executed == 0
    assert w.stats.rejected == {"bad_signature": 1, "bad_signature_encoding": 1}
    await run(w, first)  # runs (and fails: no update settings in this worker)
    await run(w, replay)
    assert w.stats.executed == 1 and w.stats.rejected.get("replay") == 1, w.stats.rejected
    assert calls == []
    w.close()
