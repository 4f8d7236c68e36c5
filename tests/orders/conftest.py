"""Shared fixtures of the order tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.central import CentralCommand

SITE = "clinic-orders"


@pytest.fixture
async def cc(tmp_path: Path) -> AsyncIterator[CentralCommand]:
    """The local Central Command with one site, :data:`SITE`."""
    server = CentralCommand(tmp_path / "central.db")
    await server.start()
    server.create_site(SITE)
    yield server
    await server.stop()
    server.close()
