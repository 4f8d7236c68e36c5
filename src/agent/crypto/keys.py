"""Ed25519 and X25519 key helpers (central-api.md §2).

* Identity key: ``agent.key`` = 64 hex chars of the seed + ``\\n`` (sigauth, §4.4).
* Evidence key: ``keys/signing.key`` = raw 32 seed bytes (heartbeat, evidence, witness).
* Envelope key: X25519, ``encryption_keypair.json`` (credential envelope, orders.md §8).

Fingerprint = first 16 lower-hex chars of SHA-256 of the raw 32-byte public key. Key objects never
show secret material in ``repr()``.
"""

from __future__ import annotations

import hashlib
import re

import nacl.exceptions
import nacl.public
import nacl.signing

SEED_LEN = 32
_HEX64 = re.compile(r"[0-9a-fA-F]{64}", re.ASCII)


class KeyFormatError(ValueError):
    """Key material in the wrong format (never contains the material itself)."""


def fingerprint(public_key: bytes) -> str:
    """First 16 lower-hex chars of SHA-256 of the raw 32-byte public key."""
    if len(public_key) != SEED_LEN:
        raise KeyFormatError("public key must be 32 bytes")
    return hashlib.sha256(public_key).hexdigest()[:16]


class Ed25519Key:
    """An Ed25519 signing key with its public key, hex and fingerprint precomputed."""

    __slots__ = ("_signing", "fingerprint", "public_hex", "public_key")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != SEED_LEN:
            raise KeyFormatError("Ed25519 seed must be 32 bytes")
        self._signing = nacl.signing.SigningKey(bytes(seed))
        self.public_key: bytes = bytes(self._signing.verify_key)
        self.public_hex: str = self.public_key.hex()
        self.fingerprint: str = fingerprint(self.public_key)

    @classmethod
    def generate(cls) -> Ed25519Key:
        return cls(bytes(nacl.signing.SigningKey.generate()))

    @classmethod
    def from_seed_hex(cls, text: str) -> Ed25519Key:
        """From ``agent.key`` content: 64 hex chars, surrounding whitespace ignored."""
        text = text.strip()
        if not _HEX64.fullmatch(text):
            raise KeyFormatError("identity key file must hold 64 hex characters")
        return cls(bytes.fromhex(text))

    def seed(self) -> bytes:
        """The raw 32-byte seed (for writing the key file; never log it)."""
        return bytes(self._signing)

    def seed_hex_file_content(self) -> str:
        """``agent.key`` file content: lower-hex seed + newline."""
        return self.seed().hex() + "\n"

    def sign(self, message: bytes | bytearray | memoryview) -> bytes:
        """The 64-byte Ed25519 signature of ``message`` (signed directly, not pre-hashed)."""
        return self._signing.sign(bytes(message)).signature

    def __repr__(self) -> str:
        return f"Ed25519Key(fingerprint={self.fingerprint!r})"


def verify_ed25519(public_key: bytes, message: bytes | bytearray | memoryview, signature: bytes) -> bool:
    """Whether ``signature`` is a valid Ed25519 signature of ``message`` under ``public_key``."""
    try:
        nacl.signing.VerifyKey(public_key).verify(bytes(message), signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError, TypeError):
        return False
    return True


def public_key_from_hex(text: str) -> bytes:
    """Decode a 64-hex-char public key; raises KeyFormatError."""
    if not _HEX64.fullmatch(text):
        raise KeyFormatError("public key must be 64 hex characters")
    return bytes.fromhex(text)


class X25519Keypair:
    """The envelope key pair; public = X25519(private, basepoint)."""

    __slots__ = ("_private", "public_hex", "public_key")

    def __init__(self, private_key: bytes) -> None:
        if len(private_key) != SEED_LEN:
            raise KeyFormatError("X25519 private key must be 32 bytes")
        self._private = nacl.public.PrivateKey(bytes(private_key))
        self.public_key: bytes = bytes(self._private.public_key)
        self.public_hex: str = self.public_key.hex()

    @classmethod
    def generate(cls) -> X25519Keypair:
        return cls(bytes(nacl.public.PrivateKey.generate()))

    @classmethod
    def from_json_fields(cls, public_hex: str, private_hex: str) -> X25519Keypair:
        """From ``encryption_keypair.json``; the stored public key must match the private one."""
        if not _HEX64.fullmatch(private_hex):
            raise KeyFormatError("envelope private key must be 64 hex characters")
        pair = cls(bytes.fromhex(private_hex))
        if public_hex.lower() != pair.public_hex:
            raise KeyFormatError("envelope public key does not match the private key")
        return pair

    def private_key(self) -> bytes:
        """Raw 32-byte private key (for writing the key file; never log it)."""
        return bytes(self._private)

    @property
    def nacl_private(self) -> nacl.public.PrivateKey:
        return self._private

    def __repr__(self) -> str:
        return f"X25519Keypair(public_hex={self.public_hex!r})"
