"""Staging an msp-agent release for the helper: download, hash, unpack, verify, no downgrade.

The bundle goes to ``<state_dir>/update-staging/``: downloaded (capped, deadlined) as
``.<random>.part``, its SHA-256 compared with the signed ``binary_sha256``, a Go binary (ELF)
refused, unpacked into ``<version>-<random>/`` and verified against the pinned release key (the
helper verifies its own copy again before installing). Any refusal removes what was written;
earlier staged bundles are cleared first.
"""

from __future__ import annotations

import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from agent.priv.bundle import BundleError, Manifest, unpack, verify
from agent.priv.schema import version_key
from agent.state.atomic import ensure_dir
from agent.update.download import DownloadError, download
from agent.update.settings import UpdateSettings

STAGING = "update-staging"


class ReleaseError(Exception):
    """The release is refused; nothing of it is kept."""


@dataclass(frozen=True, slots=True)
class Staged:
    bundle: str  # the folder name under update-staging/
    manifest: Manifest
    size: int


async def stage(state_dir: Path, *, url: str, sha256: str, version: str, running: str,
                settings: UpdateSettings) -> Staged:
    if not settings.release_key:
        raise ReleaseError("no release_public_key is configured: msp-agent updates are refused")
    root = ensure_dir(state_dir / STAGING, 0o700)
    for old in root.iterdir():
        shutil.rmtree(old) if old.is_dir() and not old.is_symlink() else old.unlink()
    tag = secrets.token_hex(6)
    archive = root / f".{tag}.part"
    folder = root / f"{version}-{tag}"
    try:
        got = await download(url, archive, allowed_hosts=settings.allowed_hosts,
                             max_bytes=settings.max_bytes, deadline_s=settings.download_timeout_s,
                             cafile=settings.cafile)
        if got.sha256 != sha256:
            raise ReleaseError(f"SHA-256 mismatch: expected {sha256}, got {got.sha256}")
        unpack(archive, folder, settings.max_bytes * 4)
        manifest = verify(folder, settings.release_key, settings.machine)
        if manifest.version != version:
            raise ReleaseError(f"the bundle is release {manifest.version}, the order says "
                               f"{version}")
        if version_key(version) <= version_key(running) and not manifest.allow_downgrade:
            raise ReleaseError(f"release {version} is not newer than the running {running} "
                               "and its manifest does not allow a downgrade")
        return Staged(folder.name, manifest, got.size)
    except (DownloadError, BundleError, OSError, ReleaseError) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise ReleaseError(str(exc)) from None
    finally:
        archive.unlink(missing_ok=True)


def clear(state_dir: Path) -> None:
    shutil.rmtree(state_dir / STAGING, ignore_errors=True)
