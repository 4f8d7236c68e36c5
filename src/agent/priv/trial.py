"""Trials: a new msp-agent release or a new NixOS generation on probation, and the watchdog.

One trial at a time, recorded by the helper in its own root-owned ``trial.json``
(``MSP_AGENT_PRIV_STATE``; mode 0644): ``kind`` (``agent`` / ``nixos``), ``status`` (``trial``,
``committed``, ``rolled_back``, ``failed``), what to go back to, the deadline, the reason. Nothing
the helper runs as root is read from a file the agent can write: the agent's markers
(``.update-verified`` holding the version that checked in, ``.rebuild-verified``) only say "keep
it".

The ``watchdog`` action (its timer starts ``msp-agent-priv@watchdog.service`` every minute)
persists a verified trial (the agent release is kept, older ones pruned; ``nixos-rebuild
switch``) and rolls back one whose deadline passed or whose agent unit failed
(``current`` back to the previous release; the previous generation's
``switch-to-configuration test``), then restarts the agent.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from pathlib import Path
from typing import Any

from agent.priv.base import HelperEnv, Outcome, Refused, run
from agent.priv.releases import current_version, fsync_dir, is_complete, prune, release_dir

TRIAL = "trial.json"
UPDATE_VERIFIED = ".update-verified"
REBUILD_VERIFIED = ".rebuild-verified"


def load(env: HelperEnv) -> dict[str, Any] | None:
    try:
        doc = json.loads((env.state / TRIAL).read_bytes())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def save(env: HelperEnv, doc: dict[str, Any]) -> None:
    env.state.mkdir(mode=0o755, parents=True, exist_ok=True)
    tmp = env.state / f".{TRIAL}.{secrets.token_hex(6)}"
    with open(tmp, "x", encoding="utf-8") as fh:
        json.dump(doc, fh, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o644)
    os.rename(tmp, env.state / TRIAL)
    fsync_dir(env.state)


def _in_flight(env: HelperEnv) -> None:
    trial = load(env)
    if trial is not None and trial.get("status") == "trial":
        raise Refused(f"a {trial.get('kind')} trial is already in flight")


def _restart_agent(env: HelperEnv) -> Outcome:
    out = run(["systemctl", "reset-failed", env.unit], 30)
    return out.add(run(["systemctl", "restart", "--no-block", env.unit], 30))


def _link(env: HelperEnv, version: str) -> None:
    """Point ``current`` at ``releases/<version>`` with one atomic rename."""
    tmp = env.releases / f".current.{secrets.token_hex(6)}"
    os.symlink(f"releases/{version}", tmp)
    env.crash_point("switch.linked")
    os.rename(tmp, env.releases / "current")
    fsync_dir(env.releases)


# --- agent releases ----------------------------------------------------------------------------

def switch(env: HelperEnv, version: str, health_deadline_s: int) -> Outcome:
    _in_flight(env)
    if not is_complete(release_dir(env, version)):
        raise Refused(f"release {version} is not installed")
    previous = current_version(env)
    if previous == version:
        raise Refused(f"release {version} is already current")
    if previous is None or not is_complete(release_dir(env, previous)):
        raise Refused("no complete current release to come back to")
    now = time.time()
    save(env, {"kind": "agent", "status": "trial", "candidate": version, "previous": previous,
               "started": now, "deadline": now + health_deadline_s, "reason": ""})
    env.crash_point("switch.recorded")
    _link(env, version)
    env.crash_point("switch.swapped")
    out = _restart_agent(env)
    env.crash_point("switch.restarted")
    out.result = {"status": "switched", "version": version, "previous": previous}
    return out


def rollback(env: HelperEnv, reason: str) -> Outcome:
    trial = load(env)
    if trial is None or trial.get("kind") != "agent" or not trial.get("previous"):
        raise Refused("no agent release to roll back to")
    previous = str(trial["previous"])
    if not is_complete(release_dir(env, previous)):
        raise Refused(f"the previous release {previous} is no longer installed")
    if current_version(env) != previous:
        _link(env, previous)
    env.crash_point("rollback.swapped")
    save(env, {**trial, "status": "rolled_back", "reason": reason, "finished": time.time()})
    out = _restart_agent(env)
    out.result = {"status": "rolled_back", "version": previous,
                  "candidate": trial.get("candidate"), "reason": reason}
    return out


def _verified_version(env: HelperEnv) -> str | None:
    try:
        fd = os.open(env.agent_state / UPDATE_VERIFIED, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        return fh.read(128).decode("ascii", "replace").strip()


def _agent_failed(env: HelperEnv) -> bool:
    return run(["systemctl", "is-failed", "--quiet", env.unit], 30).exit_code == 0


def _watch_agent(env: HelperEnv, trial: dict[str, Any]) -> Outcome:
    candidate = str(trial["candidate"])
    if _verified_version(env) == candidate and current_version(env) == candidate:
        save(env, {**trial, "status": "committed", "finished": time.time()})
        removed = prune(env, {candidate, str(trial["previous"])})
        return Outcome(result={"status": "committed", "version": candidate, "pruned": removed})
    if _agent_failed(env):
        return rollback(env, f"the agent unit failed on release {candidate}")
    if time.time() > float(trial["deadline"]):
        return rollback(env, f"release {candidate} did not check in before its health deadline")
    if not is_complete(release_dir(env, current_version(env) or "")):
        return rollback(env, "current does not point at a complete release")
    return Outcome(result={"status": "waiting", "version": candidate})


# --- NixOS generations -------------------------------------------------------------------------

def rebuild_test(env: HelperEnv, params: dict[str, Any], deadline_s: float) -> Outcome:
    ref = str(params["flake_ref"])
    if not re.fullmatch(env.flake_pattern, ref):
        raise Refused("flake_ref does not match the official flake pattern")
    _in_flight(env)
    previous = os.path.realpath(env.current_system)
    now = time.time()
    trial = {"kind": "nixos", "status": "trial", "flake_ref": ref, "previous": previous,
             "started": now, "deadline": now + int(params["health_deadline_s"]), "reason": ""}
    save(env, trial)
    env.crash_point("rebuild.recorded")
    out = run(["nixos-rebuild", "test", "--flake", ref, "--refresh"], deadline_s)
    new = os.path.realpath(env.current_system)
    if out.exit_code != 0:
        save(env, {**trial, "status": "failed", "reason": f"nixos-rebuild test exited "
                   f"{out.exit_code}", "finished": time.time()})
    out.result = {"status": "test_activated" if out.exit_code == 0 else "test_failed",
                  "previous_system": previous, "new_system": new}
    return out


def _rebuild_verified(env: HelperEnv, since: float) -> bool:
    try:
        st = os.lstat(env.agent_state / REBUILD_VERIFIED)
    except OSError:
        return False
    return st.st_mtime >= since and not os.path.islink(env.agent_state / REBUILD_VERIFIED)


def _watch_nixos(env: HelperEnv, trial: dict[str, Any]) -> Outcome:
    if _rebuild_verified(env, float(trial["started"])):
        out = run(["nixos-rebuild", "switch", "--flake", str(trial["flake_ref"]), "--refresh"],
                  1500)
        status = "committed" if out.exit_code == 0 else "switch_failed"
        save(env, {**trial, "status": status, "finished": time.time(),
                   "reason": "" if out.exit_code == 0 else f"switch exited {out.exit_code}"})
        out.result = {"status": status}
        return out
    failed = _agent_failed(env)
    if not failed and time.time() <= float(trial["deadline"]):
        return Outcome(result={"status": "waiting"})
    reason = ("the agent unit failed on the new generation" if failed else
              "the agent did not check in from the new generation before the deadline")
    previous = str(trial["previous"])
    out = run([os.path.join(previous, "bin", "switch-to-configuration"), "test"], 600)
    save(env, {**trial, "status": "rolled_back", "reason": reason, "finished": time.time()})
    out.add(_restart_agent(env))
    out.result = {"status": "rolled_back", "previous_system": previous, "reason": reason}
    return out


def watchdog(env: HelperEnv) -> Outcome:
    trial = load(env)
    if trial is None or trial.get("status") != "trial":
        return Outcome(result={"status": "idle"})
    if trial.get("kind") == "agent":
        return _watch_agent(env, trial)
    return _watch_nixos(env, trial)


def trial_path(state: Path) -> Path:
    return state / TRIAL
