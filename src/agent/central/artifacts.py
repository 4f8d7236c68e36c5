"""Artifacts the local Central Command serves for download orders (``GET /updates/<name>``):
release bundles for ``update_daemon``, workstation-agent binaries for ``update_agent``. Served
over the server's own TLS (start it with an ``ssl_context`` from a test CA); never from disk."""

from __future__ import annotations

import hashlib
import re

from aiohttp import web

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", re.ASCII)
PREFIX = "/updates/"


class ArtifactStore:
    def __init__(self) -> None:
        self._items: dict[str, bytes] = {}

    def publish(self, name: str, data: bytes) -> tuple[str, str]:
        """Serve ``data`` as ``/updates/<name>``; returns (path, SHA-256 hex)."""
        if not _NAME.fullmatch(name):
            raise ValueError("artifact name must be 1-128 of A-Z a-z 0-9 . _ -")
        self._items[name] = bytes(data)
        return PREFIX + name, hashlib.sha256(data).hexdigest()

    async def handle(self, request: web.Request) -> web.Response:
        data = self._items.get(request.match_info["name"])
        if data is None:
            raise web.HTTPNotFound()
        return web.Response(body=data, content_type="application/octet-stream")

    def routes(self) -> list[web.RouteDef]:
        return [web.get(PREFIX + "{name}", self.handle)]
