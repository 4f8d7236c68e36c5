"""Credential envelope: NaCl ``crypto_box`` (orders.md §8, central-api.md §6.4).

Decrypt with ``crypto_box_open(ciphertext, nonce, ephemeral_public_key, appliance_private_key)``;
the ciphertext is the 16-byte Poly1305 tag followed by the encrypted bytes (no nonce prefix). The
plaintext is ``{"windows_targets": [...], "linux_targets": [...]}`` (unknown keys ignored).

Any failure raises :class:`EnvelopeError` whose message never contains key or plaintext material;
the caller keeps the previous targets, logs ``SECURITY: credential envelope decryption failed`` and
sets ``trust_alert``.
"""

from __future__ import annotations

import re

import nacl.exceptions
import nacl.public
import nacl.utils

from agent.crypto.keys import X25519Keypair
from agent.log import register_secret
from agent.protocol.credentials import CredentialSet, EncryptedCredentials, decode_credential_set
from agent.protocol.errors import ProtocolError

MAX_CIPHERTEXT_BYTES = 2 * 1024 * 1024
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*", re.ASCII)


class EnvelopeError(ValueError):
    """The envelope could not be opened. ``reason``: ``format``, ``decryption_failed``, ``plaintext``."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        super().__init__(f"{reason}: {detail}")


def _hex_field(value: str, name: str, *, length: int | None = None) -> bytes:
    if length is not None and len(value) != length:
        raise EnvelopeError("format", f"{name} must be {length} hex characters")
    if not _HEX.fullmatch(value):
        raise EnvelopeError("format", f"{name} is not even-length hex")
    return bytes.fromhex(value)


def open_envelope(envelope: EncryptedCredentials, keypair: X25519Keypair) -> bytes:
    """Validate and decrypt the envelope; return the plaintext bytes."""
    ephemeral = _hex_field(envelope.ephemeral_public_key, "ephemeral_public_key", length=64)
    nonce = _hex_field(envelope.nonce, "nonce", length=48)
    if len(envelope.ciphertext) < 32 or len(envelope.ciphertext) > 2 * MAX_CIPHERTEXT_BYTES:
        raise EnvelopeError("format", "ciphertext length out of range")
    ciphertext = _hex_field(envelope.ciphertext, "ciphertext")
    box = nacl.public.Box(keypair.nacl_private, nacl.public.PublicKey(ephemeral))
    try:
        return box.decrypt(ciphertext, nonce)
    except nacl.exceptions.CryptoError as exc:
        raise EnvelopeError("decryption_failed", "authentication failed") from exc


def decrypt_credentials(envelope: EncryptedCredentials, keypair: X25519Keypair) -> CredentialSet:
    """Decrypt and parse the envelope into typed targets; registers every secret with the log
    filter so it can never reach a log line."""
    plaintext = open_envelope(envelope, keypair)
    try:
        creds = decode_credential_set(plaintext)
    except ProtocolError as exc:
        raise EnvelopeError("plaintext", f"{exc.reason} (at {exc.path})") from None
    secrets: list[str | None] = [t.password for t in creds.windows_targets]
    for lt in creds.linux_targets:
        secrets += [lt.password, lt.sudo_password, lt.private_key]
    register_secret(*secrets)
    return creds


def seal_envelope(
    plaintext: bytes,
    recipient_public_key: bytes,
    *,
    ephemeral_private_key: bytes | None = None,
    nonce: bytes | None = None,
) -> EncryptedCredentials:
    """Encrypt like Central Command does (local Central Command, tests). A fresh ephemeral key and
    nonce are used unless given."""
    eph = nacl.public.PrivateKey(
        ephemeral_private_key
        if ephemeral_private_key is not None
        else bytes(nacl.public.PrivateKey.generate())
    )
    nonce = nonce if nonce is not None else nacl.utils.random(nacl.public.Box.NONCE_SIZE)
    box = nacl.public.Box(eph, nacl.public.PublicKey(recipient_public_key))
    sealed = box.encrypt(plaintext, nonce)
    return EncryptedCredentials(
        ephemeral_public_key=bytes(eph.public_key).hex(),
        nonce=nonce.hex(),
        ciphertext=sealed.ciphertext.hex(),
    )
