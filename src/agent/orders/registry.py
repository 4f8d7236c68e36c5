"""The order-type registry (orders.md §10.1) and per-type timeouts (§10.2).

Only data lives here, so the verifier (step 12) can consult it without importing the handlers.
``must`` types have a handler in :mod:`agent.orders.handlers`; ``later`` and ``never`` types are
answered ``unsupported_order_type``; watchdog types are ``wrong_recipient`` (step 8a).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["must", "later", "never"]

MINUTE = 60.0


@dataclass(frozen=True, slots=True)
class TypeInfo:
    name: str
    status: Status
    timeout_s: float = 2 * MINUTE
    #: Re-running after a crash mid-execution is harmless (the issue's "declared idempotent"):
    #: such an order is re-run at start-up instead of being reported as interrupted.
    idempotent: bool = False
    #: The handler completes before the agent restarts (orders.md §5.4).
    restarts: bool = False


def _t(name: str, status: Status, timeout_s: float = 2 * MINUTE, *, idempotent: bool = False,
       restarts: bool = False) -> TypeInfo:
    return TypeInfo(name, status, timeout_s, idempotent, restarts)


REGISTRY: dict[str, TypeInfo] = {t.name: t for t in (
    # must
    _t("force_checkin", "must", idempotent=True),
    _t("run_drift", "must"),
    _t("sync_rules", "must", idempotent=True),
    _t("restart_agent", "must", restarts=True),
    _t("update_iso", "must", 15 * MINUTE, idempotent=True),
    _t("view_logs", "must", 30.0, idempotent=True),
    _t("diagnostic", "must", idempotent=True),
    _t("deploy_sensor", "must", 5 * MINUTE, idempotent=True),
    _t("remove_sensor", "must", idempotent=True),
    _t("deploy_linux_sensor", "must", 5 * MINUTE, idempotent=True),
    _t("remove_linux_sensor", "must", idempotent=True),
    _t("sensor_status", "must", idempotent=True),
    _t("sync_promoted_rule", "must", idempotent=True),
    _t("healing", "must", 5 * MINUTE),
    _t("update_credentials", "must", idempotent=True),
    _t("validate_credential", "must", 30.0, idempotent=True),
    _t("disable_healing", "must", idempotent=True),
    _t("enable_healing", "must", idempotent=True),
    _t("disable_emergency_access", "must", idempotent=True),
    _t("reprovision", "must", restarts=True),
    _t("nix_gc", "must", 30 * MINUTE),
    _t("clear_winrm_pin", "must", idempotent=True),
    _t("nixos_rebuild", "must", 30 * MINUTE),
    _t("update_agent", "must", 10 * MINUTE),
    _t("update_daemon", "must", 10 * MINUTE),
    _t("configure_workstation_agent", "must", 4 * MINUTE),
    _t("remove_agent", "must", 2 * MINUTE, idempotent=True),
    # later
    _t("rotate_wg_key", "later"),
    _t("isolate_host", "later"),
    _t("enable_emergency_access", "later"),
    _t("configure_dns", "later"),
    _t("run_runbook", "later"),
    _t("restart_service", "later"),
    _t("collect_logs", "later"),
    _t("reboot", "later"),
    _t("run_discovery", "later"),
    # never
    _t("chaos_quicktest", "never"),
    _t("run_command", "never"),
    _t("enable_recovery_shell_24h", "never"),
    *(_t(f"watchdog_{n}", "never") for n in (
        "restart_daemon", "refetch_config", "reset_pin_store", "reset_api_key", "redeploy_daemon",
        "collect_diagnostics")),
)}

MUST_TYPES: tuple[str, ...] = tuple(n for n, t in REGISTRY.items() if t.status == "must")


def is_watchdog_type(order_type: str) -> bool:
    """Types addressed to the separate watchdog service (orders.md §4 step 8a)."""
    return order_type.startswith("watchdog_") or order_type == "enable_recovery_shell_24h"


def timeout_of(order_type: str) -> float:
    info = REGISTRY.get(order_type)
    return info.timeout_s if info is not None else 2 * MINUTE
