"""Handlers of the order types orders.md §10 marks "must".

A handler is ``async def handler(params, ctx) -> result``: ``params`` is a private deep copy of
the **signed** parameters (orders.md §5.1), ``ctx`` a :class:`HandlerContext`. It validates its own
parameters and raises :class:`HandlerError` (a failed result with a clear reason, optionally with
a result object) for anything unexpected; the worker turns any other exception into a failure too,
so nothing escapes into the loop. Timeouts are applied by the worker (registry).

Where a dependency of a handler does not exist in this build yet (drift scans, rule sync, the
runbook registry and incident journal for healing, WinRM credential checks), the handler validates
its parameters and then fails with a result that says so; those pieces plug in through
:class:`Hooks`.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from agent.log import get_logger
from agent.orders.verify import VerifiedOrder
from agent.runbooks.aliases import Refusal, RunbookLookup, resolve
from agent.state.atomic import atomic_write, ensure_dir
from agent.state.healing_switch import HEALING_FILE, healing_switch

log = get_logger("orders")

OUTPUT_CAP = 2000
CHECKIN_TRIGGER_MIN_S = 60.0
WINRM_PINS = "winrm_pins.json"
INCIDENT_WINDOW = timedelta(hours=24)
_COMMON = frozenset({"site_id", "target_appliance_id"})
_RULE_ID = re.compile(r"[A-Za-z0-9_-]{3,64}", re.ASCII)
_SITE_ID = re.compile(r"[A-Za-z0-9._-]{1,32}", re.ASCII)
_API_KEY = re.compile(r"[A-Za-z0-9_=-]{40,}", re.ASCII)
_HOST = re.compile(r"[A-Za-z0-9._:\[\]-]{1,253}", re.ASCII)
_VERSION = re.compile(r"[A-Za-z0-9._+-]{1,64}", re.ASCII)
L1_ACTIONS = frozenset({
    "run_windows_runbook", "run_linux_runbook", "run_macos_runbook", "run_runbook", "escalate",
    "restore_firewall_baseline", "restart_av_service", "update_to_baseline_generation",
    "run_backup_job", "restart_logging_services", "renew_certificate", "cleanup_disk_space",
    "restart_service"})
ISO_HOSTS = ("api.osiriscare.net", "release.osiriscare.net")


class HandlerError(Exception):
    """The order failed; ``message`` becomes ``error_message``, ``result`` is posted with it."""

    def __init__(self, message: str, result: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.result = result


# --- what handlers may use ---------------------------------------------------------------------

class IncidentJournal(Protocol):
    """The incident journal of central-api.md §7.8: what this agent reported."""

    def lookup(self, host_id: str, check_type: str, since: datetime) -> Any: ...

    def open_incident(self, server_id: str, since: datetime) -> Any: ...


@dataclass
class Hooks:
    """Entry points into the rest of the agent; ``None`` = not available in this build."""

    trigger_checkin: Callable[[], None] | None = None
    sync_rules: Callable[[], Awaitable[None]] | None = None
    run_drift: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]] | None = None
    reload_rules: Callable[[], None] | None = None
    restart: Callable[[], None] | None = None
    read_logs: Callable[[int], Awaitable[str]] | None = None
    status: Callable[[], dict[str, Any]] | None = None
    runbooks: RunbookLookup | None = None
    incidents: IncidentJournal | None = None
    healing_paused: Callable[[], str | None] | None = None  # maintenance / billing hold
    disabled_checks: Callable[[], frozenset[str]] | None = None
    known_targets: Callable[[str], set[str]] | None = None  # platform -> hosts
    store_summary: Callable[[], dict[str, Any]] | None = None
    outbox_pending: Callable[[], int] | None = None
    #: Run a verified healing order's runbook on the signed host (healing.md §4.2 steps 11–12):
    #: ``(host, check_type, runbook_id, runbook params) -> result``; raises HandlerError.
    run_heal: Callable[[str, str, str, dict[str, Any]], Awaitable[dict[str, Any]]] | None = None
    #: The privileged helper's client (``agent.priv.client.PrivClient``) and the update paths'
    #: settings (``agent.update.settings.UpdateSettings``), for :mod:`agent.orders.system`.
    priv: Any = None
    updates: Any = None
    #: The workstation-agent deployment orders' access (``agent.orders.deploy.DeployAccess``).
    deploy: Any = None


@dataclass
class HandlerContext:
    order: VerifiedOrder
    appliance_id: str
    site_id: str
    state_dir: Path
    config_path: Path | None
    hooks: Hooks
    memo: dict[str, Any] = field(default_factory=dict)  # per-worker state (rate limits)
    #: Set by restart-type handlers: run after the completion was posted (orders.md §5.4).
    after_completion: Callable[[], None] | None = None
    restart_in_s: float = 0.0
    #: Set by the worker: a handler whose completion is posted after a restart
    #: (agent.update.pending) calls it with its result **before** it starts the switch; the
    #: outcome is then durably ``deferred`` and nothing is posted now.
    mark_deferred: Callable[[dict[str, Any]], None] | None = None
    deferred: bool = False

    def hook(self, name: str) -> Any:
        return getattr(self.hooks, name)


Handler = Callable[[dict[str, Any], HandlerContext], Awaitable[dict[str, Any]]]


# --- parameter validation ----------------------------------------------------------------------

def _only(params: dict[str, Any], *allowed: str) -> None:
    extra = sorted(set(params) - set(allowed) - _COMMON)
    if extra:
        raise HandlerError(f"unexpected parameters: {', '.join(extra)}")


def _str(params: dict[str, Any], key: str, *, required: bool = False, max_len: int = 256,
         pattern: re.Pattern[str] | None = None) -> str | None:
    value = params.get(key)
    if value is None:
        if required:
            raise HandlerError(f"parameter {key} is required")
        return None
    if not isinstance(value, str) or (required and not value):
        raise HandlerError(f"parameter {key} must be a non-empty string")
    if len(value) > max_len or re.search(r"[\x00-\x1f\x7f]", value):
        raise HandlerError(f"parameter {key} is too long or contains control characters")
    if pattern is not None and not pattern.fullmatch(value):
        raise HandlerError(f"parameter {key} has an invalid format")
    return value


def _bool(params: dict[str, Any], key: str, default: bool) -> bool:
    value = params.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise HandlerError(f"parameter {key} must be a boolean")
    return value


def _int(params: dict[str, Any], key: str, default: int, lo: int, hi: int, *,
         numeric_strings: bool = False) -> int:
    value = params.get(key, default)
    if value is None:
        return default
    if isinstance(value, str) and numeric_strings:
        try:
            value = float(value.strip())
        except ValueError:
            raise HandlerError(f"parameter {key} must be a number") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise HandlerError(f"parameter {key} must be a number")
    if isinstance(value, float) and (not math.isfinite(value) or value != int(value)):
        raise HandlerError(f"parameter {key} must be a whole number")
    n = int(value)
    if not lo <= n <= hi:
        raise HandlerError(f"parameter {key} must be between {lo} and {hi}")
    return n


# --- subprocesses (argv only, never a shell) ---------------------------------------------------

async def run_argv(argv: list[str], limit_s: float = 60.0) -> tuple[int, str]:
    """Run a fixed command; returns (exit code, combined output). 127 if the tool is missing."""
    exe = shutil.which(argv[0])
    if exe is None:
        return 127, f"{argv[0]}: command not found"
    proc = await asyncio.create_subprocess_exec(
        exe, *argv[1:], stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C"})
    try:
        async with asyncio.timeout(limit_s):
            out, _ = await proc.communicate()
    except BaseException:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    return proc.returncode or 0, out.decode("utf-8", "replace")


def cap_output(text: str, limit: int = OUTPUT_CAP) -> str:
    return text if len(text) <= limit else text[:limit] + "\n... (truncated)"


# --- handlers ----------------------------------------------------------------------------------

def _trigger_checkin(ctx: HandlerContext) -> None:
    trigger = ctx.hooks.trigger_checkin
    if trigger is None:
        raise HandlerError("checkin trigger not available")
    now = time.monotonic()
    last = ctx.memo.get("checkin_trigger")
    if last is None or now - last >= CHECKIN_TRIGGER_MIN_S:  # at most one per minute
        ctx.memo["checkin_trigger"] = now
        trigger()


async def force_checkin(params: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
    _only(params, "reason", "stop")
    _str(params, "reason", max_len=1024)
    _trigger_checkin(ctx)
    return {"status": "checkin_triggered"}


async def update_credentials(params: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
    _only(params, "reason")
    _trigger_checkin(ctx)
    return {"status": "credential_refresh_triggered"}


async def run_drift(params: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
    _only(params, "mode", "profile_id", "profile_name", "hints")
    mode = _str(params, "mode", max_len=64)
    if mode not in (None, "app_discovery"):
        raise HandlerError("parameter mode must be app_discovery when given")
    if mode == "app_discovery":
        _str(params, "profile_id", required=True, max_len=128)
        _str(params, "profile_name", max_len=256)
        hints = params.get("hints")
        if hints is not None and not isinstance(hints, dict | list):
            raise HandlerError("parameter hints must be an object or a list")
    if ctx.hooks.run_drift is None:
        raise HandlerError("drift scanning is not available in this agent build yet",
                           {"status": "failed", "error": "scan engine not available"})
    return await ctx.hooks.run_drift(params)


async def sync_rules(params: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
    _only(params)
    if ctx.hooks.sync_rules is None:
        raise HandlerError("L1 rule sync is not available in this agent build yet",
                           {"status": "failed", "error": "rule sync not available"})
    await ctx.hooks.sync_rules()
    return {"status": "sync_triggered"}


async def restart_agent(params: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
    _only(params, "reason")
    restart = ctx.hooks.restart
    if restart is None:
        raise HandlerError("agent restart is not available")
    ctx.after_completion = restart
    return {"status": "restart_scheduled"}


async def update_iso(params: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
    version = _str(params, "version", required=True, pattern=_VERSION)
    url = _str(params, "iso_url", required=True, max_len=2048)
    assert url is not None
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme != "https" or parts.hostname not in ISO_HOSTS:
        raise HandlerError("parameter iso_url must be an https URL on an allowed host")
    return {"status": "update_received", "version": version,
            "message": "ISO update acknowledged; installation is done by the ISO rollout"}


async def _default_logs(lines: int) -> str:
    code, out = await run_argv(["journalctl", "-u", "msp-agent.service", "-n", str(lines),
                                "--no-pager", "-o", "cat"], limit_s=20)
    if code != 0:
        raise HandlerError(f"agent journal unavailable: {cap_output(out, 200)}")
    return out


async def view_logs(params: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
    _only(params, "lines")
    lines = _int(params, "lines", 50, 1, 500)
    reader = ctx.hooks.read_logs or _default_logs
    text = await reader(lines)
    kept = text.splitlines()[-lines:]
    return {"logs": "\n".join(kept), "lines": len(kept)}


_DIAG_ARGV: dict[str, list[str]] = {
    "system_logs": ["journalctl", "-n", "100", "--no-pager"],
    "disk_usage": ["df", "-h"],
    "memory": ["free", "-h"],
    "uptime": ["uptime"],
    "network": ["ip", "addr", "show"],
    "time_sync": ["timedatectl", "status"],
    "nix_generations": ["nix-env", "--list-generations", "-p", "/nix/var/nix/profiles/system"],
    "current_system": ["readlink", "-f", "/run/current-system"],
    "services": ["systemctl", "list-units", "--type=service", "--state=running", "--no-pager"],
    "firewall": ["nft", "list", "ruleset"],
    "nic_list": ["ip", "link", "show"],
    "mount_root": ["findmnt", "/"],
    "wireguard": ["wg", "show"],
}
_DIAG_FILES = {"dns": "/etc/resolv.conf", "boot_source": "/proc/cmdline"}
#: Diagnostics that need privileges: through the privileged helper when it is configured
#: (runtime.md §10.4), else run directly (and refused by the system, saying so).
_DIAG_PRIV = {"firewall": "nft-list-ruleset", "wireguard": "wg-show"}
DIAGNOSTIC_COMMANDS = frozenset({*_DIAG_ARGV, *_DIAG_FILES, "agent_status", "agent_logs",
                                 "evidence_queue", "rebuild_status", "order_nonces"})


async def diagnostic(params: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
    _only(params, "command")
    command = _str(params, "command", required=True, max_len=64)
    if command not in DIAGNOSTIC_COMMANDS:
        raise HandlerError("parameter command is not an allowed diagnostic command")
    code, out = 0, ""
    if command in _DIAG_PRIV and ctx.hooks.priv is not None:
        code, out = await _diag_priv(ctx, _DIAG_PRIV[command])
    elif command in _DIAG_ARGV:
        code, out = await run_argv(_DIAG_ARGV[command], limit_s=100)
    elif command in _DIAG_FILES:
        try:
            out = await asyncio.to_thread(Path(_DIAG_FILES[command]).read_text, errors="replace")
        except OSError as exc:
            code, out = 1, f"{_DIAG_FILES[command]}: {exc.strerror}"
    elif command == "agent_status":
        doc = ctx.hooks.status() if ctx.hooks.status else _read_json(ctx.state_dir / "status.json")
        out = json.dumps(doc, indent=1, default=str)
    elif command == "agent_logs":
        out = await (ctx.hooks.read_logs or _default_logs)(100)
    elif command == "evidence_queue":
        spool = ctx.state_dir / "evidence"
        out = "\n".join(sorted(p.name for p in spool.iterdir())) if spool.is_dir() else \
            "no evidence spool"
    elif command == "rebuild_status":
        out = "no rebuild watchdog in this agent build"
    elif command == "order_nonces":
        out = json.dumps(ctx.hooks.store_summary() if ctx.hooks.store_summary else {})
    return {"command": command, "exit_code": code, "output": cap_output(out)}


async def _diag_priv(ctx: HandlerContext, action: str) -> tuple[int, str]:
    from agent.priv.client import PrivError

    try:
        res = await ctx.hooks.priv.run(action)
    except PrivError as exc:
        return 1, f"privileged helper: {exc}"
    code = res.exit_code if isinstance(res.exit_code, int) else 1
    return code, res.stdout or res.stderr or (res.error or "")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {"error": f"{path.name} not available"}


def _sensor_stub(kind: str) -> Handler:
    async def handler(params: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
        _only(params, "hostname", "ip_address", "os_type", "domain")
        host = params.get("hostname")
        if not isinstance(host, str) or not host:  # the Go daemon's answer (processor.go)
            raise HandlerError("hostname is required")
        _str(params, "hostname", max_len=253)
        what = "removal" if kind.startswith("remove") else "deployment"
        return {"status": "not_implemented", "hostname": host,
                "error": f"sensor {what} via fleet orders is not yet implemented"}
    handler.__name__ = kind
    return handler


async def sensor_status(params: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
    _only(params)
    return {"status": "registry_unavailable",
            "error": "the workstation agent registry is not available in this agent build"}


def _validate_rule(rule_id: str, text: str) -> None:
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        raise HandlerError("rule_yaml is not valid YAML") from None
    if not isinstance(doc, dict):
        raise HandlerError("rule_yaml is not a mapping")
    if doc.get("id") != rule_id:
        raise HandlerError("rule_yaml id does not equal rule_id")
    if not isinstance(doc.get("name"), str) or not doc["name"]:
        raise HandlerError("rule_yaml has no name")
    conds = doc.get("conditions")
    if not isinstance(conds, list) or not conds or not all(
            isinstance(c, dict) and isinstance(c.get("field"), str) and c["field"]
            and isinstance(c.get("operator"), str) and c["operator"] for c in conds):
        raise HandlerError("rule_yaml needs at least one condition with field and operator")
    action = doc.get("action")
    base = action.split(":", 1)[0] if isinstance(action, str) else ""
    if base not in L1_ACTIONS:
        raise HandlerError("rule_yaml action is not in the L1 action allowlist")


async def sync_promoted_rule(params: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
    _only(params, "rule_id", "rule_yaml", "runbook_id", "promoted_at")
    rule_id = _str(params, "rule_id", required=True, pattern=_RULE_ID)
    text = params.get("rule_yaml")
    if not isinstance(text, str) or not text or len(text.encode("utf-8", "replace")) > 8192:
        raise HandlerError("parameter rule_yaml must be a non-empty string of at most 8 KiB")
    _str(params, "runbook_id", max_len=128)
    _str(params, "promoted_at", max_len=64)
    assert rule_id is not None
    _validate_rule(rule_id, text)
    folder = ensure_dir(ctx.state_dir / "rules" / "promoted")
    path = folder / f"{rule_id}.yaml"
    if path.exists():
        return {"status": "already_exists", "rule_id": rule_id}
    atomic_write(path, text.encode("utf-8"), 0o600)
    if ctx.hooks.reload_rules is not None:
        ctx.hooks.reload_rules()
    return {"status": "deployed", "rule_id": rule_id}


async def _set_healing(params: dict[str, Any], ctx: HandlerContext, on: bool) -> dict[str, Any]:
    _only(params, "reason")
    reason = _str(params, "reason", max_len=1024)
    atomic_write(ctx.state_dir / HEALING_FILE, b"true\n" if on else b"false\n", 0o600)
    log.warning("orders.healing_switch", f"healing {'enabled' if on else 'disabled'} by order",
                order_id=ctx.order.order_id)
    return {"healing_enabled": on, "reason": reason or ""}


async def disable_healing(params: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
    return await _set_healing(params, ctx, False)


async def enable_healing(params: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
    return await _set_healing(params, ctx, True)


async def disable_emergency_access(params: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
    _only(params, "reason", "disabled_by")
    _str(params, "reason", max_len=1024)
    _str(params, "disabled_by", max_len=256)
    return {"status": "emergency_access_disabled",
            "message": "no emergency access tunnel is active"}


async def validate_credential(params: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
    _only(params, "credential_id", "hostname", "credential_type")
    cred = _str(params, "credential_id", required=True, max_len=128)
    host = _str(params, "hostname", max_len=253)
    ctype = _str(params, "credential_type", max_len=64)
    raise HandlerError("credential validation over WinRM is not available in this agent build yet",
                       {"credential_id": cred, "hostname": host or "",
                        "credential_type": ctype or "", "can_connect": False,
                        "can_read_ad": False, "is_domain_admin": False,
                        "errors": ["WinRM credential validation not available"]})


async def clear_winrm_pin(params: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
    _only(params, "hostname")
    host = _str(params, "hostname", required=True, pattern=_HOST)
    assert host is not None
    path = ctx.state_dir / WINRM_PINS
    try:
        pins = json.loads(path.read_bytes())
    except FileNotFoundError:
        pins = {}
    except (OSError, ValueError):
        raise HandlerError(f"{WINRM_PINS} is unreadable") from None
    if not isinstance(pins, dict):
        raise HandlerError(f"{WINRM_PINS} is not a JSON object")
    keep = {k: v for k, v in pins.items() if k != host and not k.startswith(host + ":")}
    if len(keep) != len(pins):
        atomic_write(path, json.dumps(keep, indent=1).encode(), 0o600)
    return {"status": "cleared", "hostname": host}


def _replace_scalar(text: str, key: str, value: str) -> str:
    import yaml

    root = yaml.compose(text, Loader=yaml.SafeLoader) if text.strip() else None
    quoted = json.dumps(value)
    if root is not None and not isinstance(root, yaml.MappingNode):
        raise HandlerError("config is not a YAML mapping")
    for k, v in (root.value if root is not None else []):
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            if not isinstance(v, yaml.ScalarNode) or v.style in ("|", ">") or \
                    v.end_mark.index <= v.start_mark.index:
                raise HandlerError(f"config key {key} is not a simple scalar")
            return text[:v.start_mark.index] + quoted + text[v.end_mark.index:]
    sep = "" if not text or text.endswith("\n") else "\n"
    return f"{text}{sep}{key}: {quoted}\n"


async def reprovision(params: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
    _only(params, "new_site_id", "new_api_key", "new_host_id", "restart_delay_sec")
    signed_target = ctx.order.target_appliance_id or params.get("target_appliance_id")
    if signed_target != ctx.appliance_id:
        raise HandlerError("reprovision requires a signed target_appliance_id equal to this "
                           "appliance")
    new_site = _str(params, "new_site_id", required=True, pattern=_SITE_ID)
    key = params.get("new_api_key")
    if not isinstance(key, str) or not _API_KEY.fullmatch(key):
        raise HandlerError("parameter new_api_key must be at least 40 URL-safe base64 characters")
    _str(params, "new_host_id", max_len=256)
    delay = _int(params, "restart_delay_sec", 5, 0, 59)
    if ctx.config_path is None or ctx.hooks.restart is None:
        raise HandlerError("reprovision is not available (no config file or restart hook)")
    assert new_site is not None
    from agent.config.write import replace_api_key_text
    from agent.log import register_secret

    register_secret(key)
    text = ctx.config_path.read_text(encoding="utf-8")
    out = replace_api_key_text(_replace_scalar(text, "site_id", new_site), key)
    import yaml

    check = yaml.safe_load(out)
    if not isinstance(check, dict) or check.get("site_id") != new_site or \
            check.get("api_key") != key:
        raise HandlerError("rewritten config does not parse back to the new site and key")
    backup = ctx.config_path.with_name(ctx.config_path.name + ".pre-reprovision")
    atomic_write(backup, text.encode("utf-8"), 0o600)
    atomic_write(ctx.config_path, out.encode("utf-8"), 0o600)
    restart = ctx.hooks.restart
    ctx.restart_in_s = float(delay)
    ctx.after_completion = restart
    log.warning("orders.reprovisioned", "config rewritten for a new site; restarting after the "
                "completion is posted", old_site_id=ctx.site_id, new_site_id=new_site)
    return {"status": "reprovisioned", "old_site_id": ctx.site_id, "new_site_id": new_site,
            "restart_in_sec": delay, "next_step": "agent restarts with the new site and API key"}


def _blocked(reason: str, **extra: Any) -> HandlerError:
    return HandlerError(reason, {"status": "blocked", "reason": reason, **extra})


async def healing(params: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
    """Run one of the agent's runbooks for an incident this agent reported (orders.md §5.2/§5.3,
    docs/server-compat.md "Healing orders").

    The signature covers the runbook id, the appliance and the expiry, never the host. What the
    order heals is therefore **selected from this agent's own records**, never taken from it:

    * with the unsigned ``hostname`` and ``check_type`` selectors (orders.md §5.3): an incident
      this agent reported for exactly that pair in the last 24 h;
    * with only the unsigned ``incident_id`` (what Central Command actually sends: it drops the
      hostname and check type): the incident whose report the server answered with that id, which
      this agent reported in the last 24 h and **still holds open** (not healed here since);
    * anything else (no selector, a selector of the wrong type, an id this agent never reported,
      an incident healed or forgotten since) is refused.

    The signed ``runbook_id`` must then apply to that incident's check type: an agent runbook that
    declares it, or a server catalogue id with a reviewed entry for it in
    :mod:`agent.runbooks.aliases`; no entry, no run. The gates of §5.2, ``disabled_checks`` and the
    known-target rule (§5.3 step 4) follow. Every refusal is a failure completion with
    ``{"status": "blocked", "reason": ...}``.

    A fleet-form healing order (signed ``order_type``) runs only on a signed ``hostname``.
    """
    order = ctx.order
    runbook = order.runbook_id
    info = {"runbook_id": runbook or "", "incident_id": order.selectors.get("incident_id")}
    if not healing_switch(ctx.state_dir):
        raise _blocked("healing paused: healing disabled by order", **info)
    paused = ctx.hooks.healing_paused() if ctx.hooks.healing_paused else None
    if paused:
        raise _blocked(f"healing paused: {paused}", **info)
    label = ""
    if order.form == "order":  # fleet form: the host must be signed
        host = params.get("hostname")
        if not isinstance(host, str) or not host:
            raise _blocked("healing order without a signed target host", **info)
        check_type = params.get("check_type")
        if not isinstance(check_type, str) or not check_type:
            raise _blocked("healing order without a signed check_type", **info)
    else:
        host, check_type, label = _select_incident(order.selectors, ctx, info)
    if not runbook:
        raise _blocked("no runbook_id in the signed order", **info)
    registry = ctx.hooks.runbooks
    if registry is None:
        raise _blocked("embedded runbook registry not available in this agent build", **info)
    resolved = resolve(registry, runbook, check_type, label)
    if isinstance(resolved, Refusal):
        raise _blocked(f"runbook does not apply to the incident: {resolved.detail}", **info)
    info["agent_runbook_id"] = resolved.id
    disabled = ctx.hooks.disabled_checks() if ctx.hooks.disabled_checks else frozenset()
    if check_type in disabled:
        raise _blocked("check type disabled by the server", **info)
    targets = ctx.hooks.known_targets(resolved.platform) if ctx.hooks.known_targets else set()
    if host not in targets:
        raise _blocked("target is not a known target of the runbook's platform", **info)
    if ctx.hooks.run_heal is None:
        raise _blocked("runbook execution not available in this agent build", **info)
    runbook_params = params.get("params")
    result = await ctx.hooks.run_heal(host, check_type, resolved.id,
                                      runbook_params if isinstance(runbook_params, dict) else {})
    return {**result, "runbook_id": runbook, "agent_runbook_id": resolved.id,
            "incident_id": info["incident_id"]}


def _select_incident(selectors: dict[str, Any], ctx: HandlerContext,
                     info: dict[str, Any]) -> tuple[str, str, str]:
    """(real host, check type, target label) of the incident a healing-form order selects."""
    journal = ctx.hooks.incidents
    if journal is None:
        raise _blocked("incident journal not available in this agent build", **info)
    since = datetime.now(UTC) - INCIDENT_WINDOW
    host, check_type = selectors.get("hostname"), selectors.get("check_type")
    incident_id = selectors.get("incident_id")
    if host is not None or check_type is not None:
        if not isinstance(host, str) or not isinstance(check_type, str):
            raise _blocked("hostname and check_type selectors are required together", **info)
        found = journal.lookup(host, check_type, since)
        if found is None:
            raise _blocked("no matching incident reported by this agent in the last 24 h",
                           **info)
    elif isinstance(incident_id, str) and incident_id:
        found = journal.open_incident(incident_id, since)
        if found is None:
            raise _blocked("incident_id does not name an open incident this agent reported in "
                           "the last 24 h", **info)
    else:
        raise _blocked("no selector: the order names neither hostname and check_type nor an "
                       "incident_id", **info)
    return str(found.host), str(found.check_type), str(getattr(found, "label", "") or "")


HANDLERS: dict[str, Handler] = {
    "force_checkin": force_checkin,
    "run_drift": run_drift,
    "sync_rules": sync_rules,
    "restart_agent": restart_agent,
    "update_iso": update_iso,
    "view_logs": view_logs,
    "diagnostic": diagnostic,
    "deploy_sensor": _sensor_stub("deploy_sensor"),
    "remove_sensor": _sensor_stub("remove_sensor"),
    "deploy_linux_sensor": _sensor_stub("deploy_linux_sensor"),
    "remove_linux_sensor": _sensor_stub("remove_linux_sensor"),
    "sensor_status": sensor_status,
    "sync_promoted_rule": sync_promoted_rule,
    "healing": healing,
    "update_credentials": update_credentials,
    "validate_credential": validate_credential,
    "disable_healing": disable_healing,
    "enable_healing": enable_healing,
    "disable_emergency_access": disable_emergency_access,
    "reprovision": reprovision,
    "clear_winrm_pin": clear_winrm_pin,
}
