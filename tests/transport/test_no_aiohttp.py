"""The daemon's wiring checks in over TLS to a real Central Command without importing aiohttp (the
local Central Command in this process is an aiohttp server; the agent runs in a child process)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest
from tests.checkin.conftest import SITE, Env
from tests.checkin.conftest import env as env

CHILD = r"""
import asyncio, json, ssl, sys
from pathlib import Path

from agent.config import load_config
from agent.state import load_or_create
from agent.wiring import Options, build

cfg_path, state, cafile = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]


async def main() -> bool:
    ctx = ssl.create_default_context(cafile=cafile)
    cfg = load_config(cfg_path, environ={}).config
    w = build(cfg, cfg_path, load_or_create(state), Options(own_mac="", ssl_context=ctx))
    try:
        return await w.checkin.run_once()
    finally:
        await w.close()


ok = asyncio.run(main())
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("aiohttp", "multidict", "yarl"))
print(json.dumps({"ok": ok, "loaded": loaded, "h11": "h11" in sys.modules}))
"""


@pytest.mark.slow
async def test_daemon_checks_in_without_aiohttp(env: Env) -> None:
    cafile = env.tmp / "ca.pem"
    env.ca.cert_pem.write_to_path(str(cafile))
    env.config_path.write_text(
        f"site_id: {SITE}\napi_key: {env.api_key}\napi_endpoint: {env.cc.url}\n"
        f"state_dir: {env.state}\npoll_interval: 60\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, str(env.config_path), str(env.state), str(cafile),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()[-2000:]
    result = json.loads(out.decode().strip().splitlines()[-1])
    assert result == {"ok": True, "loaded": [], "h11": True}
    assert [c["http_status"] for c in env.cc.checkins(SITE)] == [200]
