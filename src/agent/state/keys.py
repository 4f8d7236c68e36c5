"""The appliance's key files in the Go daemon's formats (runtime.md §3.1, §3.3).

=========================  ==========================================  ======
file                       content                                     mode
=========================  ==========================================  ======
``agent.key``              64 lowercase hex (Ed25519 seed) + newline   0600
``agent.pub``              64 hex public key + newline                 0644
``agent.fingerprint``      first 16 hex of SHA-256(raw public key)     0644
``keys/signing.key``       exactly 32 raw bytes (Ed25519 seed)         0600
``encryption_keypair.json`` ``{"public_key": hex, "private_key": hex}``  0600
``phi_hash.key``           32 random bytes                             0600
=========================  ==========================================  ======

Existing files are adopted, never rewritten (derived public files excepted). A malformed
identity or evidence key is a :class:`KeyFileError` — the agent refuses to start rather than
silently change the appliance's identity or break the evidence chain's key continuity.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from nacl.public import PrivateKey
from nacl.signing import SigningKey

from agent.crypto.keys import fingerprint
from agent.state.atomic import atomic_write, ensure_dir, quarantine

IDENTITY_KEY = "agent.key"
IDENTITY_PUB = "agent.pub"
IDENTITY_FINGERPRINT = "agent.fingerprint"
EVIDENCE_KEY = "keys/signing.key"
ENVELOPE_KEYPAIR = "encryption_keypair.json"
PHI_HASH_KEY = "phi_hash.key"
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


class KeyFileError(Exception):
    """A key file exists but is unusable; the agent must not start (exit 1)."""


@dataclass(slots=True)
class Keys:
    """The loaded keys plus what loading did (for the summary line and ``keygen``)."""

    identity: SigningKey
    evidence: SigningKey
    envelope: PrivateKey
    phi_hash_key: bytes
    created: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def identity_public_hex(self) -> str:
        return bytes(self.identity.verify_key).hex()

    @property
    def identity_fingerprint(self) -> str:
        return fingerprint(bytes(self.identity.verify_key))

    @property
    def evidence_public_hex(self) -> str:
        return bytes(self.evidence.verify_key).hex()

    @property
    def envelope_public_hex(self) -> str:
        return bytes(self.envelope.public_key).hex()

    def __repr__(self) -> str:  # never print private material
        return (f"Keys(identity={self.identity_fingerprint}, "
                f"evidence={self.evidence_public_hex[:16]}…, envelope={self.envelope_public_hex[:16]}…)")


def load_or_create(state_dir: str | os.PathLike[str], *, create: bool = True) -> Keys:
    """Load every key, creating missing ones when ``create`` (the caller holds the lock)."""
    root = Path(state_dir)
    created: list[str] = []
    repaired: list[str] = []
    warnings: list[str] = []
    identity = _identity(root, create, created, repaired)
    evidence = _evidence(root, create, created)
    envelope = _envelope(root, create, created, repaired, warnings)
    phi = _phi_key(root, create, created, warnings)
    return Keys(identity, evidence, envelope, phi, created, repaired, warnings)


def _missing(root: Path, name: str, create: bool) -> bool:
    path = root / name
    if path.exists() or path.is_symlink():
        return False
    if not create:
        raise KeyFileError(f"{name} does not exist (run 'keygen')")
    return True


def _identity(root: Path, create: bool, created: list[str], repaired: list[str]) -> SigningKey:
    path = root / IDENTITY_KEY
    if _missing(root, IDENTITY_KEY, create):
        key = SigningKey.generate()
        atomic_write(path, bytes(key).hex().encode() + b"\n", 0o600)
        created.append(IDENTITY_KEY)
    else:
        text = _read(path, 4096).decode("ascii", "replace").strip()
        if not _HEX64.fullmatch(text):
            raise KeyFileError(
                f"{IDENTITY_KEY} is malformed (expected 64 hex characters); refusing to start "
                "rather than replace the appliance's identity"
            )
        key = SigningKey(bytes.fromhex(text))
        _ensure_mode(path, 0o600)
    pub = bytes(key.verify_key)
    for name, content in ((IDENTITY_PUB, pub.hex()), (IDENTITY_FINGERPRINT, fingerprint(pub))):
        want = (content + "\n").encode()
        target = root / name
        try:
            current = target.read_bytes() if target.exists() else None
        except OSError:
            current = None
        if current is None or current.strip() != want.strip():
            atomic_write(target, want, 0o644)
            (created if current is None else repaired).append(name)
    return key


def _evidence(root: Path, create: bool, created: list[str]) -> SigningKey:
    path = root / EVIDENCE_KEY
    if _missing(root, EVIDENCE_KEY, create):
        ensure_dir(path.parent, 0o700)
        key = SigningKey.generate()
        atomic_write(path, bytes(key), 0o600)
        created.append(EVIDENCE_KEY)
        return key
    seed = _read(path, 64)
    if len(seed) != 32:
        raise KeyFileError(
            f"{EVIDENCE_KEY} must be exactly 32 bytes (found {len(seed)}); refusing to start "
            "rather than break the evidence chain's key continuity"
        )
    _ensure_mode(path, 0o600)
    return SigningKey(seed)


def _envelope(root: Path, create: bool, created: list[str], repaired: list[str],
              warnings: list[str]) -> PrivateKey:
    path = root / ENVELOPE_KEYPAIR
    if not _missing(root, ENVELOPE_KEYPAIR, create):
        try:
            obj = json.loads(_read(path, 4096))
            priv_hex = obj["private_key"]
            if not isinstance(priv_hex, str) or not _HEX64.fullmatch(priv_hex):
                raise ValueError("private_key is not 64 hex characters")
            key = PrivateKey(bytes.fromhex(priv_hex))
        except (ValueError, KeyError, TypeError) as exc:
            moved = quarantine(path)
            warnings.append(f"{ENVELOPE_KEYPAIR} was corrupt ({type(exc).__name__}); moved to "
                            f"{moved.name} and a new pair was generated")
        else:
            _ensure_mode(path, 0o600)
            if str(obj.get("public_key", "")).lower() != bytes(key.public_key).hex():
                _write_envelope(path, key)
                repaired.append(ENVELOPE_KEYPAIR)
            return key
    key = PrivateKey.generate()
    _write_envelope(path, key)
    created.append(ENVELOPE_KEYPAIR)
    return key


def _write_envelope(path: Path, key: PrivateKey) -> None:
    body = {"public_key": bytes(key.public_key).hex(), "private_key": bytes(key).hex()}
    atomic_write(path, json.dumps(body).encode(), 0o600)


def _phi_key(root: Path, create: bool, created: list[str], warnings: list[str]) -> bytes:
    path = root / PHI_HASH_KEY
    if not _missing(root, PHI_HASH_KEY, create):
        data = _read(path, 64)
        if len(data) == 32:
            _ensure_mode(path, 0o600)
            return data
        moved = quarantine(path)
        warnings.append(f"{PHI_HASH_KEY} had {len(data)} bytes instead of 32; moved to "
                        f"{moved.name} and a new key was generated")
    data = os.urandom(32)
    atomic_write(path, data, 0o600)
    created.append(PHI_HASH_KEY)
    return data


def _read(path: Path, limit: int) -> bytes:
    try:
        with path.open("rb") as fh:
            return fh.read(limit + 1)
    except OSError as exc:
        raise KeyFileError(f"cannot read {path.name}: {exc.strerror}") from None


def _ensure_mode(path: Path, mode: int) -> None:
    """Private key files must not be readable by others; tighten them if they are."""
    st = path.stat()
    if st.st_mode & 0o777 != mode:
        os.chmod(path, mode)
