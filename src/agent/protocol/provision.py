"""First-boot enrollment: the three unauthenticated ``/api/provision`` endpoints.

* ``POST /api/provision/claim-v2``: an installer image's Ed25519 claim certificate plus a CSR
  signed by the appliance's identity key; answers ``appliance_id``, ``fingerprint``,
  ``claim_event_id`` and a new ``api_key`` (not signed by the server);
* ``POST /api/provision/claim``: a provision code (16 upper-case hex characters, single use);
  answers ``site_id``, ``appliance_id``, ``api_endpoint``, ``api_key`` (not signed);
* ``GET /api/provision/{mac}``: MAC lookup; answers ``{"config": {...}, "signature": <hex>}``
  (Ed25519 by the server's signing key over ``json.dumps(config, sort_keys=True)``) with flat
  duplicates, or ``{"status": "unclaimed", "retry_seconds": 60, ...}`` while no site is assigned.

The models carry the wire shapes only; canonical bytes and verification are in
:mod:`agent.provision`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from msgspec import Struct, field

from agent.protocol._secret import masked_repr

CLAIM_V2_PATH = "/api/provision/claim-v2"
CLAIM_PATH = "/api/provision/claim"
MAC_LOOKUP_PREFIX = "/api/provision/"


def mac_lookup_path(mac: str) -> str:
    """``/api/provision/<MAC>`` with the colons percent-encoded, as the installer script sends it."""
    return MAC_LOOKUP_PREFIX + mac.upper().replace(":", "%3A")


class _Masked(Struct, kw_only=True):
    """Its ``_secrets`` fields show as ``***`` in ``repr`` (log lines, tracebacks)."""

    _secrets: ClassVar[frozenset[str]] = frozenset()

    def __repr__(self) -> str:
        return masked_repr(self, self._secrets)


class ClaimCertPayload(Struct, kw_only=True):
    """The signed part of a claim certificate (the server's model has exactly these fields)."""

    iso_release_sha: str
    ca_pubkey_hex: str
    issued_at: str
    valid_until: str
    version: int


class ClaimCert(Struct, kw_only=True):
    """``/etc/installer/claim.cert``: the payload, its CA signature (base64url, no padding)."""

    __phi_verbatim__: ClassVar[frozenset[str]] = frozenset({"payload", "signature_b64", "algorithm"})

    payload: ClaimCertPayload
    signature_b64: str
    algorithm: str = "ed25519"


class ClaimV2Request(Struct, kw_only=True, omit_defaults=True):
    """The CSR. Every field but ``csr_signature_b64`` is in the signed bytes, so none may change
    on the way out; ``hardware_id`` is omitted when empty (Go: ``omitempty``)."""

    __phi_verbatim__: ClassVar[frozenset[str]] = frozenset(
        {"site_id", "mac_address", "agent_pubkey_hex", "hardware_id", "nonce", "timestamp",
         "claim_cert", "csr_signature_b64"})

    site_id: str
    mac_address: str
    agent_pubkey_hex: str
    hardware_id: str | None = None
    nonce: str
    timestamp: str
    claim_cert: ClaimCert
    csr_signature_b64: str


class ClaimV2Response(_Masked, kw_only=True):
    _secrets: ClassVar[frozenset[str]] = frozenset({"api_key"})

    appliance_id: str
    fingerprint: str
    claim_event_id: int
    api_key: str


class ProvisionClaimRequest(_Masked, kw_only=True, omit_defaults=True):
    __phi_verbatim__: ClassVar[frozenset[str]] = frozenset({"provision_code", "mac_address"})
    _secrets: ClassVar[frozenset[str]] = frozenset({"provision_code"})

    provision_code: str
    mac_address: str
    hostname: str | None = None
    hardware_id: str | None = None
    public_key: str | None = None
    boot_source: str | None = None
    all_mac_addresses: list[str] | None = None


class ProvisionClaimResponse(_Masked, kw_only=True):
    _secrets: ClassVar[frozenset[str]] = frozenset({"api_key"})

    status: str
    site_id: str
    appliance_id: str
    api_endpoint: str
    api_key: str | None = None
    partner: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    message: str = ""


class MacLookupResponse(Struct, kw_only=True):
    """Either a signed config (``config`` + ``signature``) or ``status: unclaimed``."""

    config: dict[str, Any] | None = None
    signature: str = ""
    status: str = ""
    retry_seconds: int | None = None
    message: str = ""

    def __repr__(self) -> str:
        return f"MacLookupResponse(status={self.status!r}, signed={bool(self.signature)})"
