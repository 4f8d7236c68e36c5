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

On NixOS a release is switched to by the runtime drop-in (:mod:`agent.priv.dropin`) instead of
``current``; a rollback removes it (or points it back at the previous override), reloads systemd
and restarts the store version; with no trial in flight the watchdog removes a stale drop-in
(:func:`heal`); ``nixos-rebuild-test`` removes the drop-in first.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sys
from pathlib import Path
from typing import Any

from agent.priv import dropin
from agent.priv.base import HelperEnv, Outcome, Refused, run
from agent.priv.dropin import running_version
from agent.priv.releases import fsync_dir, is_complete, prune, release_dir

TRIAL = "trial.json"
HEAL = "heal.json"  # a stale drop-in's removal under way
UPDATE_VERIFIED = ".update-verified"
REBUILD_VERIFIED = ".rebuild-verified"


def load(env: HelperEnv) -> dict[str, Any] | None:
    try:
        doc = json.loads((env.state / TRIAL).read_bytes())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def save(env: HelperEnv, doc: dict[str, Any]) -> None:
    _save_doc(env, TRIAL, doc)


def _save_doc(env: HelperEnv, name: str, doc: dict[str, Any]) -> None:
    env.state.mkdir(mode=0o755, parents=True, exist_ok=True)
    tmp = env.state / f".{name}.{secrets.token_hex(6)}"
    with open(tmp, "x", encoding="utf-8") as fh:
        json.dump(doc, fh, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o644)
    os.rename(tmp, env.state / name)
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

def _point(env: HelperEnv, version: str | None, step: str) -> Outcome:
    """Make the agent unit run ``version``: ``current`` swapped, or on NixOS the runtime drop-in
    written (None: removed, the store version) and systemd reloaded."""
    if not env.nixos:
        assert version is not None
        _link(env, version)
        return Outcome()
    if version is None:
        dropin.remove(env)
    else:
        dropin.write(env, version)
    env.crash_point(f"{step}.written")
    return dropin.reload(env)


def switch(env: HelperEnv, version: str, health_deadline_s: int) -> Outcome:
    _in_flight(env)
    if env.nixos:
        dropin.render(env, version)  # refused unless a complete release inside the root
    elif not is_complete(release_dir(env, version)):
        raise Refused(f"release {version} is not installed")
    previous = running_version(env)
    if previous == version:
        raise Refused(f"release {version} is already current")
    if not env.nixos and (previous is None or not is_complete(release_dir(env, previous))):
        raise Refused("no complete current release to come back to")
    now = env.now()
    trial = {"kind": "agent", "status": "trial", "candidate": version, "previous": previous or "",
             "runtime_override": env.nixos, "started": now, "deadline": now + health_deadline_s,
             "reason": ""}
    save(env, trial)
    env.crash_point("switch.recorded")
    out = _point(env, version, "switch")
    if out.exit_code != 0:  # systemd did not take the drop-in: what ran before stays
        out.add(_point(env, previous, "undo"))
        save(env, {**trial, "status": "failed", "finished": env.now(),
                   "reason": "systemctl daemon-reload failed"})
        out.result = {"status": "switch_failed", "version": version}
        return out
    env.crash_point("switch.swapped")
    out.add(_restart_agent(env))
    env.crash_point("switch.restarted")
    out.result = {"status": "switched", "version": version, "previous": previous,
                  "runtime_override": env.nixos}
    return out


def rollback(env: HelperEnv, reason: str) -> Outcome:
    trial = load(env)
    if trial is None or trial.get("kind") != "agent" or \
            not (trial.get("previous") or (env.nixos and "previous" in trial)):
        raise Refused("no agent release to roll back to")
    previous = str(trial["previous"])
    if env.nixos:  # the previous override if it is still complete, else the store version
        back = previous if previous and is_complete(release_dir(env, previous)) else None
        out = _point(env, back, "rollback")
        if out.exit_code != 0:  # the trial stays open: the next watchdog run retries
            out.result = {"status": "rollback_failed", "reason": reason}
            return out
    else:
        back = previous
        if not is_complete(release_dir(env, previous)):
            raise Refused(f"the previous release {previous} is no longer installed")
        if running_version(env) != previous:
            _link(env, previous)
        out = Outcome()
    env.crash_point("rollback.swapped")
    save(env, {**trial, "status": "rolled_back", "reason": reason, "finished": env.now()})
    out.add(_restart_agent(env))
    out.result = {"status": "rolled_back", "version": back,
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


def _broken(env: HelperEnv) -> str | None:
    """Why what the agent unit runs is no complete release, or None."""
    if env.nixos:
        running = dropin.current(env)
        return str(running) if isinstance(running, dropin.Stale) else None
    if not is_complete(release_dir(env, running_version(env) or "")):
        return "current does not point at a complete release"
    return None


def _watch_agent(env: HelperEnv, trial: dict[str, Any]) -> Outcome:
    candidate = str(trial["candidate"])
    if _verified_version(env) == candidate and running_version(env) == candidate:
        save(env, {**trial, "status": "committed", "finished": env.now()})
        removed = prune(env, {candidate, str(trial["previous"])} - {""})
        return Outcome(result={"status": "committed", "version": candidate, "pruned": removed})
    if _agent_failed(env):
        return rollback(env, f"the agent unit failed on release {candidate}")
    if env.now() > float(trial["deadline"]):
        return rollback(env, f"release {candidate} did not check in before its health deadline")
    broken = _broken(env)
    if broken:
        return rollback(env, broken)
    return Outcome(result={"status": "waiting", "version": candidate})


def heal(env: HelperEnv) -> Outcome:
    """NixOS, no trial in flight: a stale runtime drop-in (its release gone or incomplete, or
    naming anything else) is removed and the agent restarted on the store version (the Go
    daemon's boot self-heal, done here because a broken ExecStart keeps the agent from
    starting at all). ``heal.json`` (written first) makes a killed heal finish next time."""
    running = dropin.current(env) if env.nixos else None
    started = (env.state / HEAL).exists()
    if not isinstance(running, dropin.Stale) and not started:
        return Outcome(result={"status": "idle"})
    reason = str(running) if isinstance(running, dropin.Stale) else \
        _read_reason(env.state / HEAL)
    if not started:
        _save_doc(env, HEAL, {"reason": reason, "started": env.now()})
    message = f"msp-agent-priv watchdog: {reason}; removed, back on the store version\n"
    print(message, end="", file=sys.stderr, flush=True)  # the helper's journal
    dropin.remove(env)
    env.crash_point("heal.removed")
    out = Outcome(stderr=message).add(dropin.reload(env))
    out.add(_restart_agent(env))
    if out.exit_code == 0:
        (env.state / HEAL).unlink(missing_ok=True)
    out.result = {"status": "healed", "reason": reason}
    return out


def _read_reason(path: Path) -> str:
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return "a stale runtime drop-in"
    return str(doc.get("reason", "")) if isinstance(doc, dict) else "a stale runtime drop-in"


# --- NixOS generations -------------------------------------------------------------------------

def rebuild_test(env: HelperEnv, params: dict[str, Any], deadline_s: float) -> Outcome:
    ref = str(params["flake_ref"])
    if not re.fullmatch(env.flake_pattern, ref):
        raise Refused("flake_ref does not match the official flake pattern")
    _in_flight(env)
    previous = os.path.realpath(env.current_system)
    now = env.now()
    trial = {"kind": "nixos", "status": "trial", "flake_ref": ref, "previous": previous,
             "started": now, "deadline": now + int(params["health_deadline_s"]), "reason": ""}
    save(env, trial)
    env.crash_point("rebuild.recorded")
    if env.nixos and dropin.remove(env):  # the generation is authoritative again
        dropin.reload(env)
    out = run(["nixos-rebuild", "test", "--flake", ref, "--refresh"], deadline_s)
    new = os.path.realpath(env.current_system)
    if out.exit_code != 0:
        save(env, {**trial, "status": "failed", "reason": f"nixos-rebuild test exited "
                   f"{out.exit_code}", "finished": env.now()})
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
        save(env, {**trial, "status": status, "finished": env.now(),
                   "reason": "" if out.exit_code == 0 else f"switch exited {out.exit_code}"})
        out.result = {"status": status}
        return out
    failed = _agent_failed(env)
    if not failed and env.now() <= float(trial["deadline"]):
        return Outcome(result={"status": "waiting"})
    reason = ("the agent unit failed on the new generation" if failed else
              "the agent did not check in from the new generation before the deadline")
    previous = str(trial["previous"])
    out = run([os.path.join(previous, "bin", "switch-to-configuration"), "test"], 600)
    save(env, {**trial, "status": "rolled_back", "reason": reason, "finished": env.now()})
    out.add(_restart_agent(env))
    out.result = {"status": "rolled_back", "previous_system": previous, "reason": reason}
    return out


def watchdog(env: HelperEnv) -> Outcome:
    trial = load(env)
    if trial is None or trial.get("status") != "trial":
        return heal(env)
    if trial.get("kind") == "agent":
        return _watch_agent(env, trial)
    return _watch_nixos(env, trial)


def trial_path(state: Path) -> Path:
    return state / TRIAL
