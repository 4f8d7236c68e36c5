"""The rule object (healing.md §1.1), actions (§1.6) and load-time validation (§1.10)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from agent.rules.conditions import Condition, ConditionError, compile_condition

SOURCES: Final = ("custom", "promoted", "synced", "builtin")  # rank = index
RANK: Final = {s: i for i, s in enumerate(SOURCES)}

RUNBOOK_ACTIONS: Final = {
    "run_windows_runbook": "windows",
    "run_linux_runbook": "linux",
    "run_macos_runbook": "macos",
    "run_runbook": None,
}
ALIASES: Final = {
    "restore_firewall_baseline": ("run_windows_runbook", "RB-WIN-SEC-001"),
    "restart_av_service": ("run_windows_runbook", "RB-WIN-SEC-006"),
    "update_to_baseline_generation": ("run_windows_runbook", "RB-WIN-AD-003"),
    "run_backup_job": ("run_linux_runbook", "LIN-BACKUP-001"),
    "restart_logging_services": ("run_linux_runbook", "LIN-LOG-002"),
    "renew_certificate": ("run_linux_runbook", "LIN-CERT-001"),
    "cleanup_disk_space": ("run_linux_runbook", "LIN-DISK-001"),
}
ACTIONS: Final = frozenset({*RUNBOOK_ACTIONS, "escalate", *ALIASES})
#: Parameterised actions of the server's rules (``<action>:<argument>``, main.py
#: ``agent_sync_rules``), each with a strict grammar for its argument; anything else is refused.
#: ``restart_service:<unit>`` restarts one systemd unit through LIN-SVC-001 (a bare name is a
#: ``.service``); consecutive ones in an ``actions`` list restart their units together.
_UNIT_ARG: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9@_.:-]{0,99}", re.ASCII)
_UNIT_SUFFIXES: Final = (".service", ".socket", ".timer", ".mount", ".path")
_RUNBOOK_ARG: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{1,63}", re.ASCII)
_ALERT_ARG: Final = re.compile(r"[^\x00-\x1f\x7f]{1,200}")
RESTART_SERVICE_RUNBOOK: Final = "LIN-SVC-001"
PHASES: Final = ("detect", "remediate", "verify")
RESERVED_PARAMS: Final = frozenset({"runbook_id", "phases", "reason", "allow_disruptive"})

# healing.md §2.3: keys every incident data map has (not flattened detail keys).
STANDARD_KEYS: Final = frozenset(
    {
        "check_type",
        "incident_type",
        "drift_detected",
        "status",
        "hostname",
        "host_id",
        "agent_id",
        "source",
        "platform",
        "label",
        "severity",
        "expected",
        "actual",
        "hipaa_control",
        "details",
    }
)


class RunbookInfo(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def platform(self) -> str: ...
    @property
    def check_types(self) -> tuple[str, ...]: ...
    def param_errors(self, params: Mapping[str, Any]) -> list[str]:
        """Errors for caller-supplied parameters (undeclared names, failed validation)."""
        ...


class RunbookLookup(Protocol):
    def get(self, runbook_id: str) -> RunbookInfo | None: ...


class CheckCatalog(Protocol):
    def known(self, check_type: str) -> bool: ...
    def detail_keys(self, check_type: str) -> frozenset[str]: ...
    def all_detail_keys(self) -> frozenset[str]: ...


class RuleError(ValueError):
    """The rule is rejected at load (``reason`` says why)."""


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    name: str
    description: str
    conditions: tuple[Condition, ...]
    action: str  # as written after expansion (alias names kept for display)
    kind: str  # "runbook" | "escalate"
    runbook_id: str | None
    platform: str | None  # required runbook platform; None for run_runbook / escalate
    phases: tuple[str, ...]
    params: Mapping[str, Any]  # runbook parameters (reserved keys removed)
    reason: str
    allow_disruptive: bool
    hipaa_controls: tuple[str, ...]
    severity_filter: frozenset[str]
    enabled: bool
    priority: int
    cooldown_seconds: int
    max_retries: int
    source: str
    gpo_managed: bool
    rank: int = 0
    file_order: int = 0
    position: int = 0
    origin: str = ""  # file name or "builtin"
    warnings: tuple[str, ...] = field(default=())

    @property
    def sort_key(self) -> tuple[int, int, int, int]:
        return (self.priority, self.rank, self.file_order, self.position)

    def matches(self, data: Mapping[str, Any], severity: str) -> bool:
        if not self.enabled:
            return False
        if self.severity_filter and severity.lower() not in self.severity_filter:
            return False
        return all(c.evaluate(data) for c in self.conditions)


def _int(value: object, default: int) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    return default


def service_unit(arg: str) -> str | None:
    """The systemd unit a ``restart_service:`` argument names, or None when it is not one."""
    if not _UNIT_ARG.fullmatch(arg) or ".." in arg:
        return None
    return arg if arg.endswith(_UNIT_SUFFIXES) else f"{arg}.service"


def _effective_action(raw: Mapping[str, Any], source: str, warnings: list[str],
                      more_units: list[str] | None = None) -> str:
    """The rule's action; ``more_units`` receives the arguments of the ``restart_service:``
    actions that directly follow a first one (they restart together)."""
    if source == "synced" and "actions" in raw:
        acts = raw.get("actions")
        if isinstance(acts, list) and acts and isinstance(acts[0], str) and acts[0]:
            first = acts[0]
            extra = acts[1:]
            if first.startswith("restart_service:") and more_units is not None:
                while extra and isinstance(extra[0], str) and \
                        extra[0].startswith("restart_service:"):
                    more_units.append(extra[0].partition(":")[2])
                    extra = extra[1:]
            if extra:
                warnings.append(f"extra actions ignored: {extra!r}")
            return first
        action = raw.get("action")
        return action if isinstance(action, str) and action else "alert:unknown"
    action = raw.get("action")
    if source == "synced" and not (isinstance(action, str) and action):
        return "alert:unknown"
    return action if isinstance(action, str) else ""


def _tested_check_types(conds: Sequence[Condition]) -> list[str] | None:
    types: list[str] = []
    for c in conds:
        if c.field in ("check_type", "incident_type"):
            if c.operator == "eq" and isinstance(c.value, str):
                types.append(c.value)
            elif c.operator == "in" and isinstance(c.value, list):
                types.extend(v for v in c.value if isinstance(v, str))
    return types or None


def parse_rule(
    raw: object,
    source: str,
    *,
    runbooks: RunbookLookup,
    catalog: CheckCatalog | None = None,
    file_order: int = 0,
    position: int = 0,
    origin: str = "",
) -> Rule:
    """Parse and validate one rule; raises :class:`RuleError` with the reason."""
    if not isinstance(raw, Mapping):
        raise RuleError("rule is not a map")
    rid = raw.get("id")
    if not isinstance(rid, str) or not rid:
        raise RuleError("rule without a non-empty string id")
    warnings: list[str] = []
    synced = source == "synced"

    conds_raw = raw.get("conditions")
    if conds_raw is None:
        conds_raw = []
    if not isinstance(conds_raw, list):
        raise RuleError(f"{rid}: conditions is not a list")
    try:
        conditions = tuple(compile_condition(c, warnings) for c in conds_raw)
    except ConditionError as exc:
        raise RuleError(f"{rid}: {exc}") from None

    params_raw = raw.get("action_params")
    action_params: dict[str, Any] = dict(params_raw) if isinstance(params_raw, Mapping) else {}
    more_units: list[str] = []
    action = _effective_action(raw, source, warnings, more_units)
    if not action:
        raise RuleError(f"{rid}: empty action")
    if ":" in action:
        base, _, arg = action.partition(":")
        if base in RUNBOOK_ACTIONS:
            if not _RUNBOOK_ARG.fullmatch(arg):
                raise RuleError(f"{rid}: action {base} needs a runbook id argument")
            action_params.setdefault("runbook_id", arg)
            action = base
        elif base == "alert":
            if not _ALERT_ARG.fullmatch(arg):
                raise RuleError(f"{rid}: action alert needs a reason of 1-200 characters")
            action_params.setdefault("reason", arg)
            action = "escalate"
        elif base == "restart_service":
            units = [service_unit(a) for a in (arg, *more_units)]
            if not all(units):
                raise RuleError(f"{rid}: action restart_service needs a systemd unit name "
                                "([A-Za-z0-9@_.:-], no path)")
            action_params["runbook_id"] = RESTART_SERVICE_RUNBOOK
            action_params["units"] = units
            action = "run_linux_runbook"
        else:
            raise RuleError(f"{rid}: unknown action {action!r}")
    if action not in ACTIONS:
        raise RuleError(f"{rid}: unknown action {action!r}")

    reason = action_params.get("reason")
    reason = reason if isinstance(reason, str) else ""
    allow_disruptive = action_params.get("allow_disruptive") is True
    params = {k: v for k, v in action_params.items() if k not in RESERVED_PARAMS}
    runbook_id: str | None = None
    platform: str | None = None
    phases: tuple[str, ...] = ()
    if action == "escalate":
        kind = "escalate"
    else:
        kind = "runbook"
        if action in ALIASES:
            base, alias_id = ALIASES[action]
            platform = RUNBOOK_ACTIONS[base]
            runbook_id = alias_id
        else:
            platform = RUNBOOK_ACTIONS[action]
            rb = action_params.get("runbook_id")
            runbook_id = rb if isinstance(rb, str) and rb else None
        if runbook_id is None:
            raise RuleError(f"{rid}: runbook action without runbook_id")
        info = runbooks.get(runbook_id)
        if info is None:
            raise RuleError(f"{rid}: runbook {runbook_id} is not in the registry")
        if platform is not None and info.platform != platform:
            raise RuleError(f"{rid}: runbook {runbook_id} is {info.platform}, action needs {platform}")
        errs = info.param_errors(params)
        if errs:
            raise RuleError(f"{rid}: runbook parameters: {'; '.join(errs)}")
        phases_raw = action_params.get("phases", ["remediate", "verify"])
        if not isinstance(phases_raw, list) or not all(isinstance(p, str) for p in phases_raw):
            raise RuleError(f"{rid}: phases must be a list of strings")
        unknown = [p for p in phases_raw if p not in PHASES]
        if unknown:
            raise RuleError(f"{rid}: unknown phases {unknown!r}")
        if "remediate" not in phases_raw:
            raise RuleError(f"{rid}: phases without remediate")
        wanted = set(phases_raw) | {"verify"}
        phases = tuple(p for p in PHASES if p in wanted)

    if not conditions and kind != "escalate":
        raise RuleError(f"{rid}: no conditions (would match every incident)")

    if catalog is not None:
        _dead_checks(conditions, catalog, warnings)

    sev = raw.get("severity_filter")
    severity_filter = (
        frozenset(s.lower() for s in sev if isinstance(s, str)) if isinstance(sev, list) else frozenset()
    )
    hc = raw.get("hipaa_controls")
    hipaa = tuple(h for h in hc if isinstance(h, str)) if isinstance(hc, list) else ()
    name = raw.get("name")
    desc = raw.get("description")
    enabled = raw.get("enabled", True)
    return Rule(
        id=rid,
        name=name if isinstance(name, str) and name else rid,
        description=desc if isinstance(desc, str) else "",
        conditions=conditions,
        action=action,
        kind=kind,
        runbook_id=runbook_id,
        platform=platform,
        phases=phases,
        params=params,
        reason=reason,
        allow_disruptive=allow_disruptive,
        hipaa_controls=hipaa,
        severity_filter=severity_filter,
        enabled=enabled if isinstance(enabled, bool) else True,
        priority=_int(raw.get("priority"), 5 if synced else 100),
        cooldown_seconds=max(0, _int(raw.get("cooldown_seconds"), 300)),
        max_retries=_int(raw.get("max_retries"), 1),
        source=source,
        gpo_managed=raw.get("gpo_managed") is True,
        rank=RANK[source],
        file_order=file_order,
        position=position,
        origin=origin,
        warnings=tuple(warnings),
    )


def _dead_checks(conditions: Sequence[Condition], catalog: CheckCatalog, warnings: list[str]) -> None:
    tested = _tested_check_types(conditions)
    for t in tested or ():
        if not catalog.known(t):
            warnings.append(f"dead: check_type never produced ({t})")
    known = [t for t in (tested or ()) if catalog.known(t)]
    if tested is None:
        keys = catalog.all_detail_keys()
    else:
        keys = frozenset().union(*(catalog.detail_keys(t) for t in known)) if known else frozenset()
    for c in conditions:
        f = c.field
        if f.startswith("details."):
            key = f.split(".", 2)[1]
            if key != "items" and key not in keys:
                warnings.append(f"dead: field never produced ({f})")
        elif f.split(".", 1)[0] in STANDARD_KEYS:
            continue
        elif "." in f or f not in keys:
            warnings.append(f"dead: field never produced ({f})")
