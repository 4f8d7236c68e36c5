"""Cryptography of the agent's wire protocol (PyNaCl).

* :mod:`.keys`: Ed25519 identity/evidence keys, X25519 envelope key, fingerprints.
* :mod:`.sigauth`: request-signature headers (central-api.md §4.4).
* :mod:`.heartbeat`: heartbeat signature (central-api.md §4.5).
* :mod:`.envelope`: credential envelope (orders.md §8).
* :mod:`.batch`: batch verification of Ed25519 signatures (native, libsodium's verdicts).
"""

from agent.crypto.batch import native_in_use as batch_verifier_status
from agent.crypto.batch import verify_any_key, verify_batch
from agent.crypto.envelope import (
    EnvelopeError,
    decrypt_credentials,
    open_envelope,
    seal_envelope,
)
from agent.crypto.heartbeat import (
    heartbeat_fields,
    heartbeat_payload,
    sign_heartbeat,
    verify_heartbeat,
)
from agent.crypto.keys import (
    Ed25519Key,
    KeyFormatError,
    X25519Keypair,
    fingerprint,
    public_key_from_hex,
    verify_ed25519,
)
from agent.crypto.sigauth import new_nonce, sign_request, signed_message, verify_request

__all__ = [
    "Ed25519Key",
    "EnvelopeError",
    "KeyFormatError",
    "X25519Keypair",
    "batch_verifier_status",
    "decrypt_credentials",
    "fingerprint",
    "heartbeat_fields",
    "heartbeat_payload",
    "new_nonce",
    "open_envelope",
    "public_key_from_hex",
    "seal_envelope",
    "sign_heartbeat",
    "sign_request",
    "signed_message",
    "verify_any_key",
    "verify_batch",
    "verify_ed25519",
    "verify_heartbeat",
    "verify_request",
]
