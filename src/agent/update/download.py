"""A minimal HTTPS download for artifacts (not Central Command traffic, so not the Uplink).

``https`` only, a host from the configured allowlist, no IP literal, no credentials in the URL,
no redirects; a total deadline and a size cap; the body streamed into a new file (``O_EXCL``),
hashed on the way and fsynced. Any failure removes the partial file: nothing is left behind.
Runs ``http.client`` in a worker thread; every socket operation has a timeout and the read loop
checks the deadline, so the thread ends soon after the deadline too.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import ipaddress
import os
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

CHUNK = 64 * 1024
SOCKET_TIMEOUT_S = 30.0


class DownloadError(Exception):
    """The download was refused or failed; nothing was left on disk."""


@dataclass(frozen=True, slots=True)
class Downloaded:
    path: Path
    sha256: str
    size: int


def check_url(url: str, allowed_hosts: tuple[str, ...]) -> tuple[str, int, str]:
    """(host, port, path) of an acceptable URL; raises :class:`DownloadError`."""
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise DownloadError("the URL must use https")
    host = parts.hostname or ""
    if parts.username is not None or parts.password is not None:
        raise DownloadError("the URL must not carry credentials")
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(host)
        raise DownloadError("the URL must name a host, not an IP address")
    if host not in {h.lower() for h in allowed_hosts}:
        raise DownloadError(f"host {host!r} is not in the download allowlist")
    try:
        port = parts.port or 443
    except ValueError:
        raise DownloadError("the URL's port is invalid") from None
    path = parts.path or "/"
    return host, port, path + (f"?{parts.query}" if parts.query else "")


async def download(url: str, dest: Path, *, allowed_hosts: tuple[str, ...], max_bytes: int,
                   deadline_s: float, cafile: str | None = None) -> Downloaded:
    host, port, path = check_url(url, allowed_hosts)
    ctx = ssl.create_default_context(cafile=cafile)
    deadline = time.monotonic() + deadline_s
    try:
        async with asyncio.timeout(deadline_s + SOCKET_TIMEOUT_S):
            return await asyncio.to_thread(_fetch, host, port, path, dest, ctx, max_bytes, deadline)
    except TimeoutError:
        with contextlib.suppress(OSError):
            os.unlink(dest)
        raise DownloadError(f"download did not finish within {deadline_s:g} s") from None


def _fetch(host: str, port: int, path: str, dest: Path, ctx: ssl.SSLContext, max_bytes: int,
           deadline: float) -> Downloaded:
    import http.client  # with the email package, ~2 MiB: imported by the first download only

    conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=SOCKET_TIMEOUT_S)
    fd = -1
    try:
        conn.request("GET", path, headers={"Accept-Encoding": "identity",
                                           "User-Agent": "msp-agent-update"})
        resp = conn.getresponse()
        if resp.status != 200:
            raise DownloadError(f"download answered HTTP {resp.status}")
        length = resp.getheader("Content-Length")
        if length is not None and length.isdigit() and int(length) > max_bytes:
            raise DownloadError(f"the artifact is larger than the {max_bytes}-byte cap")
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600)
        digest, size = hashlib.sha256(), 0
        while block := resp.read(CHUNK):
            size += len(block)
            if size > max_bytes:
                raise DownloadError(f"the artifact is larger than the {max_bytes}-byte cap")
            if time.monotonic() > deadline:
                raise DownloadError("download deadline passed")
            digest.update(block)
            view = memoryview(block)
            while view:
                view = view[os.write(fd, view):]
        os.fsync(fd)
        os.close(fd)
        fd = -1
        return Downloaded(dest, digest.hexdigest(), size)
    except BaseException as exc:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            dest.unlink()
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            raise DownloadError("the disk is full: download abandoned, nothing kept") from None
        if isinstance(exc, DownloadError):
            raise
        if isinstance(exc, (OSError, http.client.HTTPException, ssl.SSLError)):
            raise DownloadError(f"download failed: {type(exc).__name__}: {exc}") from None
        raise
    finally:
        conn.close()
