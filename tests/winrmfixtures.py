"""Shared WinRM test helpers: the WS-Man test server playing a Windows host, its NTLM user file, and
the decoding of runbook parameters from a delivered PowerShell script.

Registered for the whole suite from ``tests/conftest.py`` (``pytest_plugins``)."""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.winrm_testserver import WsmanTestServer

_PARAM = re.compile(
    r"'([a-z_]+)' = \[Text\.Encoding\]::UTF8\.GetString\(\[Convert\]::FromBase64String\('([^']*)'\)\)"
)


def ntlm_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, domain_user: str, password: str) -> None:
    """Make ``DOMAIN\\user`` with ``password`` the one account the test server accepts."""
    domain, _, user = domain_user.partition("\\")
    f = tmp_path / "ntlm_users"
    f.write_text(f"{domain}:{user}:{password}\n")
    monkeypatch.setenv("NTLM_USER_FILE", str(f))


def script_params(script: str) -> dict[str, str]:
    """The runbook parameters a delivered PowerShell script carries (base64 literals)."""
    return {m.group(1): base64.b64decode(m.group(2)).decode() for m in _PARAM.finditer(script)}


@pytest.fixture
async def wsman() -> AsyncIterator[WsmanTestServer]:
    srv = WsmanTestServer()
    await srv.start()
    yield srv
    await srv.stop()
