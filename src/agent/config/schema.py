"""The configuration schema: every key of runtime.md §2.2 and §2.3, typed, with defaults.

:class:`Config` is the validated, effective configuration (a frozen msgspec Struct). The
per-key facts that the type alone cannot carry (clamp bounds, whether a key is secret or
hot-reloadable, whether the Go daemon reads it) live in :data:`KEYS`.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

DEFAULT_STATE_DIR = "/var/lib/msp"
DEFAULT_CONFIG_PATH = "/var/lib/msp/config.yaml"

# healing.md §5.5: the L2 action allowlist when the config does not replace it.
DEFAULT_L2_ALLOWED_ACTIONS: tuple[str, ...] = (
    "restart_service",
    "enable_service",
    "configure_firewall",
    "apply_gpo",
    "enable_bitlocker",
    "fix_audit_policy",
    "apply_ssh_hardening",
    "fix_ntp",
    "fix_permissions",
    "enable_defender",
    "fix_password_policy",
    "execute_runbook",
    "configure_screen_lock",
    "enable_screen_lock",
    "escalate",
)


class Config(msgspec.Struct, kw_only=True, frozen=True):
    """Effective configuration. Field order follows runtime.md §2.2 then §2.3."""

    # --- runtime.md §2.2: keys read by the Go daemon -------------------------------------
    site_id: str
    api_key: str
    api_endpoint: str = "https://api.osiriscare.net"
    poll_interval: int = 60
    enable_drift_detection: bool = True
    enable_evidence_upload: bool = True
    enable_l1_sync: bool = True
    healing_enabled: bool = True
    healing_dry_run: bool = False
    l2_enabled: bool = True
    l2_api_timeout: int = 30
    l2_daily_budget_usd: float = 10.0
    l2_max_calls_per_hour: int = 60
    l2_max_concurrent_calls: int = 3
    l2_allowed_actions: tuple[str, ...] = DEFAULT_L2_ALLOWED_ACTIONS
    state_dir: str = DEFAULT_STATE_DIR
    log_level: str = "INFO"
    workstation_enabled: bool = True
    domain_controller: str | None = None
    dc_username: str | None = None
    dc_password: str | None = None
    worm_enabled: bool = False
    worm_mode: str = "proxy"
    worm_retention_days: int = 90
    worm_auto_upload: bool = True
    grpc_port: int = 50051
    ca_dir: str = "/var/lib/msp/ca"
    use_go_daemon: bool = False
    ad_dns_server: str | None = None
    require_signed_rules: bool = False
    tls_pin_hash: str | None = None
    # --- runtime.md §2.3: keys added by this agent ----------------------------------------
    grpc_hub_enabled: bool = False
    phi_hash_key: str | None = None
    phi_hash_mode: str = "hmac"
    rules_sync_interval: int = 3600
    heal_concurrency: int = 2
    heal_max_per_host_per_hour: int = 6
    heal_max_per_hour: int = 60
    scan_interval_s: int = 900
    scan_rescan_s: int = 300
    netscan_interval_s: int = 180
    scan_concurrency: int = 8
    scan_host_timeout_windows_s: int = 120
    scan_host_timeout_linux_s: int = 180
    scan_host_timeout_macos_s: int = 240
    scan_round_deadline_s: int = 600
    # SSH scan settings of the site (linux_cert_expiry / macos_cert_expiry, linux_backup_status):
    # certificate files (globs allowed) and backup locations/unit to watch; empty = script defaults.
    scan_cert_paths: tuple[str, ...] = ()
    scan_backup_paths: tuple[str, ...] = ()
    scan_backup_unit: str = ""
    l2_queue_wait_s: int = 5
    l2_cost_per_call_usd: float = 0.02
    l2_price_input_per_mtok: float = 0.80
    l2_price_output_per_mtok: float = 4.00
    l2_dry_run_plans: bool = False
    ssh_per_host_concurrency: int = 2
    ssh_max_concurrency: int = 12
    ssh_pool_size: int = 64
    ssh_conn_max_age_s: int = 300
    winrm_per_host_concurrency: int = 2
    winrm_max_concurrency: int = 6
    winrm_script_transfer: str = "stdin"
    local_max_concurrency: int = 4
    log_format: str = "json"
    shutdown_timeout_s: int = 20
    # evidence.md §5.2: evidence spool / dead-letter bounds and the free-space floor.
    evidence_spool_max_bytes: int = 256 * 1024 * 1024
    evidence_spool_max_files: int = 20_000
    evidence_dead_letter_max_bytes: int = 1024 * 1024 * 1024
    evidence_min_free_bytes: int = 1024 * 1024 * 1024
    # evidence.md §6: spooled bundles older than this are dead-lettered unsent (0: never).
    evidence_max_age_seconds: int = 3300
    # orders.md §3: seeds the trusted server key set when server_keys.json does not exist yet.
    server_public_key: str | None = None

    @property
    def tls_pins(self) -> tuple[str, ...]:
        """The configured SPKI SHA-256 pins (lowercase hex), possibly none."""
        if not self.tls_pin_hash:
            return ()
        parts = self.tls_pin_hash.replace(",", " ").split()
        return tuple(p.lower() for p in parts)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """Facts about one key beyond its type."""

    lo: float | None = None  # clamp bounds (inclusive) for numbers
    hi: float | None = None
    choices: tuple[str, ...] = ()  # allowed values (case-insensitive) for enumerations
    secret: bool = False  # masked in output, registered with the log filter
    reload: bool = True  # takes effect on SIGHUP (else "restart required")
    go: bool = True  # read by the Go daemon (runtime.md §2.2)
    ignored: bool = False  # accepted for compatibility, unused


_RESTART = {"site_id", "api_endpoint", "state_dir", "grpc_port", "ca_dir", "grpc_hub_enabled",
            "tls_pin_hash"}
_SECRETS = {"api_key", "dc_password", "phi_hash_key"}
_IGNORED = {"worm_enabled", "worm_mode", "worm_retention_days", "worm_auto_upload",
            "use_go_daemon"}
_BOUNDS: dict[str, tuple[float, float]] = {
    "poll_interval": (10, 3600),
    "l2_api_timeout": (5, 300),
    "l2_daily_budget_usd": (0, 10_000),
    "l2_max_calls_per_hour": (0, 10_000),
    "l2_max_concurrent_calls": (1, 32),
    "worm_retention_days": (0, 36_500),
    "grpc_port": (1, 65_535),
    "rules_sync_interval": (300, 86_400),
    "heal_concurrency": (1, 16),
    "heal_max_per_host_per_hour": (1, 120),
    "heal_max_per_hour": (1, 3600),
    "scan_interval_s": (300, 3600),  # healing.md §6.1
    "scan_rescan_s": (60, 900),
    "netscan_interval_s": (60, 900),
    "scan_concurrency": (1, 64),
    "scan_host_timeout_windows_s": (10, 1800),
    "scan_host_timeout_linux_s": (10, 1800),
    "scan_host_timeout_macos_s": (10, 1800),
    "scan_round_deadline_s": (60, 7200),
    "l2_queue_wait_s": (0, 300),
    "l2_cost_per_call_usd": (0, 100),
    "l2_price_input_per_mtok": (0, 1000),
    "l2_price_output_per_mtok": (0, 1000),
    "ssh_per_host_concurrency": (1, 16),
    "ssh_max_concurrency": (1, 256),
    "ssh_pool_size": (1, 1024),
    "ssh_conn_max_age_s": (10, 86_400),
    "winrm_per_host_concurrency": (1, 16),
    "winrm_max_concurrency": (1, 256),
    "local_max_concurrency": (1, 64),
    "shutdown_timeout_s": (1, 25),  # below the unit's TimeoutStopSec=30s
    "evidence_spool_max_bytes": (1024 * 1024, 64 * 1024 ** 3),
    "evidence_spool_max_files": (10, 1_000_000),
    "evidence_dead_letter_max_bytes": (1024 * 1024, 256 * 1024 ** 3),
    "evidence_min_free_bytes": (0, 64 * 1024 ** 3),
    "evidence_max_age_seconds": (0, 3600),
}
_CHOICES: dict[str, tuple[str, ...]] = {
    "log_level": ("DEBUG", "INFO", "WARNING", "WARN", "ERROR"),
    "log_format": ("json", "text"),
    "phi_hash_mode": ("hmac", "sha256"),
    "winrm_script_transfer": ("stdin", "tempfile"),
}
_OURS_FIRST = "grpc_hub_enabled"


def _build_keys() -> dict[str, KeyInfo]:
    keys: dict[str, KeyInfo] = {}
    go = True
    for name in Config.__struct_fields__:
        if name == _OURS_FIRST:
            go = False
        lo, hi = _BOUNDS.get(name, (None, None))
        keys[name] = KeyInfo(
            lo=lo,
            hi=hi,
            choices=_CHOICES.get(name, ()),
            secret=name in _SECRETS,
            reload=name not in _RESTART,
            go=go,
            ignored=name in _IGNORED,
        )
    return keys


KEYS: dict[str, KeyInfo] = _build_keys()
SECRET_KEYS: frozenset[str] = frozenset(_SECRETS)
