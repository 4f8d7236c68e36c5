"""An msp-agent release bundle: unpacking and verification (both sides of the helper use it).

The bundle ``binary_url`` points at is one tar file (optionally gzip-compressed)::

    manifest.json   {"format": 1, "name": "msp-agent", "version": "1.2.0",
                     "machine": "x86_64", "allow_downgrade": false, "state_format": 1,
                     "wheels": [{"file": "msp_agent-1.2.0-….whl", "sha256": "…", "size": n}, …]}
    manifest.sig    hex Ed25519 signature of manifest.json's exact bytes, by the release key
    wheels/*.whl    our wheel and its dependencies' wheels, nothing else

Members are extracted by name (no links, no paths outside, size-capped); the manifest's
signature is checked against the pinned release key, then every wheel against its hash and size,
and no file may be present that the manifest does not list. Imports nothing of the agent.

The writing side is here too (one definition of the format): :func:`encode` and :func:`sign` make
the manifest and its signature, :func:`write` the tar — members in a fixed order (manifest,
signature, wheels by name), no owners, a fixed mtime, uncompressed (wheels are compressed
already), so the same inputs give the same bytes. ``msp-agent release build``
(:mod:`agent.release`) and the local Central Command's test releases write bundles with them.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from agent.priv.schema import VERSION

if TYPE_CHECKING:
    import tarfile

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
WHEELS = "wheels"
MAX_MEMBERS = 256
MAX_MANIFEST_BYTES = 64 * 1024
_WHEEL = re.compile(r"[A-Za-z0-9_.+-]{1,200}\.whl", re.ASCII)
_HEX64 = re.compile(r"[0-9a-f]{64}", re.ASCII)
ELF_MAGIC = b"\x7fELF"


class BundleError(ValueError):
    """The bundle is refused; the message says why."""


@dataclass(frozen=True, slots=True)
class Wheel:
    file: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class Manifest:
    version: str
    machine: str
    wheels: tuple[Wheel, ...]
    allow_downgrade: bool
    state_format: int


#: Every member's mtime in a written bundle (2000-01-01T00:00:00Z): fixed, so builds repeat.
MTIME = 946684800


def encode(manifest: Manifest) -> bytes:
    """``manifest.json``'s bytes (what the release key signs)."""
    doc = {"format": 1, "name": "msp-agent", "version": manifest.version,
           "machine": manifest.machine, "allow_downgrade": manifest.allow_downgrade,
           "state_format": manifest.state_format,
           "wheels": [{"file": w.file, "sha256": w.sha256, "size": w.size}
                      for w in manifest.wheels]}
    return json.dumps(doc, indent=1, sort_keys=True).encode()


def sign(raw: bytes, seed: bytes) -> bytes:
    """``manifest.sig``'s bytes: the hex Ed25519 signature of ``raw`` by the 32-byte ``seed``."""
    return SigningKey(seed).sign(raw).signature.hex().encode()


def write(out: IO[bytes], raw: bytes, sig: bytes, wheels: Sequence[tuple[str, Path | bytes]]
          ) -> None:
    """The bundle tar onto ``out``: ``raw`` as the manifest, ``sig`` its signature, then each
    wheel (name, file or bytes) under ``wheels/``, sorted by name."""
    import tarfile  # (here and below) the daemon imports this module at start; tarfile only
    #                 when a bundle is read or written

    def member(name: str, size: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = size, 0o644, MTIME
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(member(MANIFEST, len(raw)), io.BytesIO(raw))
        tar.addfile(member(SIGNATURE, len(sig)), io.BytesIO(sig))
        for name, data in sorted(wheels, key=lambda w: w[0]):
            if isinstance(data, bytes):
                tar.addfile(member(f"{WHEELS}/{name}", len(data)), io.BytesIO(data))
                continue
            with data.open("rb") as fh:
                tar.addfile(member(f"{WHEELS}/{name}", os.fstat(fh.fileno()).st_size), fh)


def refuse_foreign(path: Path) -> None:
    """A Go daemon binary (ELF) or anything that is not a tar archive is no msp-agent release."""
    import tarfile

    with path.open("rb") as fh:
        head = fh.read(4)
    if head == ELF_MAGIC:
        raise BundleError("an ELF binary (a Go daemon build?) is not an msp-agent release "
                          "bundle; refused")
    if not tarfile.is_tarfile(path):
        raise BundleError("not an msp-agent release bundle (not a tar archive)")


def unpack(archive: Path, dest: Path, max_bytes: int) -> None:
    """Extract the bundle's members into the new directory ``dest`` (regular files only)."""
    import tarfile

    refuse_foreign(archive)
    os.mkdir(dest, 0o700)
    (dest / WHEELS).mkdir(mode=0o700)
    total = 0
    try:
        with tarfile.open(archive, "r:*") as tar:
            for count, member in enumerate(tar):
                if count >= MAX_MEMBERS:
                    raise BundleError("too many members in the bundle")
                name = member.name.removeprefix("./")
                if member.isdir() and name.rstrip("/") in ("", ".", WHEELS):
                    continue
                if not member.isfile():
                    raise BundleError(f"bundle member {name!r} is not a regular file")
                if name not in (MANIFEST, SIGNATURE) and not (
                        name.startswith(WHEELS + "/") and _WHEEL.fullmatch(name[len(WHEELS) + 1:])):
                    raise BundleError(f"unexpected bundle member {name!r}")
                total += member.size
                if total > max_bytes:
                    raise BundleError("the unpacked bundle exceeds its size cap")
                src = tar.extractfile(member)
                assert src is not None
                fd = os.open(dest / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                             0o600)
                with src, os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(src, out)
                    out.flush()
                    os.fsync(out.fileno())
    except (tarfile.TarError, EOFError) as exc:
        raise BundleError(f"the bundle archive is damaged: {exc}") from None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(folder: Path, public_key_hex: str, machine: str) -> Manifest:
    """The manifest of the unpacked bundle in ``folder``, every check passed."""
    if not _HEX64.fullmatch(public_key_hex or ""):
        raise BundleError("no release key is configured; agent updates are refused")
    try:
        raw = _read_small(folder / MANIFEST)
        sig = bytes.fromhex(_read_small(folder / SIGNATURE).decode("ascii").strip())
    except (OSError, ValueError) as exc:
        raise BundleError(f"the bundle's manifest or signature is missing or unreadable "
                          f"({exc})") from None
    try:
        VerifyKey(bytes.fromhex(public_key_hex)).verify(raw, sig)
    except (BadSignatureError, ValueError):
        raise BundleError("the manifest's signature does not verify against the release "
                          "key") from None
    try:
        manifest = _parse(json.loads(raw))
    except (ValueError, TypeError, KeyError) as exc:
        raise BundleError(f"the manifest is malformed: {exc}") from None
    if manifest.machine != machine:
        raise BundleError(f"the release is for {manifest.machine}, this appliance is {machine}")
    listed = {w.file for w in manifest.wheels}
    present = {p.name for p in (folder / WHEELS).iterdir()}
    if present != listed:
        raise BundleError("the bundle's wheels differ from its manifest: "
                          f"{sorted(present ^ listed)}")
    for wheel in manifest.wheels:
        path = folder / WHEELS / wheel.file
        if path.is_symlink() or path.stat().st_size != wheel.size or \
                sha256_file(path) != wheel.sha256:
            raise BundleError(f"wheel {wheel.file} does not match the manifest's hash or size")
    return manifest


def _read_small(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(MAX_MANIFEST_BYTES + 1)
    if len(data) > MAX_MANIFEST_BYTES:
        raise ValueError(f"{path.name} is too large")
    return data


def _parse(doc: Any) -> Manifest:
    if not isinstance(doc, dict) or doc.get("format") != 1 or doc.get("name") != "msp-agent":
        raise ValueError("not a format-1 msp-agent manifest")
    version, machine = doc["version"], doc["machine"]
    if not isinstance(version, str) or not VERSION.fullmatch(version):
        raise ValueError("bad version")
    if not isinstance(machine, str) or not re.fullmatch(r"[a-z0-9_]{1,32}", machine):
        raise ValueError("bad machine")
    allow = doc.get("allow_downgrade", False)
    state_format = doc.get("state_format", 1)
    if type(allow) is not bool or type(state_format) is not int:
        raise ValueError("bad allow_downgrade or state_format")
    wheels = []
    for w in doc["wheels"]:
        if not isinstance(w, dict) or not isinstance(w.get("file"), str) or \
                not _WHEEL.fullmatch(w["file"]) or not isinstance(w.get("sha256"), str) or \
                not _HEX64.fullmatch(w["sha256"]) or type(w.get("size")) is not int:
            raise ValueError("bad wheel entry")
        wheels.append(Wheel(w["file"], w["sha256"], w["size"]))
    if not wheels or len({w.file for w in wheels}) != len(wheels):
        raise ValueError("no wheels, or a wheel listed twice")
    return Manifest(version, machine, tuple(wheels), allow, state_format)
