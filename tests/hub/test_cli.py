"""``msp-agent hub`` against a running hub: a token issued by the command enrolls an agent, a
revocation by the command is refused on the agent's next call (the daemon re-reads the file)."""

from __future__ import annotations

import json
import subprocess

import pytest
from grpclib.const import Status
from grpclib.exceptions import GRPCError
from tests.conftest import agent_cmd, clean_env
from tests.hub.conftest import Harness


def hubcmd(h: Harness, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(agent_cmd("hub", *args, "--state-dir", str(h.tmp / "state")),
                          capture_output=True, text=True, env=clean_env(), timeout=60)


async def test_token_and_revoke_while_the_hub_runs(hub: Harness) -> None:
    out = hubcmd(hub, "token", "ws-02")
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip()
    assert token and token not in out.stderr  # the audit line names the host, not the token
    a = hub.agent("ws-02")
    assert (await a.enroll(token)).agent_cert_pem
    assert (await a.heartbeat()).acknowledged
    listed = json.loads(hubcmd(hub, "list", "--json").stdout)
    assert [c["hostname"] for c in listed["certificates"]] == ["ws-02"]
    assert token not in json.dumps(listed)
    assert hubcmd(hub, "revoke", "ws-02").returncode == 0
    with pytest.raises(GRPCError) as info:
        await a.heartbeat()
    assert info.value.status is Status.UNAUTHENTICATED


def test_bad_host_is_a_usage_error(tmp_path) -> None:
    (tmp_path / "state").mkdir()
    out = subprocess.run(agent_cmd("hub", "token", "two words", "--state-dir",
                                   str(tmp_path / "state")),
                         capture_output=True, text=True, env=clean_env(), timeout=60)
    assert out.returncode == 2 and "invalid host name" in out.stderr
