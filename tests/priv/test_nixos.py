"""``update_daemon`` on NixOS: the release installed side by side, run through the runtime drop-in
``msp-agent.service.d/50-msp-release.conf`` (its ``ExecStart=`` reset and set to the release's
entry point), rolled back by removing it, back on the store program. The played service manager
reads the drop-in at ``daemon-reload`` and starts the program it names (a real process); the
helper is killed by SIGKILL at each named step of the switch and of the rollback."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from agent.priv.client import PrivError, PrivResult
from agent.priv.releases import is_complete

from .conftest import SITE, Base, World
from .releases import release
from .test_update import completion, deliver, run_order


def exec_start(h_dropin: Path) -> list[str]:
    """The drop-in's ExecStart= lines, in order."""
    return [line.partition("=")[2] for line in h_dropin.read_text().splitlines()
            if line.startswith("ExecStart=")]


def store(base: Base | World) -> str:
    return str(base.h.root / "store" / "releases" / "1.0.0" / "bin" / "msp-agent")


def program(base: Base | World, version: str) -> str:
    return str(base.h.releases / "releases" / version / "bin" / "msp-agent")


def effective(base: Base) -> str:
    """What the agent unit runs after a daemon-reload: the drop-in absent (the store program) or
    naming a complete release; that program runs (``version``, exit 0). Its path."""
    h = base.h
    if h.dropin.exists():
        prog = exec_start(h.dropin)[-1].split()[0]
        assert Path(prog).parent.parent.parent == h.releases / "releases", prog
        assert is_complete(Path(prog).parent.parent), prog
    else:
        prog = store(base)
    proc = subprocess.run([prog, "version"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return prog


def restart(base: Base) -> str | None:
    """systemd after a reboot of the helper's work: reload, restart; the program it started."""
    subprocess.run([base.h.systemctl, "daemon-reload"], check=True)
    subprocess.run([base.h.systemctl, "restart", "msp-agent.service"], check=True)
    return base.h.running()


async def test_a_good_release_runs_through_the_drop_in_and_the_order_completes(
        nixos_world: World) -> None:
    w = nixos_world
    url, sha = w.publish("msp-agent-1.1.0.tar", release("1.1.0", w.seed))
    c = await deliver(w, {"binary_url": url, "binary_sha256": sha, "version": "1.1.0"})
    assert c["success"], c
    assert c["result"]["status"] == "update_confirmed" and c["result"]["version"] == "1.1.0"
    # the drop-in: ExecStart reset, then the release's entry point with the unit's arguments
    st = os.stat(w.h.dropin)
    assert stat.S_IMODE(st.st_mode) == 0o644 and st.st_uid == os.geteuid()
    assert exec_start(w.h.dropin) == ["", f"{program(w, '1.1.0')} --config {w.cfg} run --once"]
    calls = w.h.calls()
    assert calls.index("systemctl daemon-reload") < calls.index(f"agent exec {program(w, '1.1.0')}")
    assert "agent exited 0" in calls and w.h.running() == program(w, "1.1.0")
    assert not (w.h.releases / "current").exists()  # no link on NixOS
    res = await w.client.run("watchdog")
    assert res.ok and res.result == {"status": "committed", "version": "1.1.0", "pruned": []}
    assert w.h.trial()["status"] == "committed" and w.h.dropin.exists()
    assert (await w.client.run("watchdog")).result == {"status": "idle"}


async def switched_to(w: World, version: str, **kw: bool) -> None:
    """The order for ``version`` ran; the unit runs it through the drop-in."""
    url, sha = w.publish(f"msp-agent-{version}.tar", release(version, w.seed, **kw))
    await run_order(w, {"binary_url": url, "binary_sha256": sha, "version": version})
    assert w.h.running() == program(w, version)


def back_on_the_store(w: World, res: PrivResult, error: str) -> None:
    """The watchdog rolled back: no drop-in, the store program restarted, the order failed."""
    assert res.result is not None and res.result["status"] == "rolled_back"
    assert res.result["version"] is None
    assert not w.h.dropin.exists() and w.h.running() == store(w)
    c = completion(w)  # posted by the store program after its checkin
    assert not c["success"] and c["error_message"] == error
    assert not (w.h.state_dir / "pending-update.json").exists()


async def test_a_release_that_crashes_is_rolled_back_to_the_store_program(
        nixos_world: World) -> None:
    w = nixos_world
    await switched_to(w, "1.2.0", crashes=True)
    assert "agent exited 1" in w.h.calls()
    res = await w.client.run("watchdog")  # the unit failed: drop-in removed, reloaded, restarted
    back_on_the_store(w, res, "update to 1.2.0 failed: running 1.0.0: the agent unit failed on "
                              "release 1.2.0")
    after = w.h.calls()[w.h.calls().index("agent exited 1"):]
    back = after.index(f"agent exec {store(w)}")
    assert after.index("systemctl daemon-reload") < back and "agent exited 0" in after[back:]


async def test_a_release_that_never_checks_in_is_rolled_back_at_its_deadline(
        nixos_world: World) -> None:
    w = nixos_world
    await switched_to(w, "1.3.0", silent=True)
    assert "agent exited 0" in w.h.calls()
    assert not (w.h.state_dir / ".update-verified").exists()
    assert (await w.client.run("watchdog")).result == {"status": "waiting", "version": "1.3.0"}
    # the watchdog's clock past update_health_timeout_s (60 s in this world)
    w.h.set_helper_env(MSP_AGENT_PRIV_CLOCK_OFFSET_S="61")
    res = await w.client.run("watchdog")
    back_on_the_store(w, res, "update to 1.3.0 failed: running 1.0.0: release 1.3.0 did not "
                              "check in before its health deadline")


async def test_refusals_stay_on_nixos(nixos_world: World) -> None:
    w = nixos_world
    good, sha = w.publish("msp-agent-1.1.0.tar", release("1.1.0", w.seed))
    bad, bad_sha = w.publish("msp-agent-1.1.0-t.tar", release("1.1.0", w.seed, tamper=True))
    elf, elf_sha = w.publish("appliance-daemon", b"\x7fELF\x02\x01\x01" + b"\0" * 4096)
    old, old_sha = w.publish("msp-agent-0.9.0.tar", release("0.9.0", w.seed))
    cases = [({"binary_url": good, "binary_sha256": "ab" * 32, "version": "1.1.0"},
              "SHA-256 mismatch"),
             ({"binary_url": bad, "binary_sha256": bad_sha, "version": "1.1.0"},
              "signature does not verify"),
             ({"binary_url": elf, "binary_sha256": elf_sha, "version": "1.1.0"}, "ELF"),
             ({"binary_url": old, "binary_sha256": old_sha, "version": "0.9.0"}, "not newer")]
    for params, why in cases:
        c = await deliver(w, params)
        assert not c["success"] and why in c["error_message"], (why, c)
        assert not w.h.dropin.exists() and w.h.running() is None
        assert not (w.h.releases / "releases").exists() or \
            not any((w.h.releases / "releases").iterdir())
        assert not (w.h.priv_state / "trial.json").exists()
    # one update in flight: a second switch while the first is on trial is refused
    assert (await deliver(w, {"binary_url": good, "binary_sha256": sha, "version": "1.1.0"}))[
        "success"]
    c = await deliver(w, {"binary_url": good, "binary_sha256": sha, "version": "1.1.0"})
    assert w.h.trial()["status"] == "trial"
    last = [x for x in w.cc.completions(SITE) if x["order_type"] == "update_daemon"][-1]
    assert not last["success"] and "in flight" in last["error_message"], c


SWITCH_STEPS = ["switch.recorded", "switch.linked", "switch.written", "switch.swapped",
                "switch.restarted"]


async def installed(base: Base, version: str = "1.1.0", **kw: bool) -> None:
    base.stage(f"b{version}", release(version, base.seed, **kw))
    res = await base.client.run("agent-install", {"bundle": f"b{version}", "version": version})
    assert res.ok, res


@pytest.mark.parametrize("point", SWITCH_STEPS)
async def test_kill_during_the_switch_leaves_a_working_exec_start(nixos_base: Base,
                                                                  point: str) -> None:
    base = nixos_base
    await installed(base)
    base.h.set_helper_env(MSP_AGENT_PRIV_CRASH_AT=point)
    with pytest.raises(PrivError, match="left no result"):
        await base.client.run("agent-switch", {"version": "1.1.0", "health_deadline_s": 600})
    new = point not in ("switch.recorded", "switch.linked")
    assert effective(base) == (program(base, "1.1.0") if new else store(base))
    leftovers = list(base.h.dropin.parent.glob(".*")) if base.h.dropin.parent.exists() else []
    assert len(leftovers) == (point == "switch.linked")  # a temporary file, never read
    base.h.set_helper_env(MSP_AGENT_PRIV_CRASH_AT="")
    assert (await base.client.run("watchdog")).result == {"status": "waiting",
                                                          "version": "1.1.0"}
    (base.h.root / "units" / "msp-agent.service").write_text("failed")  # never healthy
    res = await base.client.run("watchdog")
    assert res.ok and res.result is not None and res.result["status"] == "rolled_back"
    assert not base.h.dropin.exists() and not list(base.h.dropin.parent.glob(".*"))
    assert effective(base) == store(base) and base.h.running() == store(base)
    assert (await base.client.run("watchdog")).result == {"status": "idle"}


@pytest.mark.parametrize("point", ["rollback.written", "rollback.swapped"])
async def test_kill_during_the_rollback_then_the_watchdog_finishes_it(nixos_base: Base,
                                                                      point: str) -> None:
    base = nixos_base
    await installed(base, crashes=True)
    assert (await base.client.run("agent-switch",
                                  {"version": "1.1.0", "health_deadline_s": 600})).ok
    assert base.h.running() == program(base, "1.1.0")
    base.h.set_helper_env(MSP_AGENT_PRIV_CRASH_AT=point)
    with pytest.raises(PrivError, match="left no result"):
        await base.client.run("watchdog")
    assert effective(base) == store(base) and base.h.trial()["status"] == "trial"
    base.h.set_helper_env(MSP_AGENT_PRIV_CRASH_AT="")
    res = await base.client.run("watchdog")
    assert res.result is not None and res.result["status"] == "rolled_back"
    assert base.h.trial()["status"] == "rolled_back" and base.h.running() == store(base)
    assert restart(base) == store(base)


async def committed(base: Base) -> None:
    """1.1.0 installed, switched to, checked in and kept by the watchdog."""
    await installed(base)
    assert (await base.client.run("agent-switch",
                                  {"version": "1.1.0", "health_deadline_s": 600})).ok
    (base.h.state_dir / ".update-verified").write_text("1.1.0")
    res = await base.client.run("watchdog")
    assert res.result is not None and res.result["status"] == "committed"


@pytest.mark.parametrize("damage", ["missing", "incomplete", "outside"])
async def test_a_stale_drop_in_is_removed_by_the_watchdog(nixos_base: Base, tmp_path: Path,
                                                          damage: str) -> None:
    base = nixos_base
    await committed(base)
    assert (await base.client.run("watchdog")).result == {"status": "idle"}  # a good one stays
    rel = base.h.releases / "releases" / "1.1.0"
    if damage == "missing":  # e.g. removed by hand: systemd cannot start the agent any more
        shutil.rmtree(rel)
        assert restart(base) == program(base, "1.1.0")
        assert base.h.calls()[-1] == "agent exited 1"
    elif damage == "incomplete":
        (rel / ".msp-release.json").unlink()
    else:
        base.h.dropin.write_text(f"[Service]\nExecStart=\nExecStart={tmp_path}/msp-agent run\n")
    res = await base.client.run("watchdog")
    assert res.ok and res.result is not None and res.result["status"] == "healed"
    assert res.result["reason"].startswith(f"the runtime drop-in {base.h.dropin} is stale: ")
    assert "removed, back on the store version" in res.stderr
    assert not base.h.dropin.exists() and base.h.running() == store(base)
    assert base.h.calls()[-1] == "agent exited 0"
    assert (await base.client.run("watchdog")).result == {"status": "idle"}


async def test_a_drop_in_never_names_anything_outside_the_releases_root(nixos_base: Base,
                                                                        tmp_path: Path) -> None:
    base = nixos_base
    await installed(base)
    outside = tmp_path / "elsewhere"
    (base.h.releases / "releases" / "1.1.0").rename(outside)  # a complete release, moved out
    (base.h.releases / "releases" / "1.1.0").symlink_to(outside)  # and linked back in
    assert is_complete(base.h.releases / "releases" / "1.1.0")
    res = await base.client.run("agent-switch", {"version": "1.1.0", "health_deadline_s": 600})
    assert not res.ok and res.error is not None and "not inside the releases root" in res.error
    assert not base.h.dropin.exists() and not (base.h.priv_state / "trial.json").exists()
    with pytest.raises(PrivError, match="not sent"):  # the schema: no path in a version
        await base.client.run("agent-switch", {"version": "../../x", "health_deadline_s": 600})
    res = await base.client.run("agent-switch", {"version": "9.9.9", "health_deadline_s": 600})
    assert not res.ok and res.error is not None and "not installed" in res.error
    assert not base.h.dropin.exists()


async def test_a_rollback_returns_to_the_previous_override(nixos_base: Base) -> None:
    base = nixos_base
    await committed(base)
    await installed(base, "1.2.0", crashes=True)
    res = await base.client.run("agent-switch", {"version": "1.2.0", "health_deadline_s": 600})
    assert res.ok and res.result is not None and res.result["previous"] == "1.1.0"
    assert base.h.running() == program(base, "1.2.0") and base.h.calls()[-1] == "agent exited 1"
    res = await base.client.run("watchdog")
    assert res.result is not None and res.result["status"] == "rolled_back"
    assert res.result["version"] == "1.1.0" and base.h.running() == program(base, "1.1.0")
    assert effective(base) == program(base, "1.1.0")


async def test_a_failed_daemon_reload_keeps_the_store_version(nixos_base: Base) -> None:
    base = nixos_base
    await installed(base)
    (base.h.root / "units" / "msp-agent.service.exec.fails").touch()
    res = await base.client.run("agent-switch", {"version": "1.1.0", "health_deadline_s": 600})
    assert not res.ok and res.result is not None and res.result["status"] == "switch_failed"
    assert not base.h.dropin.exists() and base.h.trial()["status"] == "failed"
    assert base.h.running() is None  # never restarted
    assert (await base.client.run("watchdog")).result == {"status": "idle"}


async def test_a_rebuild_removes_the_override_first(nixos_base: Base) -> None:
    base = nixos_base
    await committed(base)
    assert base.h.dropin.exists()
    res = await base.client.run("nixos-rebuild-test", {
        "flake_ref": "github:jbouey/msp-flake#appliance", "health_deadline_s": 600})
    assert res.ok and res.result is not None and res.result["status"] == "test_activated"
    assert not base.h.dropin.exists()
    calls = base.h.calls()
    rebuild = calls.index("nixos-rebuild test --flake github:jbouey/msp-flake#appliance --refresh")
    assert calls[rebuild - 1] == "systemctl daemon-reload"
    assert effective(base) == store(base)


async def test_kill_during_the_removal_of_a_stale_drop_in_then_it_finishes(
        nixos_base: Base) -> None:
    base = nixos_base
    await committed(base)
    shutil.rmtree(base.h.releases / "releases" / "1.1.0")
    base.h.set_helper_env(MSP_AGENT_PRIV_CRASH_AT="heal.removed")
    with pytest.raises(PrivError, match="left no result"):
        await base.client.run("watchdog")
    assert not base.h.dropin.exists() and (base.h.priv_state / "heal.json").exists()
    assert base.h.running() == program(base, "1.1.0")  # systemd not reloaded yet
    base.h.set_helper_env(MSP_AGENT_PRIV_CRASH_AT="")
    res = await base.client.run("watchdog")  # the drop-in is gone, the heal is finished
    assert res.result is not None and res.result["status"] == "healed"
    assert "1.1.0 is not installed" in res.result["reason"]
    assert base.h.running() == store(base) and base.h.calls()[-1] == "agent exited 0"
    assert not (base.h.priv_state / "heal.json").exists()
    assert (await base.client.run("watchdog")).result == {"status": "idle"}
