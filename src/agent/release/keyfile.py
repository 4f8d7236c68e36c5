"""The release signing key: a 32-byte Ed25519 seed in a file only its owner may read.

The file holds the seed as 64 hex digits and a newline (what :func:`create` writes, the format of
the agent's own ``agent.key``) or as 32 raw bytes. A file whose mode gives the group or others
any access is refused, and no message ever holds the key's bytes.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from pathlib import Path

from nacl.signing import SigningKey

from agent.priv.releases import fsync_dir
from agent.release import ReleaseError

_HEX64 = re.compile(rb"[0-9a-fA-F]{64}", re.ASCII)


def read_seed(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise ReleaseError(f"cannot read the key file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ReleaseError(f"the key file {path} is not a regular file")
        if st.st_mode & 0o077:
            raise ReleaseError(f"the key file {path} is open to its group or others (mode "
                               f"{stat.S_IMODE(st.st_mode):04o}); refused: chmod 600 it, and "
                               "make a new key if others could read it")
        try:
            data = fh.read(129)
        except OSError as exc:
            raise ReleaseError(f"cannot read the key file {path}: {exc.strerror}") from None
    if len(data) == 32:
        return data
    if _HEX64.fullmatch(data.strip()):
        return bytes.fromhex(data.strip().decode("ascii"))
    raise ReleaseError(f"the key file {path} holds neither 64 hex digits nor a 32-byte seed")


def public_hex(seed: bytes) -> str:
    """The release public key, as ``release_public_key`` and ``MSP_AGENT_RELEASE_KEY`` take it."""
    return bytes(SigningKey(seed).verify_key).hex()


def create(path: Path) -> str:
    """A new key in ``path`` (mode 0600; an existing file is never replaced); its public key."""
    seed = os.urandom(32)
    if path.exists() or path.is_symlink():
        raise ReleaseError(f"{path} exists; a release key is never overwritten")
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise ReleaseError(f"cannot create {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as fh:  # mkstemp: mode 0600
            fh.write(seed.hex().encode() + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, path)  # atomic, and fails if path appeared meanwhile
    except FileExistsError:
        raise ReleaseError(f"{path} exists; a release key is never overwritten") from None
    finally:
        os.unlink(tmp)
    fsync_dir(path.parent)
    return public_hex(seed)

