"""``update_daemon`` carrying an msp-agent release, end to end: the order from the local Central
Command, the download over TLS, the hash and the signed manifest, the install side by side, the
switch, the new release's own checkin (a real process started by the played service manager),
the watchdog's verdict, and the completion."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.orders import agentparts

from agent.update import pending

from .conftest import SITE, World
from .releases import release


async def deliver(world: World, params: dict[str, Any]) -> dict[str, Any]:
    """Issue one update_daemon order, let the (in-process, 1.0.0) agent run it; its completion."""
    await run_order(world, params)
    return completion(world)


async def run_order(world: World, params: dict[str, Any]) -> None:
    comp, orders = agentparts.build(world.cfg)
    try:
        assert await comp.run_once()
        world.cc.issue_order(SITE, "update_daemon", params, fleet=True)
        assert await comp.run_once()
        await orders.run_once()
    finally:
        await orders.close()
        await comp.close()


def completion(world: World) -> dict[str, Any]:
    done = [c for c in world.cc.completions(SITE) if c["order_type"] == "update_daemon"]
    assert done, world.h.calls()
    return done[-1]


def unchanged(world: World) -> None:
    """Nothing of a refused update is left: same release, no staging, no marker, no trial."""
    state = world.h.state_dir
    assert world.h.current() == "1.0.0"
    assert sorted(p.name for p in (world.h.releases / "releases").iterdir()) == ["1.0.0"]
    assert not any((state / "update-staging").glob("*")) if (state / "update-staging").exists() \
        else True
    assert not (state / "pending-update.json").exists()
    assert not (world.h.priv_state / "trial.json").exists()
    assert not any(c.startswith("systemctl restart") for c in world.h.calls())


async def test_a_good_release_checks_in_and_the_order_completes(world: World) -> None:
    url, sha = world.publish("msp-agent-1.1.0.tar", release("1.1.0", world.seed))
    c = await deliver(world, {"binary_url": url, "binary_sha256": sha, "version": "1.1.0"})
    assert c["success"], c
    assert c["result"]["status"] == "update_confirmed" and c["result"]["version"] == "1.1.0"
    # posted by the new release's own process, after its checkin
    assert "agent exited 0" in world.h.calls()
    assert (world.h.state_dir / ".update-verified").read_text() == "1.1.0"
    assert not (world.h.state_dir / "pending-update.json").exists()
    assert world.h.current() == "1.1.0" and world.h.trial()["status"] == "trial"
    res = await world.client.run("watchdog")  # its timer
    assert res.ok and res.result == {"status": "committed", "version": "1.1.0", "pruned": []}
    assert world.h.trial()["status"] == "committed" and world.h.current() == "1.1.0"


async def test_a_release_that_crashes_on_start_is_rolled_back_and_the_order_fails(
        world: World) -> None:
    url, sha = world.publish("msp-agent-1.2.0.tar", release("1.2.0", world.seed, crashes=True))
    await run_order(world, {"binary_url": url, "binary_sha256": sha, "version": "1.2.0"})
    assert "agent exited 1" in world.h.calls() and world.h.current() == "1.2.0"
    assert not [c for c in world.cc.completions(SITE) if c["order_type"] == "update_daemon"]
    res = await world.client.run("watchdog")  # the unit failed: back to 1.0.0, restarted
    assert res.result is not None and res.result["status"] == "rolled_back"
    assert world.h.current() == "1.0.0" and world.h.trial()["status"] == "rolled_back"
    c = completion(world)  # posted by 1.0.0 after its checkin
    assert not c["success"]
    assert c["error_message"] == ("update to 1.2.0 failed: running 1.0.0: the agent unit failed "
                                  "on release 1.2.0")
    assert not (world.h.state_dir / "pending-update.json").exists()


async def test_a_release_that_never_checks_in_is_rolled_back_at_its_deadline(
        world: World) -> None:
    url, sha = world.publish("msp-agent-1.3.0.tar", release("1.3.0", world.seed, silent=True))
    await run_order(world, {"binary_url": url, "binary_sha256": sha, "version": "1.3.0"})
    assert world.h.current() == "1.3.0" and world.h.calls()[-1] == "agent exited 0"
    assert (await world.client.run("watchdog")).result == {"status": "waiting",
                                                           "version": "1.3.0"}
    # the watchdog's clock past update_health_timeout_s (60 s in this world)
    world.h.set_helper_env(MSP_AGENT_PRIV_CLOCK_OFFSET_S="61")
    res = await world.client.run("watchdog")
    assert res.result is not None and res.result["status"] == "rolled_back"
    assert world.h.current() == "1.0.0"
    c = completion(world)
    assert not c["success"] and c["error_message"] == (
        "update to 1.3.0 failed: running 1.0.0: release 1.3.0 did not check in before its "
        "health deadline")


async def test_a_bad_hash_is_refused_and_nothing_changes(world: World) -> None:
    url, _ = world.publish("msp-agent-1.1.0.tar", release("1.1.0", world.seed))
    c = await deliver(world, {"binary_url": url, "binary_sha256": "ab" * 32, "version": "1.1.0"})
    assert not c["success"] and "SHA-256 mismatch" in c["error_message"]
    unchanged(world)


async def test_a_bad_manifest_signature_is_refused_and_nothing_changes(world: World) -> None:
    url, sha = world.publish("msp-agent-1.1.0.tar", release("1.1.0", world.seed, tamper=True))
    c = await deliver(world, {"binary_url": url, "binary_sha256": sha, "version": "1.1.0"})
    assert not c["success"] and "signature does not verify" in c["error_message"]
    unchanged(world)


async def test_a_release_signed_by_another_key_is_refused(world: World) -> None:
    url, sha = world.publish("msp-agent-1.1.0.tar", release("1.1.0", bytes(32)))
    c = await deliver(world, {"binary_url": url, "binary_sha256": sha, "version": "1.1.0"})
    assert not c["success"] and "signature does not verify" in c["error_message"]
    unchanged(world)


async def test_a_go_daemon_binary_is_refused(world: World) -> None:
    url, sha = world.publish("appliance-daemon", b"\x7fELF\x02\x01\x01" + b"\0" * 4096)
    c = await deliver(world, {"binary_url": url, "binary_sha256": sha, "version": "1.1.0"})
    assert not c["success"] and "ELF" in c["error_message"]
    unchanged(world)


async def test_a_downgrade_is_refused_unless_its_manifest_allows_it(world: World) -> None:
    url, sha = world.publish("msp-agent-0.9.0.tar", release("0.9.0", world.seed))
    c = await deliver(world, {"binary_url": url, "binary_sha256": sha, "version": "0.9.0"})
    assert not c["success"] and "not newer" in c["error_message"]
    unchanged(world)


async def test_a_host_outside_the_allowlist_or_an_ip_literal_is_refused(world: World) -> None:
    url, sha = world.publish("msp-agent-1.1.0.tar", release("1.1.0", world.seed))
    c = await deliver(world, {"binary_url": url.replace("localhost", "127.0.0.1"),
                              "binary_sha256": sha, "version": "1.1.0"})
    assert not c["success"] and "not an IP address" in c["error_message"]
    unchanged(world)


async def test_one_update_in_flight(world: World, tmp_path: Path) -> None:
    # an update this process started and whose switch has not happened yet
    pending.write_update(world.h.state_dir, order_id="earlier", nonce="n", version="1.1.0",
                         previous="1.0.0", timeout_s=3600, now=time.time() + 600)
    url, sha = world.publish("msp-agent-1.1.0.tar", release("1.1.0", world.seed))
    c = await deliver(world, {"binary_url": url, "binary_sha256": sha, "version": "1.1.0"})
    assert not c["success"] and c["error_message"] == "an agent update is already in flight"
