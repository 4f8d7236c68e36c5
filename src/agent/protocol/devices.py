"""Device inventory sync: ``POST /api/devices/sync`` (central-api.md §7.5)."""

from __future__ import annotations

from msgspec import Struct


class Device(Struct, kw_only=True, omit_defaults=True):
    """One discovered device; host names PHI-scrubbed."""

    device_id: str
    ip_address: str
    first_seen_at: str
    last_seen_at: str
    hostname: str | None = None
    mac_address: str | None = None
    device_type: str | None = None
    os_name: str | None = None
    compliance_status: str | None = None  # compliant | drifted | unknown | excluded
    discovery_source: str | None = None  # arp
    open_ports: list[int] | None = None
    os_fingerprint: str | None = None
    distro: str | None = None
    probe_ssh: bool | None = None
    probe_winrm: bool | None = None
    ad_joined: bool | None = None


class IpChange(Struct, kw_only=True, omit_defaults=True):
    """One ``ip_changes[]`` entry."""

    mac_address: str
    old_ip: str
    new_ip: str
    hostname: str | None = None


class DeviceSync(Struct, kw_only=True, omit_defaults=True):
    """The request body."""

    appliance_id: str
    site_id: str
    devices: list[Device]
    total_devices: int
    monitored_devices: int
    excluded_devices: int
    medical_devices: int
    compliance_rate: float
    scan_timestamp: str | None = None
    ip_changes: list[IpChange] | None = None


class DeviceSyncResponse(Struct, kw_only=True):
    """200 body; informational."""

    status: str = ""
    devices_received: int = 0
    devices_updated: int = 0
    devices_created: int = 0
    message: str = ""
