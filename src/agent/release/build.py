"""Write a signed msp-agent release bundle from a complete wheel set (``msp-agent release build``).

The manifest (:mod:`agent.priv.bundle`'s format) lists the set's wheels with their SHA-256 and
size; its version is our wheel's, its machine the wheels'. The tar is written to a temporary file
beside ``out``, synced, unpacked and verified with the helper's own code (:func:`unpack`,
:func:`verify`) against the public key of the seed, and only then renamed onto ``out``: a failed
build leaves no bundle and never a partial one. Same wheels, key and options: same bytes.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from agent.priv.bundle import (
    BundleError,
    Manifest,
    Wheel,
    encode,
    sha256_file,
    sign,
    unpack,
    verify,
    write,
)
from agent.priv.releases import fsync_dir
from agent.priv.schema import VERSION
from agent.release import ReleaseError
from agent.release.keyfile import public_hex
from agent.release.wheelset import Release


class BuildFailed(RuntimeError):
    """Writing the bundle failed (disk, or the written bundle does not verify)."""


@dataclass(frozen=True, slots=True)
class Built:
    path: Path
    version: str
    machine: str
    wheels: int
    size: int
    sha256: str  # the order's binary_sha256
    public_key: str


def build(release: Release, seed: bytes, out: Path, *, allow_downgrade: bool = False,
          state_format: int = 1) -> Built:
    version = str(release.agent.version)
    if not VERSION.fullmatch(version):
        raise ReleaseError(f"msp-agent {version}: the helper installs only versions like 1.2.0 "
                           "or 1.2.0rc1")
    if state_format < 1:
        raise ReleaseError("the state format is a number from 1")
    if not out.parent.is_dir():
        raise ReleaseError(f"{out.parent} is not a directory")
    try:
        entries = [Wheel(w.path.name, sha256_file(w.path), w.path.stat().st_size)
                   for w in release.wheels]
    except OSError as exc:
        raise ReleaseError(f"cannot read a wheel: {exc}") from None
    raw = encode(Manifest(version, release.machine, tuple(entries), allow_downgrade,
                          state_format))
    pub = public_hex(seed)
    try:
        fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    except OSError as exc:
        raise BuildFailed(f"cannot write in {out.parent}: {exc.strerror}") from None
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh, raw, sign(raw, seed), [(w.path.name, w.path) for w in release.wheels])
            fh.flush()
            os.fsync(fh.fileno())
        _self_check(tmp, pub, release.machine, sum(e.size for e in entries))
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
        fsync_dir(out.parent)
    except OSError as exc:
        raise BuildFailed(f"cannot write {out}: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return Built(out, version, release.machine, len(entries), out.stat().st_size,
                 sha256_file(out), pub)


def _self_check(archive: Path, pub: str, machine: str, wheel_bytes: int) -> None:
    """The bundle as the helper will see it: unpacked and verified by its code."""
    with tempfile.TemporaryDirectory(prefix="msp-release-check-") as scratch:
        try:
            verify_dir = Path(scratch) / "bundle"
            unpack(archive, verify_dir, wheel_bytes + (1 << 20))
            verify(verify_dir, pub, machine)
        except BundleError as exc:
            raise BuildFailed(f"the written bundle does not verify: {exc}") from None
