"""Evidence submission wire format (evidence.md §2.2, §2.3, §4; central-api.md §7.3).

``POST /api/evidence/sites/{site_id}/submit``. ``checks`` and ``summary`` are copies of the signed
values; ``signed_data`` travels verbatim and is never re-serialized. Key order of the copies follows
``vectors/evidence.json`` (``summary.errors`` last, omitted when 0).
"""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import quote

from msgspec import Struct

from agent.protocol.codec import TypedDecoder, encode


class EvidenceCheck(Struct, kw_only=True, omit_defaults=True):
    """One ``checks[]`` entry (evidence.md §2.2)."""

    check: str
    hostname: str
    status: str  # pass | fail | error
    expected: str | None = None
    actual: str | None = None
    hipaa_control: str | None = None


class EvidenceSummary(Struct, kw_only=True, omit_defaults=True):
    """``summary`` (evidence.md §2.3). ``errors`` is omitted when 0."""

    total_checks: int
    compliant: int
    non_compliant: int
    scanned_hosts: int
    scan_method: str  # "deterministic"
    confidence: int  # 1
    errors: int = 0


class EvidenceSubmit(Struct, kw_only=True):
    """The submit request body (evidence.md §4.1)."""

    #: ``signed_data`` and what is derived from it travel verbatim: scrubbed before signing (where
    #: the bundle is built), only checked by the egress scrubber (a change refuses the send).
    __phi_verbatim__: ClassVar[frozenset[str]] = frozenset(
        {"bundle_id", "bundle_hash", "agent_signature", "agent_public_key", "signed_data"})

    site_id: str
    bundle_id: str
    checked_at: str
    checks: list[EvidenceCheck]
    summary: EvidenceSummary
    bundle_hash: str
    agent_signature: str
    agent_public_key: str
    signed_data: str


class EvidenceReceipt(Struct, kw_only=True):
    """200 body of the submit endpoint (evidence.md §4.3); also the network-bundle variant."""

    bundle_id: str = ""
    bundle_hash: str = ""
    chain_position: int = 0
    prev_hash: str = ""
    current_hash: str = ""
    ots_status: str = ""
    ots_submitted: bool = False


def evidence_submit_path(site_id: str) -> str:
    """``/api/evidence/sites/<site>/submit`` with the site id as one percent-encoded segment."""
    return f"/api/evidence/sites/{quote(site_id, safe='')}/submit"


def evidence_verify_path(site_id: str, bundle_id: str) -> str:
    """Delivery probe path ``/api/evidence/sites/<site>/verify/<bundle_id>`` (evidence.md §6)."""
    return f"/api/evidence/sites/{quote(site_id, safe='')}/verify/{quote(bundle_id, safe='')}"


_DECODE_SUBMIT = TypedDecoder(EvidenceSubmit, "evidence submit")
_DECODE_RECEIPT = TypedDecoder(EvidenceReceipt, "evidence receipt")


def decode_evidence_submit(buf: bytes | bytearray | memoryview | str) -> EvidenceSubmit:
    """Decode a submit body (spool files, server side); raises ProtocolError."""
    return _DECODE_SUBMIT(buf)


def decode_evidence_receipt(buf: bytes | bytearray | memoryview | str) -> EvidenceReceipt:
    """Decode the submit endpoint's 200 body; raises ProtocolError."""
    return _DECODE_RECEIPT(buf)


def encode_evidence_submit(body: EvidenceSubmit) -> bytes:
    """Compact JSON bytes of a submit body."""
    return encode(body)
