"""The Nix files parse, the NixOS module's options do what they say, and the module renders the
plain unit (nix/msp-agent.service) key for key; that unit's systemd exposure stays at most 1.5.

No nixpkgs here: Debian's ``nix-bin`` evaluates the module against a stub of the ``lib``
functions it uses (tests/nix/stub-lib.nix, harness tests/nix/eval.nix), on a ``dummy://`` store
(no daemon, no /nix writes: works as root and unprivileged). Without nix-instantiate or
systemd-analyze these tests skip, unless ``MSP_AGENT_REQUIRE_NIX=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NIX = ROOT / "nix"
HARNESS = Path(__file__).parent / "eval.nix"
UNIT = NIX / "msp-agent.service"
MAX_EXPOSURE = 1.5


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} not installed (Debian: {package})"
        if os.environ.get("MSP_AGENT_REQUIRE_NIX") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


def _nix(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path),
           "NIX_CONFIG": "build-users-group =\nexperimental-features =",
           "XDG_CACHE_HOME": str(tmp_path / "cache")}
    return subprocess.run([_tool("nix-instantiate", "nix-bin"), "--store", "dummy://", *args],
                          capture_output=True, text=True, timeout=120, env=env)


def evaluate(tmp_path: Path, settings: str = "{ }") -> dict[str, Any]:
    """The harness's view of the module with ``settings`` (a Nix attribute set) over the
    defaults and ``enable = true``."""
    r = _nix(tmp_path, "--eval", "--strict", "--json", str(HARNESS), "--arg", "settings", settings)
    assert r.returncode == 0, r.stderr
    result: dict[str, Any] = json.loads(r.stdout)
    return result


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """section -> key -> the values of its lines, in order."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        assert current is not None, f"{path}: a key outside any section: {line}"
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections


_BOOLS = {"true": "yes", "false": "no"}


def as_lines(value: object) -> list[str]:
    """A serviceConfig value as the unit lines NixOS renders (a list is one line per item)."""
    if isinstance(value, list):
        return [line for item in value for line in as_lines(item)]
    if isinstance(value, bool):
        return ["yes" if value else "no"]
    return [str(value)]


def normal(values: list[str]) -> list[str]:
    return [_BOOLS.get(v, v) for v in values]


def test_both_nix_files_parse(tmp_path: Path) -> None:
    for name in ("module.nix", "package.nix"):
        r = _nix(tmp_path, "--parse", str(NIX / name))
        assert r.returncode == 0, f"{name}: {r.stderr}"
    broken = tmp_path / "broken.nix"
    broken.write_text((NIX / "module.nix").read_text().replace("};", "}", 1))
    assert _nix(tmp_path, "--parse", str(broken)).returncode != 0


def test_module_renders_the_plain_unit_key_for_key(tmp_path: Path) -> None:
    out = evaluate(tmp_path)
    assert out["failedAssertions"] == []
    unit = parse_unit(UNIT)
    service = dict(unit["Service"])
    environment = service.pop("Environment")
    rendered = {k: as_lines(v) for k, v in out["serviceConfig"].items()}
    assert sorted(rendered) == sorted(service), "the module and the unit set different keys"
    for key, lines in service.items():
        assert normal(rendered[key]) == normal(lines), key
    assert [f"{k}={v}" for k, v in out["unit"]["environment"].items()] == environment
    nix_unit = out["unit"]
    assert [nix_unit["description"]] == unit["Unit"]["Description"]
    for nix_key, key in (("after", "After"), ("wants", "Wants"), ("conflicts", "Conflicts")):
        assert " ".join(nix_unit[nix_key]).split() == " ".join(unit["Unit"][key]).split(), key
    assert [str(nix_unit["startLimitIntervalSec"])] == unit["Unit"]["StartLimitIntervalSec"]
    assert [str(nix_unit["startLimitBurst"])] == unit["Unit"]["StartLimitBurst"]
    assert nix_unit["wantedBy"] == unit["Install"]["WantedBy"]


def test_state_dir_below_var_lib_is_the_state_directory(tmp_path: Path) -> None:
    out = evaluate(tmp_path, '{ stateDir = "/var/lib/msp-test"; }')
    sc = out["serviceConfig"]
    assert sc["StateDirectory"] == "msp-test" and sc["StateDirectoryMode"] == "0700"
    assert "ReadWritePaths" not in sc and out["tmpfiles"] == []
    assert sc["WorkingDirectory"] == "/var/lib/msp-test"
    assert sc["ExecStart"].endswith(" --state-dir /var/lib/msp-test")
    assert out["failedAssertions"] == []


def test_state_dir_elsewhere_is_created_and_writable(tmp_path: Path) -> None:
    out = evaluate(tmp_path, '{ stateDir = "/srv/msp"; user = "agent"; group = "agents"; }')
    sc = out["serviceConfig"]
    assert "StateDirectory" not in sc and "StateDirectoryMode" not in sc
    assert sc["ReadWritePaths"] == ["/srv/msp"]  # ProtectSystem=strict would leave it read-only
    assert sc["ProtectSystem"] == "strict"
    assert out["tmpfiles"] == ["d /srv/msp 0700 agent agents -"]
    assert sc["WorkingDirectory"] == "/srv/msp"
    assert sc["ExecStart"].endswith(" --state-dir /srv/msp")
    assert out["failedAssertions"] == []


@pytest.mark.parametrize("bad", ["msp", "/var/lib", "/var/lib/"])
def test_a_state_dir_that_cannot_work_fails_the_evaluation(tmp_path: Path, bad: str) -> None:
    out = evaluate(tmp_path, f'{{ stateDir = "{bad}"; }}')
    assert len(out["failedAssertions"]) == 1
    assert "services.msp-agent.stateDir" in out["failedAssertions"][0]


def test_privileged_actions_reach_the_helper_and_the_watchdog_timer(tmp_path: Path) -> None:
    out = evaluate(tmp_path, '{ privilegedActions = [ "nix-gc" "watchdog" ]; }')
    assert out["failedAssertions"] == []
    assert out["privEnvironment"]["MSP_AGENT_PRIV_ACTIONS"] == "nix-gc watchdog"
    assert out["privServiceConfig"]["User"] == "root"
    assert out["privServiceConfig"]["RuntimeMaxSec"] == "1800"
    assert out["watchdogTimer"] is True
    none = evaluate(tmp_path, "{ privilegedActions = [ ]; }")
    assert none["privEnvironment"]["MSP_AGENT_PRIV_ACTIONS"] == "" and none["watchdogTimer"] is False


def test_update_daemon_runs_a_release_as_a_runtime_override(tmp_path: Path) -> None:
    out = evaluate(tmp_path, '{ stateDir = "/srv/msp"; configFile = "/etc/msp/c.yaml"; '
                             'releaseKey = "' + "ab" * 32 + '"; }')
    env = out["privEnvironment"]
    exec_start = out["serviceConfig"]["ExecStart"]
    # the drop-in repeats the unit's own arguments after the release's program
    assert exec_start == "/usr/bin/msp-agent " + env["MSP_AGENT_EXEC_ARGS"]
    assert env["MSP_AGENT_EXEC_ARGS"] == "run --config /etc/msp/c.yaml --state-dir /srv/msp"
    assert env["MSP_AGENT_NIXOS"] == "1" and env["MSP_AGENT_RELEASE_KEY"] == "ab" * 32
    assert env["MSP_AGENT_RELEASES"] == "/var/lib/msp-agent-releases"
    assert env["MSP_AGENT_DROPIN"] == \
        "/run/systemd/system/msp-agent.service.d/50-msp-release.conf"
    actions = env["MSP_AGENT_PRIV_ACTIONS"].split()
    assert {"agent-install", "agent-switch", "agent-rollback", "watchdog"} <= set(actions)
    inst = out["privInstances"]
    # only the actions that need them may write the releases and the runtime drop-in
    assert inst["msp-agent-priv@agent-install"] == {"StateDirectory": "msp-agent-releases"}
    for action in ("agent-switch", "agent-rollback"):
        assert inst[f"msp-agent-priv@{action}"] == {"ReadWritePaths": ["/run/systemd/system"]}
    assert "/run/systemd/system" not in out["privServiceConfig"]["ReadWritePaths"]
    assert evaluate(tmp_path)["privEnvironment"]["MSP_AGENT_RELEASE_KEY"] == ""


def test_grpc_hub_switches_the_hub_on_and_allows_only_its_port(tmp_path: Path) -> None:
    out = evaluate(tmp_path, "{ grpcHub.enable = true; grpcHub.port = 50052; }")
    assert out["failedAssertions"] == []
    assert out["unit"]["environment"]["MSP_AGENT_GRPC_HUB"] == "1"
    sc = out["serviceConfig"]
    assert sc["SocketBindAllow"] == "tcp:50052" and sc["SocketBindDeny"] == "any"
    assert out["firewall"] == []
    opened = evaluate(tmp_path, "{ grpcHub.enable = true; grpcHub.openFirewall = true; }")
    assert opened["firewall"] == [50051]
    off = evaluate(tmp_path)
    assert "SocketBindAllow" not in off["serviceConfig"]
    assert "MSP_AGENT_GRPC_HUB" not in off["unit"]["environment"] and off["firewall"] == []


def test_go_daemon_units_disabled_unless_told_not_to(tmp_path: Path) -> None:
    go = ["appliance-daemon", "appliance-daemon-watchdog", "msp-daemon-zombie-watch",
          "msp-rebuild-watchdog"]  # the image's rebuild watchdog: the helper's replaces it
    out = evaluate(tmp_path)
    assert out["goDaemonDisabled"] == {"services": go,
                                       "timers": ["msp-daemon-zombie-watch", "msp-rebuild-watchdog"]}
    kept = evaluate(tmp_path, "{ replaceGoDaemon = false; }")
    assert kept["goDaemonDisabled"] == {"services": [], "timers": []}


def test_disabled_module_configures_nothing(tmp_path: Path) -> None:
    out = evaluate(tmp_path, "{ enable = false; }")
    assert out["serviceConfig"] is None and out["users"] == {} and out["tmpfiles"] == []


def exposure(unit: Path) -> float:
    """The overall exposure ``systemd-analyze security --offline=yes`` gives ``unit``."""
    r = subprocess.run([_tool("systemd-analyze", "systemd"), "security", "--offline=yes", str(unit)],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout)
    assert m is not None, r.stdout + r.stderr
    return float(m.group(1))


def test_unit_exposure_is_at_most_1_5(tmp_path: Path) -> None:
    assert exposure(UNIT) <= MAX_EXPOSURE
    # the score reacts to the hardening: without it the same unit scores far worse
    loose = tmp_path / "msp-agent.service"
    text = UNIT.read_text()
    for key in ("ProtectSystem", "PrivateDevices", "CapabilityBoundingSet", "SystemCallFilter",
                "RestrictAddressFamilies", "NoNewPrivileges"):
        text = re.sub(rf"^{key}=.*\n", "", text, flags=re.MULTILINE)
    loose.write_text(text)
    assert exposure(loose) > MAX_EXPOSURE + 1
