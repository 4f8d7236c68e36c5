"""``update_agent``: the Windows workstation agent binary, kept for redistribution.

Downloaded (capped, deadlined, allowlisted host) into ``<state_dir>/agent/`` as a temporary file,
its SHA-256 compared with the signed ``binary_sha256`` (required; the Go daemon made it
optional), then renamed over ``agent/osiris-agent.exe`` with ``agent/VERSION`` (the Go daemon's
names) and registered in ``bin/manifest.json`` (the Go daemon's format: ``entries`` keyed by
platform and arch, ``updated_at``), each written atomically. A refused download leaves nothing.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from agent.state.atomic import atomic_write, ensure_dir, fsync_dir
from agent.timefmt import format_rfc3339
from agent.update.download import download

BINARY = "osiris-agent.exe"
PLATFORM, ARCH = "windows", "amd64"


async def fetch(state_dir: Path, *, url: str, sha256: str, version: str,
                allowed_hosts: tuple[str, ...], max_bytes: int, deadline_s: float,
                cafile: str | None = None) -> dict[str, Any]:
    """Install the binary; raises ``DownloadError`` or ``ValueError`` (hash) with nothing kept."""
    folder = ensure_dir(state_dir / "agent", 0o700)
    tmp = folder / f".{BINARY}.{secrets.token_hex(6)}.part"
    got = await download(url, tmp, allowed_hosts=allowed_hosts, max_bytes=max_bytes,
                         deadline_s=deadline_s, cafile=cafile)
    try:
        if got.sha256 != sha256:
            raise ValueError(f"SHA-256 mismatch: expected {sha256}, got {got.sha256}")
        os.chmod(tmp, 0o644)
        os.rename(tmp, folder / BINARY)
        fsync_dir(folder)
    finally:
        tmp.unlink(missing_ok=True)
    atomic_write(folder / "VERSION", version.encode(), 0o644)
    now = format_rfc3339()
    register(state_dir, {"platform": PLATFORM, "arch": ARCH, "version": version,
                         "filename": BINARY, "sha256": got.sha256, "size": got.size,
                         "min_os_version": "", "go_version": "", "updated_at": now})
    return {"status": "updated", "version": version, "size": got.size, "sha256": got.sha256,
            "message": "agent binary updated; deployment distributes it to workstations"}


def register(state_dir: Path, entry: dict[str, Any]) -> None:
    """Add or replace the entry for its platform and arch in ``bin/manifest.json``."""
    path = ensure_dir(state_dir / "bin", 0o700) / "manifest.json"
    try:
        doc = json.loads(path.read_bytes())
        entries = [e for e in doc.get("entries", []) if isinstance(e, dict)]
    except FileNotFoundError:
        entries = []
    except (OSError, ValueError, AttributeError):
        entries = []  # unreadable: rebuilt with the entry we know (the Go daemon starts empty)
    key = (entry["platform"], entry["arch"])
    keep = [e for e in entries if (e.get("platform"), e.get("arch")) != key]
    body = {"entries": [*keep, entry], "updated_at": entry["updated_at"]}
    atomic_write(path, json.dumps(body, indent=2).encode(), 0o600)
