"""Checkin request body: ``POST /api/appliances/checkin`` (central-api.md §6.1-§6.3).

Field order follows the Go daemon's struct (and ``samples/checkin_request*.json``), so a request
built from the sample encodes to exactly the bytes of the first ``vectors/sigauth.json`` case.

Omission rules (the Go daemon's ``omitempty``): fields the table marks "always" have plain defaults
and are always encoded; optional fields default to ``UNSET`` and are left out until set. Empty
lists and empty strings given for optional fields are normalised to ``UNSET`` on construction, as
Go's ``omitempty`` would drop them. Decoding follows the server model: only ``site_id``,
``hostname`` and ``mac_address`` are required, unknown fields are ignored, wrong types fail.
"""

from __future__ import annotations

from typing import ClassVar

from msgspec import UNSET, Struct, UnsetType, field

from agent.protocol.codec import TypedDecoder, encode


class ConnectedAgent(Struct, kw_only=True):
    """One workstation agent connected to this appliance (§6.2). The counters are always sent;
    ``agent_version``, ``ip_address`` and ``os_version`` only when known."""

    agent_id: str
    hostname: str = ""
    agent_version: str | UnsetType = UNSET
    ip_address: str | UnsetType = UNSET
    os_version: str | UnsetType = UNSET
    capability_tier: int = 0
    connected_at: str = ""
    last_heartbeat: str = ""
    drift_count: int = 0
    checks_passed: int = 0
    checks_total: int = 0


class DiscoveredAsset(Struct, kw_only=True):
    """One asset of ``discovery_results.assets[<type>]`` (§6.1)."""

    name: str
    display_name: str = ""
    value: str = ""


class DiscoveryResults(Struct, kw_only=True):
    """``discovery_results``: sent once after application discovery (§6.1)."""

    profile_id: str
    assets: dict[str, list[DiscoveredAsset]] = {}


class DeployResult(Struct, kw_only=True, omit_defaults=True):
    """One ``deploy_results`` entry: outcome of a workstation-agent deployment (§6.1)."""

    device_id: str
    hostname: str = ""
    os_type: str = ""
    status: str  # "success" or "failed"
    agent_id: str = ""
    error: str = ""


class WitnessAttestation(Struct, kw_only=True):
    """One ``witness_attestations`` entry (§6.1, evidence.md §8)."""

    #: Signed or hashed bytes: the egress scrubber checks them, never rewrites them.
    __phi_verbatim__: ClassVar[frozenset[str]] = frozenset(
        {"bundle_id", "bundle_hash", "witness_signature", "witness_public_key"})

    bundle_id: str
    bundle_hash: str
    witness_signature: str
    witness_public_key: str
    source_appliance: str


class DaemonHealth(Struct, kw_only=True):
    """``daemon_health`` (§6.3). Free-form on the server; these names are kept.

    The fields the Go daemon always sent and the ones the server reads are always encoded; the
    agent's own counters and alerts are ``UNSET`` (omitted) until set.
    """

    goroutines: int = 0
    heap_alloc_mb: float = 0.0
    heap_sys_mb: float = 0.0
    gc_pause_ms: float = 0.0
    gc_cycles: int = 0
    num_cpu: int = 0
    uptime_seconds_daemon: int = 0
    mesh_peer_count: int = 0
    mesh_ring_size: int = 1
    wg_access_state: str | UnsetType = UNSET
    wg_access_expires: str | UnsetType = UNSET
    boot_source: str | UnsetType = UNSET
    proc_uptime_raw: str | UnsetType = UNSET
    clocksource: str | UnsetType = UNSET
    runtime: str | UnsetType = UNSET
    evidence_spool_pending: int | UnsetType = UNSET
    evidence_spool_bytes: int | UnsetType = UNSET
    evidence_dead_letter: int | UnsetType = UNSET
    evidence_creation_refused_total: int | UnsetType = UNSET
    completion_outbox_pending: int | UnsetType = UNSET
    trust_alert: str | UnsetType = UNSET
    tls_pin_alert: str | UnsetType = UNSET
    clock_skew_seconds: int | UnsetType = UNSET
    mesh_peer_macs: list[str] | UnsetType = UNSET

    def __post_init__(self) -> None:
        if self.mesh_peer_macs == []:
            self.mesh_peer_macs = UNSET


class CheckinRequest(Struct, kw_only=True):
    """The checkin request body (§6.1)."""

    #: Keys and the heartbeat signature: checked by the egress scrubber, never rewritten.
    __phi_verbatim__: ClassVar[frozenset[str]] = frozenset(
        {"agent_public_key", "agent_identity_public_key", "heartbeat_signature", "wg_pubkey",
         "encryption_public_key"})

    site_id: str
    hostname: str
    mac_address: str
    all_mac_addresses: list[str] = []
    ip_addresses: list[str] = []
    uptime_seconds: int = 0
    agent_version: str = ""
    nixos_version: str = "unknown"
    has_local_credentials: bool = False
    agent_public_key: str | UnsetType = UNSET
    agent_identity_public_key: str = ""
    boot_source: str = "unknown"
    heartbeat_signature: str | UnsetType = UNSET
    heartbeat_timestamp: int | UnsetType = UNSET
    wg_pubkey: str | UnsetType = UNSET
    wg_connected: bool = False
    wg_ip: str | UnsetType = UNSET
    connected_agents: list[ConnectedAgent] | UnsetType = UNSET
    discovery_results: DiscoveryResults | UnsetType = UNSET
    encryption_public_key: str = ""
    daemon_health: DaemonHealth = field(default_factory=lambda: DaemonHealth())
    boot_counter: int = 0
    generation_uuid: str | UnsetType = UNSET
    reconcile_needed: bool = False
    reconcile_signals: list[str] = []
    deploy_results: list[DeployResult] | UnsetType = UNSET
    witness_attestations: list[WitnessAttestation] | UnsetType = UNSET

    def __post_init__(self) -> None:
        # Go's omitempty: an empty optional list or string is not sent.
        if self.connected_agents == []:
            self.connected_agents = UNSET
        if self.deploy_results == []:
            self.deploy_results = UNSET
        if self.witness_attestations == []:
            self.witness_attestations = UNSET
        for name in ("agent_public_key", "heartbeat_signature", "wg_pubkey", "wg_ip", "generation_uuid"):
            if getattr(self, name) == "":
                setattr(self, name, UNSET)


_DECODE_REQUEST = TypedDecoder(CheckinRequest, "checkin request")


def decode_checkin_request(buf: bytes | bytearray | memoryview | str) -> CheckinRequest:
    """Decode a checkin request body (server side, tests); raises ProtocolError."""
    return _DECODE_REQUEST(buf)


def encode_checkin_request(req: CheckinRequest) -> bytes:
    """Compact JSON bytes of a checkin request (prefer :mod:`agent.protocol.bufpool` in loops)."""
    return encode(req)
