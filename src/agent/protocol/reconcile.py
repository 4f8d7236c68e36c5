"""Reconcile plans (orders.md §6) and their acknowledgement (central-api.md §7.2)."""

from __future__ import annotations

from msgspec import Struct

from agent.protocol.codec import TypedDecoder, encode


class ReconcilePlan(Struct, kw_only=True):
    """``reconcile_plan`` of a checkin response (orders.md §6). All wire fields are required
    (check 1); the signature over ``signed_payload`` is verified separately."""

    plan_id: str
    new_generation_uuid: str
    nonce_epoch_hex: str
    runbook_ids: list[str]
    issued_at: str
    appliance_id: str
    signature_hex: str
    signed_payload: str


class ReconcileAck(Struct, kw_only=True, omit_defaults=True):
    """``POST /api/appliances/reconcile/ack`` body (central-api.md §7.2)."""

    event_id: str
    success: bool
    error_message: str | None = None
    post_boot_counter: int | None = None
    post_generation_uuid: str | None = None


_DECODE_ACK = TypedDecoder(ReconcileAck, "reconcile ack")


def decode_reconcile_ack(buf: bytes | bytearray | memoryview | str) -> ReconcileAck:
    """Decode a reconcile ack body (server side, tests); raises ProtocolError."""
    return _DECODE_ACK(buf)


def encode_reconcile_ack(ack: ReconcileAck) -> bytes:
    """Compact JSON bytes of a reconcile ack body."""
    return encode(ack)
