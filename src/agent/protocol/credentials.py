"""Target credentials: plaintext lists, the NaCl envelope, pending deploys.

Implements central-api.md §6.4 (``windows_targets``, ``linux_targets``, ``encrypted_credentials``,
``pending_deploys``) and orders.md §8 (envelope wire object and decrypted plaintext). Every object
holding a secret masks it in ``repr()``; decryption lives in :mod:`agent.crypto.envelope`.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from msgspec import Meta, Struct

from agent.protocol._secret import masked_repr
from agent.protocol.codec import TypedDecoder

Hostname = Annotated[str, Meta(min_length=1)]
Port = Annotated[int, Meta(ge=1, le=65535)]


class WindowsTarget(Struct, kw_only=True):
    """``windows_targets[]``: ``{hostname, username, password, use_ssl, role}`` (§6.4)."""

    _secrets: ClassVar[frozenset[str]] = frozenset({"password"})

    hostname: Hostname
    username: str = ""
    password: str = ""
    use_ssl: bool = False
    role: str = ""

    def __repr__(self) -> str:
        return masked_repr(self, self._secrets)


class LinuxTarget(Struct, kw_only=True, omit_defaults=True):
    """``linux_targets[]``: ``{hostname, port, username, password?, sudo_password?,
    private_key?, distro?, label?}`` (§6.4)."""

    _secrets: ClassVar[frozenset[str]] = frozenset({"password", "sudo_password", "private_key"})

    hostname: Hostname
    port: Port
    username: str
    password: str | None = None
    sudo_password: str | None = None
    private_key: str | None = None
    distro: str | None = None
    label: str | None = None

    def __repr__(self) -> str:
        return masked_repr(self, self._secrets)


class CredentialSet(Struct, kw_only=True):
    """The decrypted envelope plaintext ``{"windows_targets": [...], "linux_targets": [...]}``
    (orders.md §8). Unknown keys are ignored."""

    windows_targets: list[WindowsTarget] = []
    linux_targets: list[LinuxTarget] = []


class EncryptedCredentials(Struct, kw_only=True, omit_defaults=True):
    """``encrypted_credentials``: the NaCl ``crypto_box`` envelope (orders.md §8).

    ``{}`` decodes to an all-empty value, which :attr:`is_empty` reports as "no envelope" (central-api
    §10 b). The hex fields are validated when decrypting (:func:`agent.crypto.open_envelope`), not
    while decoding the checkin, so the large ciphertext is scanned once.
    """

    ephemeral_public_key: str = ""
    nonce: str = ""
    ciphertext: str = ""

    @property
    def is_empty(self) -> bool:
        return not (self.ephemeral_public_key or self.nonce or self.ciphertext)


class PendingDeploy(Struct, kw_only=True):
    """``pending_deploys[]``: a workstation-agent deployment with **plaintext** credentials (§6.4)."""

    _secrets: ClassVar[frozenset[str]] = frozenset({"password", "ssh_key"})

    device_id: str
    ip_address: str = ""
    hostname: str = ""
    os_type: str = ""
    deploy_method: str = ""
    username: str = ""
    password: str = ""
    ssh_key: str = ""
    agent_binary_url: str = ""

    def __repr__(self) -> str:
        return masked_repr(self, self._secrets)


_DECODE_SET = TypedDecoder(CredentialSet, "credential envelope plaintext")


def decode_credential_set(buf: bytes | bytearray | memoryview | str) -> CredentialSet:
    """Decode a decrypted envelope plaintext; raises ProtocolError."""
    return _DECODE_SET(buf)
