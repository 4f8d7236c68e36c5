"""Checkin response body (central-api.md §6.4, §6.6, §9).

Field order and presence follow the live server (``samples/checkin_response*.json``): every field
is always sent, so encoding a decoded sample reproduces it byte for byte (the local Central Command
uses these Structs to answer). ``install_session`` exists only on the live-USB path.

Quirks accepted by the strict decoder: unknown fields, ``encrypted_credentials`` and
``target_assignments`` as ``[]``, ``{}`` or null (kept as received; use
:attr:`CheckinResponse.envelope` and :attr:`CheckinResponse.assignment`, which return ``None`` for
all three). Everything else must have the documented type. The tolerant decoder of §10 g is
:func:`agent.protocol.lenient.parse_checkin_response`.
"""

from __future__ import annotations

from typing import ClassVar

from msgspec import UNSET, Struct, UnsetType

from agent.protocol._secret import masked_repr
from agent.protocol.codec import TypedDecoder, encode
from agent.protocol.credentials import (
    EncryptedCredentials,
    LinuxTarget,
    PendingDeploy,
    WindowsTarget,
)
from agent.protocol.orders import Order
from agent.protocol.reconcile import ReconcilePlan


class PeerBundleHash(Struct, kw_only=True):
    """``peer_bundle_hashes[]``: a sibling's bundle to counter-sign (evidence.md §8)."""

    bundle_id: str
    bundle_hash: str
    source_appliance: str = ""
    source_public_key: str = ""


class MeshPeer(Struct, kw_only=True):
    """``mesh_peers[]``: a sibling appliance ``{mac, ips[]}``."""

    mac: str
    ips: list[str] = []


class TargetAssignments(Struct, kw_only=True, omit_defaults=True):
    """``target_assignments``: scan ownership ``{your_targets[], ring_members[], assignment_epoch}``.

    ``ring_members`` are upper-case MACs without separators. ``{}`` decodes to an all-default value
    that :attr:`is_empty` reports as "no assignment in this response".
    """

    your_targets: list[str] = []
    ring_members: list[str] = []
    assignment_epoch: int = 0

    @property
    def is_empty(self) -> bool:
        return not (self.your_targets or self.ring_members or self.assignment_epoch)


class CheckinResponse(Struct, kw_only=True):
    """The checkin response body (central-api.md §6.4). Defaults are the table's defaults."""

    _secrets: ClassVar[frozenset[str]] = frozenset({"rotated_api_key"})

    status: str = ""
    appliance_id: str | None = None
    server_time: str | None = None
    rotated_api_key: str | None = None
    server_public_key: str | None = None
    server_public_keys: list[str] = []
    merged_duplicates: int = 0
    pending_orders: list[Order] = []
    windows_targets: list[WindowsTarget] = []
    linux_targets: list[LinuxTarget] = []
    encrypted_credentials: EncryptedCredentials | tuple[()] | None = None
    enabled_runbooks: list[str] = []
    disabled_checks: list[str] = []
    maintenance_until: str | None = None
    trigger_enumeration: bool = False
    trigger_immediate_scan: bool = False
    billing_hold: bool = False
    billing_status: str | None = None
    pending_deploys: list[PendingDeploy] = []
    l2_confidence_threshold: float | None = None
    peer_bundle_hashes: list[PeerBundleHash] = []
    mesh_peers: list[MeshPeer] = []
    target_assignments: TargetAssignments | tuple[()] | None = None
    client_alert_mode: str | None = None
    compliance_framework: str | None = None
    reconcile_plan: ReconcilePlan | None = None
    install_session: bool | UnsetType = UNSET

    @property
    def envelope(self) -> EncryptedCredentials | None:
        """The credential envelope, or ``None`` when absent, null, ``[]`` or ``{}`` (§10 b)."""
        env = self.encrypted_credentials
        if isinstance(env, EncryptedCredentials) and not env.is_empty:
            return env
        return None

    @property
    def assignment(self) -> TargetAssignments | None:
        """The target assignment, or ``None`` when absent, null, ``[]`` or ``{}`` (§6.4, §10 b)."""
        ta = self.target_assignments
        if isinstance(ta, TargetAssignments) and not ta.is_empty:
            return ta
        return None

    def __repr__(self) -> str:
        return masked_repr(self, self._secrets)


_DECODE_RESPONSE = TypedDecoder(CheckinResponse, "checkin response")


def decode_checkin_response(buf: bytes | bytearray | memoryview | str) -> CheckinResponse:
    """Strictly decode a checkin response; raises ProtocolError naming the offending field path.

    The agent's checkin loop should use :func:`agent.protocol.lenient.parse_checkin_response`, which
    calls this first and only falls back to per-field salvage when it fails.
    """
    return _DECODE_RESPONSE(buf)


def encode_checkin_response(resp: CheckinResponse) -> bytes:
    """Compact JSON bytes of a checkin response (local Central Command)."""
    return encode(resp)
