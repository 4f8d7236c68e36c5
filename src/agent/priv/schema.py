"""The helper's compiled-in allowlist and each action's parameter schema (runtime.md §10.4).

Imports nothing of the agent: the root-owned helper loads this module and little else. Both
sides validate with :func:`validate`; the helper's check is the one that counts. A schema is
strict: an unknown key, a value of the wrong type (``True`` is not an int), a number out of
range, a string outside its pattern or a missing required key is refused with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

#: The official flake the helper rebuilds from unless its unit configures another pattern.
DEFAULT_FLAKE_PATTERN = r"^github:jbouey/msp-flake#[A-Za-z0-9_-]+$"
VERSION = re.compile(r"[0-9]+(\.[0-9]+){1,3}([a-z]+[0-9]*)?", re.ASCII)
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", re.ASCII)
ORDER_ID = re.compile(r"[A-Za-z0-9:._-]{1,128}", re.ASCII)
BACKUP_JOB = re.compile(r"restic-backup[A-Za-z0-9_-]{0,48}", re.ASCII)
FLAKE_SHAPE = re.compile(r"[A-Za-z0-9:/._#-]{1,200}", re.ASCII)
MAX_PARAMS_BYTES = 16 * 1024


class SchemaError(ValueError):
    """A parameter file the helper refuses (the reason is the message)."""


@dataclass(frozen=True, slots=True)
class Param:
    kind: type  # int, bool or str
    required: bool = False
    lo: int = 0
    hi: int = 0
    pattern: re.Pattern[str] | None = None


@dataclass(frozen=True, slots=True)
class Action:
    name: str
    deadline_s: int  # the unit's RuntimeMaxSec= and the client's wait
    params: dict[str, Param] = field(default_factory=dict)
    summary: str = ""


def _int(lo: int, hi: int, required: bool = False) -> Param:
    return Param(int, required, lo, hi)


def _str(pattern: re.Pattern[str], required: bool = True) -> Param:
    return Param(str, required, pattern=pattern)


ACTIONS: dict[str, Action] = {a.name: a for a in (
    Action("journal-vacuum", 300, {"max_size_mb": _int(16, 8192)},
           "journalctl --vacuum-size"),
    Action("restart-journald", 120, {}, "systemctl restart systemd-journald.service"),
    Action("nix-gc", 1800, {"older_than_days": _int(1, 365, True),
                            "optimise": Param(bool)}, "nix-collect-garbage, nix-store --optimise"),
    Action("start-backup", 300, {"job_name": _str(BACKUP_JOB, required=False)},
           "systemctl start <restic-backup…>.service"),
    Action("renew-certificates", 600, {}, "certbot renew --non-interactive"),
    Action("nft-list-ruleset", 60, {}, "nft list ruleset"),
    Action("wg-show", 60, {}, "wg show"),
    Action("nixos-rebuild-test", 1800, {"flake_ref": _str(FLAKE_SHAPE),
                                        "health_deadline_s": _int(60, 3600, True)},
           "nixos-rebuild test; the watchdog switches or rolls back"),
    Action("agent-install", 900, {"bundle": _str(NAME), "version": _str(VERSION)},
           "verify a staged release bundle, install it side by side"),
    Action("agent-switch", 120, {"version": _str(VERSION),
                                 "health_deadline_s": _int(60, 3600, True)},
           "point current at an installed release, restart the agent, start a trial"),
    Action("agent-rollback", 120, {}, "back to the previous release"),
    Action("watchdog", 600, {}, "persist or roll back a trial (run by its timer)"),
)}


def validate(action: str, params: Any) -> dict[str, Any]:
    """The parameters of ``action`` if they pass its schema; raises :class:`SchemaError`."""
    spec = ACTIONS.get(action)
    if spec is None:
        raise SchemaError(f"action {action!r} is not in the helper's allowlist")
    if not isinstance(params, dict):
        raise SchemaError("parameters must be a JSON object")
    unknown = sorted(set(params) - set(spec.params))
    if unknown:
        raise SchemaError(f"unknown parameter(s) for {action}: {', '.join(map(str, unknown))}")
    out: dict[str, Any] = {}
    for key, p in spec.params.items():
        if key not in params:
            if p.required:
                raise SchemaError(f"parameter {key} is required")
            continue
        value = params[key]
        if type(value) is not p.kind:  # exact: a bool is not an int
            raise SchemaError(f"parameter {key} must be of type {p.kind.__name__}")
        if isinstance(value, int) and not isinstance(value, bool) and not p.lo <= value <= p.hi:
            raise SchemaError(f"parameter {key} must be between {p.lo} and {p.hi}")
        if isinstance(value, str) and p.pattern is not None and not p.pattern.fullmatch(value):
            raise SchemaError(f"parameter {key} has an invalid format")
        out[key] = value
    return out


def version_key(text: str) -> tuple[int, ...]:
    """Release versions compare numerically (``1.10.0`` > ``1.9.2``); a suffix sorts first."""
    m = re.match(r"([0-9.]+)(.*)", text)
    nums = tuple(int(x) for x in (m.group(1) if m else "0").strip(".").split(".") if x)
    return (*nums, *(0,) * (4 - len(nums)), 0 if m and m.group(2) else 1)
