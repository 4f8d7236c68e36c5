"""New Linux runbooks, for real: drift created by the test in a temp sandbox, scanned, healed
through the L1 pipeline over the loopback sshd, verified and rescanned (healing.md §3.4, §3.5)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.exec.sshd import USER_NOPASSWD

from agent.exec import Target, Transport
from agent.exec.preamble import sh_preamble
from agent.healing.executor import mgmt_params
from agent.runbooks import default_registry, parse_phase_output
from agent.scan.linux import LinuxScanner
from agent.scan.model import aggregate

from .fakes import MemorySink
from .test_e2e_ssh import _pipeline

REG = default_registry()
DRIFTED_SSHD = "# clinic image\nPermitRootLogin yes\nPasswordAuthentication yes\nUsePAM yes\n"


@pytest.fixture
def sandbox() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="msp-rb-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _first(cfg: Path, key: str) -> str:
    for line in cfg.read_text().splitlines():
        parts = line.split()
        if parts and parts[0].lower() == key.lower():
            return parts[1]
    return ""


async def _scan_ssh(scanner: LinuxScanner, target: Target, cred: Any, cfg: Path) -> Any:
    return await scanner.scan(target, cred, deadline_s=60, params={"sshd_config": str(cfg), "perm_files": []})


async def test_ssh_hardening_healed_with_key_login(
    ssh_env: Any, ssh_exec: Any, sandbox: Path, tmp_path: Path
) -> None:
    cfg = sandbox / "sshd_config"
    cfg.write_text(DRIFTED_SSHD)
    cfg.chmod(0o644)
    target = Target(Transport.SSH, "127.0.0.1", ssh_env.sshd.port, "linux", "linux")
    cred = ssh_env.key_cred(USER_NOPASSWD)  # the agent logs in with a key
    scanner = LinuxScanner(ssh_exec)
    first = await _scan_ssh(scanner, target, cred, cfg)
    assert first.checks["linux_ssh_config"] == "drift"
    inc = next(i for i in aggregate(first.findings) if i.check_type == "linux_ssh_config")
    assert inc.details == {"root_login": "yes", "password_auth": "yes", "config": str(cfg)}

    sink = MemorySink()
    res = await _pipeline(tmp_path, target, cred, ssh_exec, sink).handle(inc)
    assert res.stage == "healed", (res.reason, res.outcome)
    assert res.rule_id == "L1-SSH-001"
    assert _first(cfg, "PermitRootLogin") == "prohibit-password"
    assert _first(cfg, "PasswordAuthentication") == "no"
    assert "UsePAM yes" in cfg.read_text() and oct(cfg.stat().st_mode & 0o777) == "0o644"
    assert (await _scan_ssh(scanner, target, cred, cfg)).checks["linux_ssh_config"] == "pass"

    again = await _pipeline(tmp_path / "again", target, cred, ssh_exec, MemorySink()).execute(
        inc,
        REG.get("LIN-SSH-001"),
        {"config": str(cfg)},
        phases=("remediate", "verify"),  # type: ignore[arg-type]
        level="order",
        trigger="order",
    )
    assert again.stage == "healed"
    assert cfg.read_text().count("BEGIN msp-agent LIN-SSH-001") == 1  # idempotent


async def test_ssh_hardening_keeps_password_login_the_agent_uses(
    ssh_env: Any, ssh_exec: Any, sandbox: Path, tmp_path: Path
) -> None:
    cfg = sandbox / "sshd_config"
    cfg.write_text(DRIFTED_SSHD)
    target = Target(Transport.SSH, "127.0.0.1", ssh_env.sshd.port, "linux", "linux")
    cred = ssh_env.pw_cred(USER_NOPASSWD)  # the agent logs in with a password
    first = await _scan_ssh(LinuxScanner(ssh_exec), target, cred, cfg)
    inc = next(i for i in aggregate(first.findings) if i.check_type == "linux_ssh_config")
    res = await _pipeline(tmp_path, target, cred, ssh_exec, MemorySink()).handle(inc)
    assert res.outcome is not None and res.outcome.outcome == "not_applicable", res
    assert _first(cfg, "PasswordAuthentication") == "yes"  # management path kept
    assert _first(cfg, "PermitRootLogin") == "prohibit-password"  # the safe part was applied


async def test_ssh_hardening_refuses_a_config_sshd_rejects(
    ssh_env: Any, ssh_exec: Any, sandbox: Path, tmp_path: Path
) -> None:
    cfg = sandbox / "sshd_config"
    broken = DRIFTED_SSHD + "NoSuchKeyword on\n"
    cfg.write_text(broken)
    target = Target(Transport.SSH, "127.0.0.1", ssh_env.sshd.port, "linux", "linux")
    cred = ssh_env.key_cred(USER_NOPASSWD)
    inc = next(
        i
        for i in aggregate((await _scan_ssh(LinuxScanner(ssh_exec), target, cred, cfg)).findings)
        if i.check_type == "linux_ssh_config"
    )
    res = await _pipeline(tmp_path, target, cred, ssh_exec, MemorySink()).handle(inc)
    assert res.stage != "healed" and res.outcome is not None and res.outcome.phase == "remediate"
    assert cfg.read_text() == broken  # original kept


def test_mgmt_params_describe_the_agents_access_path(ssh_env: Any) -> None:
    t = Target(Transport.SSH, "h", 2222, "linux")
    assert mgmt_params(t, ssh_env.key_cred(USER_NOPASSWD)) == {
        "mgmt_transport": "ssh",
        "mgmt_port": 2222,
        "mgmt_auth": "key",
    }
    assert mgmt_params(Target(Transport.SSH, "h"), ssh_env.pw_cred(USER_NOPASSWD))["mgmt_auth"] == "password"
    assert mgmt_params(Target.local(), None) == {
        "mgmt_transport": "local",
        "mgmt_port": 0,
        "mgmt_auth": "none",
    }


def _netns_available() -> bool:
    try:
        return subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(os.geteuid() != 0 or not _netns_available(), reason="needs root and network namespaces")
def test_kernel_hardening_in_a_private_network_namespace(sandbox: Path) -> None:
    """The three phases in one fresh network namespace (its own /proc/sys/net): nothing on the host."""
    rb = REG.get("LIN-KERN-001")
    assert rb is not None
    host_before = {k: Path(f"/proc/sys/net/ipv4/{k}").read_text() for k in ("ip_forward", "tcp_syncookies")}
    conf = sandbox / "sysctl.d" / "60-msp-agent-net.conf"
    params = {"conf_file": str(conf), **mgmt_params(Target.local(), None)}
    pre = sh_preamble(params, remote_deadline_s=None)
    drift = (
        "echo 1 > /proc/sys/net/ipv4/ip_forward; echo 0 > /proc/sys/net/ipv4/tcp_syncookies; "
        "echo 1 > /proc/sys/net/ipv4/conf/all/accept_redirects\n"
    )
    phases = ["detect", "remediate", "verify", "detect"]
    body = drift + "".join(
        f"( {pre}\n{rb.scripts[ph]}\n) | sed 's/^MSP_RESULT /MSP_RESULT_{i} /'\n"
        for i, ph in enumerate(phases)
    )
    out = subprocess.run(["unshare", "-n", "sh", "-c", body], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    results = []
    for i, ph in enumerate(phases):
        lines = [
            ln.replace(f"MSP_RESULT_{i} ", "MSP_RESULT ")
            for ln in out.stdout.splitlines()
            if ln.startswith(f"MSP_RESULT_{i} ")
        ]
        pr = parse_phase_output(ph, "\n".join(lines), exit_code=0, truncated=False, transport_ok=True)
        assert pr.ok, (ph, pr, out.stdout)
        results.append(pr.result)
    assert results[0] is not None and results[0]["drifted"] is True
    assert results[0]["observed"] == {"ip_forward": 1, "tcp_syncookies": 0, "accept_redirects": 1}
    assert rb.verify_proves(results[2], params) == (True, "")
    assert results[3] is not None and results[3]["drifted"] is False
    assert "net.ipv4.ip_forward = 0" in conf.read_text()
    assert {
        k: Path(f"/proc/sys/net/ipv4/{k}").read_text() for k in host_before
    } == host_before  # host untouched
