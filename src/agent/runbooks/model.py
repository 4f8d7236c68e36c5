"""Runbook objects (healing.md §3.1–3.4): parameters, phase results, verification."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from agent.priv.schema import ACTIONS as PRIV_ACTIONS
from agent.priv.schema import SchemaError
from agent.priv.schema import validate as validate_priv
from agent.rules.conditions import Condition, ConditionError, compile_condition
from agent.rules.values import MISSING, lookup

PLATFORMS: Final = frozenset({"windows", "linux", "macos"})
PRIVILEGES: Final = frozenset({"admin", "root", "none"})
PARAM_TYPES: Final = frozenset({"string", "int", "bool", "list"})
_PARAM_NAME: Final = re.compile(r"[a-z][a-z0-9_]{0,31}")
RESULT_PREFIX: Final = "MSP_RESULT "
IMPLICIT_PARAMS: Final = frozenset({"mgmt_transport", "mgmt_port", "mgmt_auth"})


class RunbookError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class ParamSpec:
    name: str
    type: str = "string"
    required: bool = False
    default: Any = None
    pattern: re.Pattern[str] | None = None
    allowed: tuple[Any, ...] | None = None
    max_len: int = 256
    max_items: int = 64
    bind_from: str | None = None

    def check(self, value: Any) -> str | None:
        """Why ``value`` is not acceptable, or None."""
        if self.type == "bool":
            if not isinstance(value, bool):
                return f"{self.name}: not a boolean"
        elif self.type == "int":
            if isinstance(value, bool) or not isinstance(value, int):
                return f"{self.name}: not an integer"
        elif self.type == "string":
            if not isinstance(value, str):
                return f"{self.name}: not a string"
            return self._check_str(value)
        elif self.type == "list":
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                return f"{self.name}: not a list of strings"
            if len(items) > self.max_items:
                return f"{self.name}: more than {self.max_items} items"
            for i in items:
                err = self._check_str(i)
                if err:
                    return err
            return None
        if self.allowed is not None and value not in self.allowed:
            return f"{self.name}: value not allowed"
        return None

    def _check_str(self, s: str) -> str | None:
        if len(s) > self.max_len:
            return f"{self.name}: longer than {self.max_len}"
        if "\x00" in s or "\n" in s:
            return f"{self.name}: control characters"
        if self.pattern is not None and not self.pattern.fullmatch(s):
            return f"{self.name}: does not match its pattern"
        if self.allowed is not None and s not in self.allowed:
            return f"{self.name}: value not allowed"
        return None


@dataclass(frozen=True, slots=True)
class PhaseResult:
    """A parsed phase (§3.3). ``ok`` is the phase-success rule; ``result`` the JSON object."""

    phase: str
    ok: bool
    result: dict[str, Any] | None
    reason: str = ""
    exit_code: int | None = None


def parse_phase_output(
    phase: str, stdout: str, *, exit_code: int | None, truncated: bool, transport_ok: bool
) -> PhaseResult:
    """Apply §3.3: transport ok, exit 0, not truncated, last ``MSP_RESULT`` line parses, phase
    matches, and (remediate) ``status == "ok"``."""
    result: dict[str, Any] | None = None
    last = None
    for line in stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            last = line[len(RESULT_PREFIX) :]
    if last is not None:
        try:
            obj = json.loads(last)
            result = obj if isinstance(obj, dict) else None
        except ValueError:
            result = None
    if not transport_ok:
        return PhaseResult(phase, False, result, "transport_failed", exit_code)
    if exit_code != 0:
        return PhaseResult(phase, False, result, f"exit_code_{exit_code}", exit_code)
    if truncated:
        return PhaseResult(phase, False, result, "output_truncated", exit_code)
    if last is None:
        return PhaseResult(phase, False, None, "no_result_line", exit_code)
    if result is None:
        return PhaseResult(phase, False, None, "unparseable_result", exit_code)
    if result.get("phase") != phase:
        return PhaseResult(phase, False, result, "phase_mismatch", exit_code)
    if phase == "remediate" and result.get("status") != "ok":
        st = result.get("status")
        return PhaseResult(
            phase, False, result, f"status_{st}" if isinstance(st, str) else "no_status", exit_code
        )
    if phase == "detect" and not isinstance(result.get("drifted"), bool):
        return PhaseResult(phase, False, result, "drifted_not_boolean", exit_code)
    if phase == "verify" and not isinstance(result.get("verified"), bool):
        return PhaseResult(phase, False, result, "verified_not_boolean", exit_code)
    return PhaseResult(phase, True, result, "", exit_code)


def _subst(value: Any, params: Mapping[str, Any]) -> Any:
    if isinstance(value, str) and value.startswith("${") and value.endswith("}"):
        return params.get(value[2:-1], MISSING)
    if isinstance(value, list):
        return [_subst(v, params) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class Runbook:
    id: str
    name: str
    description: str
    platform: str
    check_types: tuple[str, ...]
    hipaa_controls: tuple[str, ...]
    privilege: str
    scripts: Mapping[str, str]  # phase -> script text
    verify_assert: tuple[Mapping[str, Any], ...]  # raw conditions; values may be "${param}"
    version: str
    params: tuple[ParamSpec, ...] = ()
    timeouts: Mapping[str, int] = field(default_factory=dict)
    timeout_seconds: int = 120
    disruptive: bool = False
    severity: str = ""
    fixtures: Mapping[str, Any] = field(default_factory=dict)
    #: A remediate phase run by the privileged helper (appliance only): the action and its fixed,
    #: schema-checked parameters; detect and verify stay unprivileged scripts.
    privileged_action: str | None = None
    privileged_params: Mapping[str, Any] = field(default_factory=dict)
    #: helper parameter -> runbook parameter whose bound value replaces it when the action runs
    #: (checked again by the helper's schema then; a value it refuses fails the phase).
    privileged_bind: Mapping[str, str] = field(default_factory=dict)

    def privileged_args(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The helper action's parameters for a heal bound to ``params``."""
        return {**self.privileged_params,
                **{hp: params[rp] for hp, rp in self.privileged_bind.items() if rp in params}}

    @property
    def param_specs(self) -> dict[str, ParamSpec]:
        return {p.name: p for p in self.params}

    def script_sha256(self, phase: str) -> str:
        return hashlib.sha256(self.scripts.get(phase, "").encode("utf-8")).hexdigest()

    def timeout_for(self, phase: str) -> int:
        return int(self.timeouts.get(phase, self.timeout_seconds))

    def param_errors(self, params: Mapping[str, Any]) -> list[str]:
        specs = self.param_specs
        errs = []
        for name, value in params.items():
            spec = specs.get(name)
            if spec is None:
                errs.append(f"undeclared parameter {name!r}")
                continue
            e = spec.check(value)
            if e:
                errs.append(e)
        return errs

    def bind(self, supplied: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
        """caller value → ``bind_from`` → ``default`` (§3.2); raises :class:`RunbookError`."""
        errs = self.param_errors(supplied)
        if errs:
            raise RunbookError("; ".join(errs))
        out: dict[str, Any] = {}
        for spec in self.params:
            if spec.name in supplied:
                value = supplied[spec.name]
            elif spec.bind_from is not None and lookup(data, spec.bind_from) is not MISSING:
                value = lookup(data, spec.bind_from)
                if spec.type == "list" and isinstance(value, str):
                    value = [value]
                if spec.type == "list" and isinstance(value, list):
                    value = [v for v in value if isinstance(v, str)]
            elif spec.default is not None:
                value = spec.default
            elif spec.required:
                raise RunbookError(f"{spec.name}: required and not supplied")
            else:
                continue
            e = spec.check(value)
            if e:
                raise RunbookError(e)
            out[spec.name] = value
        return out

    def assertions(self, params: Mapping[str, Any]) -> list[Condition]:
        out = []
        for raw in self.verify_assert:
            r = dict(raw)
            r["value"] = _subst(r.get("value"), params)
            out.append(compile_condition(r))
        return out

    def verify_proves(self, result: Mapping[str, Any] | None, params: Mapping[str, Any]) -> tuple[bool, str]:
        """§3.4 beyond phase success: ``verified is True`` and every assertion holds."""
        if result is None:
            return False, "no_result"
        if result.get("verified") is not True:
            return False, "not_verified"
        for cond in self.assertions(params):
            if not cond.evaluate(result):
                return False, f"assert_failed:{cond.field}"
        return True, ""


def parse_param_spec(raw: Mapping[str, Any]) -> ParamSpec:
    name = raw.get("name")
    if not isinstance(name, str) or not _PARAM_NAME.fullmatch(name):
        raise RunbookError(f"invalid parameter name {name!r}")
    ptype = raw.get("type", "string")
    if ptype not in PARAM_TYPES:
        raise RunbookError(f"{name}: unknown type {ptype!r}")
    pat = raw.get("pattern")
    allowed = raw.get("allowed")
    return ParamSpec(
        name=name,
        type=ptype,
        required=bool(raw.get("required", False)),
        default=raw.get("default"),
        pattern=re.compile(pat) if isinstance(pat, str) else None,
        allowed=tuple(allowed) if isinstance(allowed, list) else None,
        max_len=int(raw.get("max_len", 256)),
        max_items=int(raw.get("max_items", 64)),
        bind_from=raw.get("bind_from") if isinstance(raw.get("bind_from"), str) else None,
    )


def build_runbook(meta: Mapping[str, Any], scripts: Mapping[str, str]) -> Runbook:
    """Validate metadata + scripts (§3.1); raises :class:`RunbookError`."""
    rid = meta.get("id")
    if not isinstance(rid, str) or not rid:
        raise RunbookError("runbook without id")
    for key in ("name", "description", "version"):
        if not isinstance(meta.get(key), str) or not meta[key]:
            raise RunbookError(f"{rid}: {key} is required")
    platform = meta.get("platform")
    if platform not in PLATFORMS:
        raise RunbookError(f"{rid}: bad platform {platform!r}")
    privilege = meta.get("privilege")
    if privilege not in PRIVILEGES:
        raise RunbookError(f"{rid}: bad privilege {privilege!r}")
    action, action_params, action_bind = _privileged(rid, meta, privilege, scripts)
    for phase in ("verify",) if action else ("remediate", "verify"):
        if not scripts.get(phase, "").strip():
            raise RunbookError(f"{rid}: {phase} script missing or empty")
    va = meta.get("verify_assert")
    if not isinstance(va, list) or not va:
        raise RunbookError(f"{rid}: verify_assert needs at least one condition")
    if not any(isinstance(c, Mapping) and str(c.get("field", "")).startswith("observed.") for c in va):
        raise RunbookError(f"{rid}: verify_assert does not reference observed")
    params = tuple(parse_param_spec(p) for p in meta.get("params") or [])
    declared = {p.name: p for p in params}
    loose = sorted(n for n in set(action_bind.values())
                   if n not in declared or (declared[n].pattern is None and not declared[n].allowed))
    if loose:
        raise RunbookError(f"{rid}: privileged_action.bind needs declared parameters with a "
                           f"pattern or allowed values: {', '.join(loose)}")
    for c in va:
        try:
            compile_condition({**c, "value": _subst(c.get("value"), {p.name: "x" for p in params})})
        except ConditionError as exc:
            raise RunbookError(f"{rid}: verify_assert: {exc}") from None
    timeout = int(meta.get("timeout_seconds", 120))
    if not 0 < timeout <= 3600:
        raise RunbookError(f"{rid}: timeout_seconds out of range")
    ct = meta.get("check_types")
    if not isinstance(ct, list):
        raise RunbookError(f"{rid}: check_types is required")
    return Runbook(
        id=rid,
        name=meta["name"],
        description=meta["description"],
        platform=platform,
        check_types=tuple(ct),
        hipaa_controls=tuple(meta.get("hipaa_controls") or ()),
        privilege=privilege,
        scripts=dict(scripts),
        verify_assert=tuple(va),
        version=meta["version"],
        params=params,
        timeouts=dict(meta.get("timeouts") or {}),
        timeout_seconds=timeout,
        disruptive=bool(meta.get("disruptive", False)),
        severity=str(meta.get("severity", "")),
        fixtures=dict(meta.get("fixtures") or {}),
        privileged_action=action,
        privileged_params=action_params,
        privileged_bind=action_bind,
    )


def _privileged(rid: str, meta: Mapping[str, Any], privilege: str,
                scripts: Mapping[str, str]) -> tuple[str | None, dict[str, Any], dict[str, str]]:
    """``privileged_action: {action: <allowlisted name>, params: {...}, bind: {...}}``: an action
    of the helper's compiled-in allowlist with parameters valid for its schema, on an unprivileged
    Linux (appliance) runbook without a remediate script of its own. Its ``params`` are fixed
    here; ``bind`` (optional) names, per helper parameter of the action, the runbook parameter
    whose bound value replaces the fixed one (declared with a pattern; the helper's schema checks
    it again when the action runs)."""
    raw = meta.get("privileged_action")
    if raw is None:
        return None, {}, {}
    if not isinstance(raw, Mapping) or set(raw) - {"action", "params", "bind"}:
        raise RunbookError(f"{rid}: privileged_action must be a map of action, params and bind")
    action, params, bind = raw.get("action"), raw.get("params", {}), raw.get("bind", {})
    if not isinstance(action, str):
        raise RunbookError(f"{rid}: privileged_action.action must be a string")
    try:
        clean = validate_priv(action, dict(params) if isinstance(params, Mapping) else params)
    except SchemaError as exc:
        raise RunbookError(f"{rid}: privileged_action: {exc}") from None
    if not isinstance(bind, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in bind.items()):
        raise RunbookError(f"{rid}: privileged_action.bind must map helper to runbook parameters")
    foreign = sorted(set(bind) - set(PRIV_ACTIONS[action].params))
    if foreign:
        raise RunbookError(f"{rid}: privileged_action.bind: {action} has no parameter(s) "
                           f"{', '.join(foreign)}")
    if meta.get("platform") != "linux" or privilege != "none":
        raise RunbookError(f"{rid}: a privileged_action runbook is linux with privilege none "
                           "(its checks run unprivileged)")
    if scripts.get("remediate", "").strip():
        raise RunbookError(f"{rid}: privileged_action and a remediate script are exclusive")
    return action, clean, dict(bind)


def params_for_exec(params: Mapping[str, Any]) -> dict[str, str | int | bool | Sequence[str]]:
    return {k: v for k, v in params.items() if isinstance(v, str | int | bool | list)}
