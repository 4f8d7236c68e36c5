"""The configuration schema: every key of runtime.md §2.2 and §2.3, each declared once.

A field of :class:`Config` is the whole description of its key: its type (an enumeration is a
``Literal``, accepted in any case and stored as declared), its default, its bounds
(``Meta(ge=, le=)``; out of range is clamped with a warning, a negative number is an error unless
the key says ``negative="clamp"``) and one :class:`Key` with what the type cannot say. :data:`KEYS`
is derived from the fields, and the loader (typing, clamps, checks, environment overrides),
:data:`SECRET_KEYS`, ``reload_diff`` and ``check-config`` all read it; none lists keys again.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Annotated, Any, Literal, get_args, get_origin

import msgspec
from msgspec import Meta

from agent.config import checks

MiB = 1024 * 1024
GiB = 1024 * MiB
DEFAULT_STATE_DIR = "/var/lib/msp"
DEFAULT_CONFIG_PATH = f"{DEFAULT_STATE_DIR}/config.yaml"

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

LogLevel = Literal["DEBUG", "INFO", "WARNING", "WARN", "ERROR"]
LogFormat = Literal["json", "text"]
PhiHashMode = Literal["hmac", "sha256"]
ScriptTransfer = Literal["stdin", "tempfile"]


@dataclass(frozen=True, slots=True)
class Key:
    """What a key's type, default and bounds cannot say; exactly one per field of :class:`Config`."""

    go: bool = False  # read by the Go daemon, under the same name (runtime.md §2.2)
    secret: bool = False  # masked by check-config, registered with the log filter
    restart: bool = False  # a change waits for a restart (runtime.md §2.5); else applied on SIGHUP
    env: str | None = None  # environment variable that overrides the file (runtime.md §2.4)
    ignored: bool = False  # accepted for compatibility, unused
    negative: Literal["error", "clamp"] = "error"  # a negative number: an error, or clamped up
    check: Callable[[Any], str | None] | None = None  # further validation (agent.config.checks)


class Config(msgspec.Struct, kw_only=True, frozen=True):
    """Effective configuration. Field order follows runtime.md §2.2 then §2.3."""

    # --- runtime.md §2.2: keys read by the Go daemon -------------------------------------
    site_id: Annotated[str, Key(go=True, restart=True)]
    api_key: Annotated[str, Key(go=True, secret=True)]
    api_endpoint: Annotated[str, Key(go=True, restart=True, check=checks.central_endpoint)] = (
        "https://api.osiriscare.net")
    poll_interval: Annotated[int, Meta(ge=10, le=3600), Key(go=True, negative="clamp")] = 60
    enable_drift_detection: Annotated[bool, Key(go=True)] = True
    enable_evidence_upload: Annotated[bool, Key(go=True)] = True
    enable_l1_sync: Annotated[bool, Key(go=True)] = True
    healing_enabled: Annotated[bool, Key(go=True)] = True
    healing_dry_run: Annotated[bool, Key(go=True, env="HEALING_DRY_RUN")] = False
    l2_enabled: Annotated[bool, Key(go=True, env="L2_ENABLED")] = True
    l2_api_timeout: Annotated[int, Meta(ge=5, le=300), Key(go=True)] = 30
    l2_daily_budget_usd: Annotated[float, Meta(ge=0, le=10_000), Key(go=True)] = 10.0
    l2_max_calls_per_hour: Annotated[int, Meta(ge=0, le=10_000), Key(go=True)] = 60
    l2_max_concurrent_calls: Annotated[int, Meta(ge=1, le=32), Key(go=True)] = 3
    l2_allowed_actions: Annotated[tuple[str, ...], Key(go=True)] = DEFAULT_L2_ALLOWED_ACTIONS
    state_dir: Annotated[str, Key(go=True, restart=True, env="STATE_DIR", check=checks.absolute_path)] = (
        DEFAULT_STATE_DIR)
    log_level: Annotated[LogLevel, Key(go=True, env="LOG_LEVEL")] = "INFO"
    workstation_enabled: Annotated[bool, Key(go=True)] = True
    domain_controller: Annotated[str | None, Key(go=True)] = None
    dc_username: Annotated[str | None, Key(go=True)] = None
    dc_password: Annotated[str | None, Key(go=True, secret=True)] = None
    worm_enabled: Annotated[bool, Key(go=True, ignored=True)] = False
    worm_mode: Annotated[str, Key(go=True, ignored=True)] = "proxy"
    worm_retention_days: Annotated[int, Meta(ge=0, le=36_500), Key(go=True, ignored=True)] = 90
    worm_auto_upload: Annotated[bool, Key(go=True, ignored=True)] = True
    grpc_port: Annotated[int, Meta(ge=1, le=65_535), Key(go=True, restart=True)] = 50051
    ca_dir: Annotated[str, Key(go=True, restart=True)] = f"{DEFAULT_STATE_DIR}/ca"
    use_go_daemon: Annotated[bool, Key(go=True, ignored=True)] = False
    ad_dns_server: Annotated[str | None, Key(go=True)] = None
    require_signed_rules: Annotated[bool, Key(go=True)] = False
    tls_pin_hash: Annotated[str | None, Key(go=True, restart=True, check=checks.spki_pins)] = None
    # --- runtime.md §2.3: keys added by this agent ----------------------------------------
    grpc_hub_enabled: Annotated[bool, Key(restart=True, env="MSP_AGENT_GRPC_HUB")] = False
    phi_hash_key: Annotated[str | None, Key(secret=True, check=checks.phi_hash_key)] = None
    phi_hash_mode: Annotated[PhiHashMode, Key()] = "hmac"
    rules_sync_interval: Annotated[int, Meta(ge=300, le=86_400), Key()] = 3600
    heal_concurrency: Annotated[int, Meta(ge=1, le=16), Key()] = 2
    heal_max_per_host_per_hour: Annotated[int, Meta(ge=1, le=120), Key()] = 6
    heal_max_per_hour: Annotated[int, Meta(ge=1, le=3600), Key()] = 60
    scan_interval_s: Annotated[int, Meta(ge=300, le=3600), Key()] = 900  # healing.md §6.1
    scan_rescan_s: Annotated[int, Meta(ge=60, le=900), Key()] = 300
    netscan_interval_s: Annotated[int, Meta(ge=60, le=900), Key()] = 180
    scan_concurrency: Annotated[int, Meta(ge=1, le=64), Key()] = 8
    scan_host_timeout_windows_s: Annotated[int, Meta(ge=10, le=1800), Key()] = 120
    scan_host_timeout_linux_s: Annotated[int, Meta(ge=10, le=1800), Key()] = 180
    scan_host_timeout_macos_s: Annotated[int, Meta(ge=10, le=1800), Key()] = 240
    scan_round_deadline_s: Annotated[int, Meta(ge=60, le=7200), Key()] = 600
    # SSH scan settings of the site (linux_cert_expiry / macos_cert_expiry, linux_backup_status):
    # certificate files (globs allowed) and backup locations/unit to watch; empty = script defaults.
    scan_cert_paths: Annotated[tuple[str, ...], Key()] = ()
    scan_backup_paths: Annotated[tuple[str, ...], Key()] = ()
    scan_backup_unit: Annotated[str, Key()] = ""
    # The appliance's own backup (issue 22): the systemd unit of its backup job, a oneshot the
    # privileged helper may start (`restic-backup` or a name beginning so, e.g. NixOS's
    # `restic-backups-<name>`; `.service` optional). Set: the appliance's scan checks its last run
    # (the `backup` check) and L1-APPL-BACKUP-001 starts it through the helper (APPL-BACKUP-001)
    # when it failed or is older than 26 h. Empty (the default): no backup is configured, no
    # check, no heal.
    appliance_backup_unit: Annotated[str, Key(check=checks.backup_unit)] = ""
    l2_queue_wait_s: Annotated[int, Meta(ge=0, le=300), Key()] = 5
    l2_cost_per_call_usd: Annotated[float, Meta(ge=0, le=100), Key()] = 0.02
    l2_price_input_per_mtok: Annotated[float, Meta(ge=0, le=1000), Key()] = 0.80
    l2_price_output_per_mtok: Annotated[float, Meta(ge=0, le=1000), Key()] = 4.00
    l2_dry_run_plans: Annotated[bool, Key()] = False
    ssh_per_host_concurrency: Annotated[int, Meta(ge=1, le=16), Key()] = 2
    ssh_max_concurrency: Annotated[int, Meta(ge=1, le=256), Key()] = 12
    ssh_pool_size: Annotated[int, Meta(ge=1, le=1024), Key()] = 64
    ssh_conn_max_age_s: Annotated[int, Meta(ge=10, le=86_400), Key()] = 300
    winrm_per_host_concurrency: Annotated[int, Meta(ge=1, le=16), Key()] = 2
    winrm_max_concurrency: Annotated[int, Meta(ge=1, le=256), Key()] = 6
    winrm_script_transfer: Annotated[ScriptTransfer, Key()] = "stdin"
    local_max_concurrency: Annotated[int, Meta(ge=1, le=64), Key()] = 4
    log_format: Annotated[LogFormat, Key(env="MSP_AGENT_LOG_FORMAT")] = "json"
    # below the unit's TimeoutStopSec=30s
    shutdown_timeout_s: Annotated[int, Meta(ge=1, le=25), Key()] = 20
    # evidence.md §5.2: evidence spool / dead-letter bounds and the free-space floor.
    evidence_spool_max_bytes: Annotated[int, Meta(ge=MiB, le=64 * GiB), Key()] = 256 * MiB
    evidence_spool_max_files: Annotated[int, Meta(ge=10, le=1_000_000), Key()] = 20_000
    evidence_dead_letter_max_bytes: Annotated[int, Meta(ge=MiB, le=256 * GiB), Key()] = GiB
    evidence_min_free_bytes: Annotated[int, Meta(ge=0, le=64 * GiB), Key()] = GiB
    # evidence.md §6: spooled bundles older than this are dead-lettered unsent (0: never).
    evidence_max_age_seconds: Annotated[int, Meta(ge=0, le=3600), Key()] = 3300
    # `status` reports degraded while the oldest undelivered evidence bundle is older than this
    # (runtime.md §11; 0: never).
    evidence_undelivered_alert_s: Annotated[int, Meta(ge=0, le=7 * 86_400), Key()] = 3600
    # orders.md §3: seeds the trusted server key set when server_keys.json does not exist yet.
    server_public_key: Annotated[str | None, Key(check=checks.ed25519_public_key)] = None
    # The Prometheus textfile-collector file (node_exporter: `*.prom`) the runtime writes with
    # status.json: figures only, no host names. Unset: msp_agent.prom in the runtime directory
    # ($RUNTIME_DIRECTORY, else <state_dir>/run); "" turns it off.
    metrics_textfile: Annotated[str | None, Key(check=checks.prom_file)] = None
    # --- the workstation hub (grpc_hub_enabled; agent.hub) ---------------------------------
    # The address the hub listens on (port grpc_port). "" = the site-facing address: the local
    # source address toward the domain controller or the first Windows target, else the first
    # non-loopback IPv4 address; every interface only when "0.0.0.0" is set explicitly.
    grpc_bind_address: Annotated[str, Key(restart=True)] = ""
    # Compatibility enrollment for today's Go agents: a Register without CSR gets a certificate
    # AND its private key, only for hosts on the site's target list, one certificate per host
    # until revoked, rate-limited per source address. Logged loudly at every start.
    grpc_hub_compat_enrollment: Annotated[bool, Key()] = False
    # Caps: one gRPC message (refused before it is read), concurrent calls, calls per address.
    grpc_max_message_bytes: Annotated[int, Meta(ge=4096, le=4 * MiB), Key()] = MiB
    grpc_max_streams: Annotated[int, Meta(ge=1, le=10_000), Key()] = 200
    grpc_max_streams_per_peer: Annotated[int, Meta(ge=1, le=64), Key()] = 4
    # orders.md §10.1 (nixos_rebuild, update_daemon, update_agent; README "Updating the agent"):
    # the flake a nixos_rebuild order may name (a regular expression over the whole flake_ref);
    # the hosts artifacts may be downloaded from (https, names only); the release signer's
    # Ed25519 public key (64 hex; unset: update_daemon is refused); an artifact's size cap and
    # download deadline; how long a new release or generation has to check in before it is
    # rolled back; the CA file that verifies download servers (unset: the system's).
    official_flake_pattern: Annotated[str, Key(check=checks.regex)] = (
        r"^github:jbouey/msp-flake#[A-Za-z0-9_-]+$")
    download_allowed_hosts: Annotated[tuple[str, ...], Key(check=checks.host_names)] = (
        "api.osiriscare.net", "release.osiriscare.net")
    release_public_key: Annotated[str | None, Key(check=checks.ed25519_public_key)] = None
    update_max_bytes: Annotated[int, Meta(ge=MiB, le=2 * GiB), Key()] = 256 * MiB
    update_download_timeout_s: Annotated[int, Meta(ge=30, le=3600), Key()] = 600
    update_health_timeout_s: Annotated[int, Meta(ge=60, le=3600), Key()] = 600
    download_ca_file: Annotated[str | None, Key(check=checks.absolute_path)] = None

    @property
    def tls_pins(self) -> tuple[str, ...]:
        """The configured SPKI SHA-256 pins (lowercase hex), possibly none."""
        return checks.split_pins(self.tls_pin_hash)


# --- derived from the declarations ------------------------------------------------------

Kind = Literal["bool", "int", "float", "string", "list"]
_KINDS: dict[object, Kind] = {bool: "bool", int: "int", float: "float", str: "string"}


@dataclass(frozen=True, slots=True)
class KeyInfo(Key):
    """One key as the loader and ``check-config`` see it: its :class:`Key` and its type's facts."""

    name: str = ""
    kind: Kind = "string"
    required: bool = False  # no default: must be given and not blank
    default: object = None
    lo: float | None = None  # bounds (inclusive) of a number
    hi: float | None = None
    choices: tuple[str, ...] = ()  # an enumeration's values, as stored

    @property
    def reload(self) -> bool:
        """Whether a change takes effect on SIGHUP (else "restart required")."""
        return not self.restart

    @property
    def go_name(self) -> str | None:
        """The key's name in the Go daemon's config, if it reads it."""
        return self.name if self.go else None


def _describe(field: msgspec.structs.FieldInfo) -> KeyInfo:
    where = f"Config.{field.name}"
    if get_origin(field.type) is not Annotated:
        raise TypeError(f"{where}: declare it as Annotated[type, ..., Key(...)]")
    base, *meta = get_args(field.type)
    decls = [m for m in meta if isinstance(m, Key)]
    if len(decls) != 1:
        raise TypeError(f"{where}: exactly one Key(...) expected, found {len(decls)}")
    bounds = [m for m in meta if isinstance(m, Meta)]
    if isinstance(base, types.UnionType):  # ``T | None``
        (base,) = [a for a in get_args(base) if a is not type(None)]
    choices: tuple[str, ...] = get_args(base) if get_origin(base) is Literal else ()
    kind: Kind = "string" if choices else "list" if get_origin(base) is tuple else _KINDS[base]
    lo = next((m.ge for m in bounds if m.ge is not None), None)
    hi = next((m.le for m in bounds if m.le is not None), None)
    if kind in ("int", "float") and (lo is None or hi is None):
        raise TypeError(f"{where}: a number needs bounds, Meta(ge=..., le=...)")
    if decls[0].env and kind == "list":
        raise TypeError(f"{where}: a list cannot be overridden from the environment")
    return KeyInfo(**{f.name: getattr(decls[0], f.name) for f in fields(Key)}, name=field.name,
                   kind=kind, required=field.required, default=field.default, lo=lo, hi=hi,
                   choices=choices)


KEYS: dict[str, KeyInfo] = {f.name: _describe(f) for f in msgspec.structs.fields(Config)}
SECRET_KEYS: frozenset[str] = frozenset(k for k, info in KEYS.items() if info.secret)
