"""Watchdog bootstrap: ``POST /api/watchdog/bootstrap`` (central-api.md §7.11). Body ``{}``."""

from __future__ import annotations

from typing import ClassVar

from msgspec import Struct

from agent.protocol._secret import masked_repr

WATCHDOG_BOOTSTRAP_PATH = "/api/watchdog/bootstrap"
WATCHDOG_BOOTSTRAP_BODY = b"{}"


class WatchdogBootstrapResponse(Struct, kw_only=True):
    """200 body; ``api_key`` (for ``<appliance_id>-watchdog``) is a secret."""

    _secrets: ClassVar[frozenset[str]] = frozenset({"api_key"})

    site_id: str
    appliance_id: str
    api_key: str
    api_endpoint: str = ""

    def __repr__(self) -> str:
        return masked_repr(self, self._secrets)
