"""The privileged helper as a real process behind a played ``systemctl``: its allowlist, its
parameter schemas, its result files, and the agent's client."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from agent.orders.handlers import Hooks
from agent.priv.client import PrivClient, PrivError

from . import harness


def start(h: harness.Harness, action: str) -> int:
    return subprocess.run([h.systemctl, "start", f"msp-agent-priv@{action}.service"],
                          check=False).returncode


def request(h: harness.Harness, action: str, params: Any) -> None:
    (h.priv_root / f"{action}.json").write_text(
        json.dumps({"invocation": "ab" * 16, "params": params}))


def result(h: harness.Harness, action: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((h.priv_root / f"{action}.result.json").read_text())
    return doc


def test_an_action_outside_the_compiled_allowlist_is_refused(tmp_path: Path) -> None:
    h = harness.install(tmp_path)
    request(h, "reboot", {})
    assert start(h, "reboot") != 0
    doc = result(h, "refused")
    assert doc["ok"] is False and "not in the helper's allowlist" in doc["error"]
    assert (h.priv_root / "reboot.json").exists()  # never even read


def test_an_action_not_in_privileged_actions_is_refused(tmp_path: Path) -> None:
    h = harness.install(tmp_path, actions=("wg-show",))
    request(h, "journal-vacuum", {"max_size_mb": 100})
    assert start(h, "journal-vacuum") != 0
    assert "not in privilegedActions" in result(h, "journal-vacuum")["error"]
    assert not any(c.startswith("journalctl") for c in h.calls())


@pytest.mark.parametrize(("params", "why"), [
    ({"max_size_mb": 100, "path": "/etc"}, "unknown parameter"),
    ({"max_size_mb": "100"}, "must be of type int"),
    ({"max_size_mb": True}, "must be of type int"),
    ({"max_size_mb": 4}, "between 16 and 8192"),
    ([1, 2], "must be a JSON object"),
])
def test_parameters_failing_the_schema_are_refused_by_the_helper(
        tmp_path: Path, params: Any, why: str) -> None:
    h = harness.install(tmp_path)
    request(h, "journal-vacuum", params)
    assert start(h, "journal-vacuum") != 0
    doc = result(h, "journal-vacuum")
    assert doc["ok"] is False and why in doc["error"] and doc["invocation"] == "ab" * 16
    assert not any(c.startswith("journalctl") for c in h.calls())
    assert not (h.priv_root / "journal-vacuum.json").exists()  # consumed


def test_a_symlinked_parameter_file_is_refused(tmp_path: Path) -> None:
    h = harness.install(tmp_path)
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps({"invocation": "ab" * 16, "params": {}}))
    (h.priv_root / "wg-show.json").symlink_to(target)
    assert start(h, "wg-show") != 0
    assert "unusable" in result(h, "wg-show")["error"]


async def test_the_client_runs_an_action_and_reads_its_result(tmp_path: Path) -> None:
    h = harness.install(tmp_path)
    client = PrivClient(h.priv_root, systemctl=h.systemctl)
    res = await client.run("journal-vacuum", {"max_size_mb": 200})
    assert res.ok and res.exit_code == 0 and res.error is None
    assert "journalctl --vacuum-size=200M" in h.calls()
    assert "systemctl start --no-ask-password msp-agent-priv@journal-vacuum.service" in h.calls()
    assert not (h.priv_root / "journal-vacuum.json").exists()


async def test_the_client_checks_parameters_before_asking(tmp_path: Path) -> None:
    h = harness.install(tmp_path)
    client = PrivClient(h.priv_root, systemctl=h.systemctl)
    with pytest.raises(PrivError, match="unknown parameter"):
        await client.run("journal-vacuum", {"max_size_mb": 100, "extra": 1})
    with pytest.raises(PrivError, match="not in the helper's allowlist"):
        await client.run("reboot")
    assert h.calls() == []


async def test_a_refusal_comes_back_as_a_failed_result(tmp_path: Path) -> None:
    h = harness.install(tmp_path, actions=("wg-show",))
    res = await PrivClient(h.priv_root, systemctl=h.systemctl).run("nft-list-ruleset")
    assert not res.ok and res.error is not None and "privilegedActions" in res.error


async def test_nix_gc_order_goes_through_the_helper(tmp_path: Path) -> None:
    from tests.orders import signer
    from tests.orders.test_worker import Server, make, run

    h = harness.install(tmp_path)
    server = Server()
    w = make(h.state_dir, server, hooks=Hooks(priv=PrivClient(h.priv_root,
                                                              systemctl=h.systemctl)))
    order = signer.fleet("nix_gc", {"older_than_days": "30", "optimise": True})
    await run(w, order)
    [body] = server.bodies(order["order_id"])
    assert body["success"], body
    assert body["result"]["older_than_days"] == 30 and body["result"]["optimise"] is True
    assert "nix-collect-garbage --delete-older-than 30d" in h.calls()
    assert "nix-store --optimise" in h.calls()
    w.close()


def test_an_exchange_folder_swapped_for_a_link_is_never_written_through(tmp_path: Path) -> None:
    h = harness.install(tmp_path)
    elsewhere = tmp_path / "etc"
    elsewhere.mkdir()
    h.priv_root.rmdir()
    h.priv_root.symlink_to(elsewhere)
    request(h, "wg-show", {})  # lands in the link's target
    assert start(h, "wg-show") != 0
    assert sorted(p.name for p in elsewhere.iterdir()) == ["wg-show.json"]
    assert not any(c.startswith("wg ") for c in h.calls())


async def test_privileged_diagnostics_go_through_the_helper(tmp_path: Path) -> None:
    from tests.orders import signer
    from tests.orders.test_worker import Server, make, run

    h = harness.install(tmp_path, actions=("nft-list-ruleset",))
    server = Server()
    w = make(h.state_dir, server, hooks=Hooks(priv=PrivClient(h.priv_root,
                                                              systemctl=h.systemctl)))
    fw, wg = signer.admin("diagnostic", {"command": "firewall"}), \
        signer.admin("diagnostic", {"command": "wireguard"})
    await run(w, fw, wg)
    [fw_body], [wg_body] = server.bodies(fw["order_id"]), server.bodies(wg["order_id"])
    assert fw_body["result"]["exit_code"] == 0 and "nft list ruleset" in h.calls()
    # wg-show is not in this appliance's privilegedActions: the helper refuses, the order says so
    assert wg_body["result"]["exit_code"] == 1
    assert "privilegedActions" in wg_body["result"]["output"]
    assert not any(c.startswith("wg ") for c in h.calls())
    w.close()
