"""What each allowlisted action does (runtime.md §10.4): fixed programs, argument lists only."""

from __future__ import annotations

from typing import Any

from agent.priv.base import HelperEnv, Outcome, Refused, run
from agent.priv.schema import ACTIONS

_FIXED: dict[str, list[str]] = {
    "restart-journald": ["systemctl", "restart", "systemd-journald.service"],
    "renew-certificates": ["certbot", "renew", "--non-interactive"],
    "nft-list-ruleset": ["nft", "list", "ruleset"],
    "wg-show": ["wg", "show"],
}


def dispatch(env: HelperEnv, action: str, params: dict[str, Any]) -> Outcome:
    deadline = float(ACTIONS[action].deadline_s) - 5.0
    if action in _FIXED:
        return run(_FIXED[action], deadline)
    if action == "journal-vacuum":
        return run(["journalctl", f"--vacuum-size={params.get('max_size_mb', 100)}M"], deadline)
    if action == "start-backup":
        unit = f"{params.get('job_name', 'restic-backup')}.service"
        return run(["systemctl", "start", unit], deadline)
    if action == "nix-gc":
        out = run(["nix-collect-garbage", "--delete-older-than",
                   f"{params['older_than_days']}d"], deadline / 2)
        if out.exit_code == 0 and params.get("optimise", True):
            out.add(run(["nix-store", "--optimise"], deadline / 2))
        return out
    from agent.priv import dropin, releases, trial

    if action == "nixos-rebuild-test":
        return trial.rebuild_test(env, params, deadline)
    if action == "agent-install":
        return releases.install(env, params["bundle"], params["version"], deadline,
                                dropin.running_version(env))
    if action == "agent-switch":
        return trial.switch(env, params["version"], params["health_deadline_s"])
    if action == "agent-rollback":
        return trial.rollback(env, "rollback requested by the agent")
    if action == "watchdog":
        return trial.watchdog(env)
    raise Refused(f"action {action!r} has no implementation")  # pragma: no cover
