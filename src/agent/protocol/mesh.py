"""Mesh acknowledgement: ``POST /api/appliances/mesh/ack`` (central-api.md §7.4)."""

from __future__ import annotations

from msgspec import Struct


class MeshAckTarget(Struct, kw_only=True):
    """One currently assigned target; ``target_type`` is ``"device"``."""

    target_key: str
    target_type: str = "device"


class MeshAck(Struct, kw_only=True):
    """The request body; ``site_id`` must equal the key's site."""

    site_id: str
    appliance_id: str
    targets: list[MeshAckTarget]


class MeshAckResponse(Struct, kw_only=True):
    """200 body; log when ``reassigned > 0``."""

    acked: int = 0
    unknown: int = 0
    reassigned: int = 0
    total_assigned: int = 0
