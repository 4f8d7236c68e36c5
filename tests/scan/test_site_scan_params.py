"""The site's scan settings (config ``scan_cert_paths``, ``scan_backup_paths``, ``scan_backup_unit``)
reach SSH scans: a certificate and a stale backup in a watched directory on the loopback sshd host
become findings; without the settings the scripts fall back to their defaults. Hot reload applies."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from tests.exec.sshd import USER
from tests.sshfixtures import SshEnv

from agent.scan.linux import EVALUATORS

from .conftest import Env, drain

WATCHED = {"linux_cert_expiry", "linux_backup_status"}


@pytest.fixture
def site_files() -> Iterator[Path]:
    # Not under pytest's 0700 tmp tree: the scan runs as the SSH test user.
    root = Path(tempfile.mkdtemp(prefix="msp-site-"))
    root.chmod(0o755)
    (root / "certs").mkdir(mode=0o755)
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "5",
            "-subj",
            "/CN=portal.clinic.test",
            "-keyout",
            str(root / "key.pem"),
            "-out",
            str(root / "certs" / "portal.pem"),
        ],
        check=True,
        capture_output=True,
    )
    (root / "certs" / "portal.pem").chmod(0o644)
    backups = root / "backups"
    backups.mkdir(mode=0o755)
    archive = backups / "nightly.tar.zst"
    archive.write_bytes(b"x")
    old = time.time() - 12 * 86400
    os.utime(archive, (old, old))
    yield root
    shutil.rmtree(root)


async def test_site_settings_reach_the_ssh_scan(env: Env, ssh_env: SshEnv, site_files: Path) -> None:
    target = {
        "hostname": "127.0.0.1",
        "port": ssh_env.sshd.port,
        "username": USER,
        "password": ssh_env.users.password,
    }
    w = env.wired([target], disabled=sorted(set(EVALUATORS) - WATCHED))
    scan = w.scan

    await scan.scan_now()  # defaults: no backup location configured is itself drift; no cert watched
    before = {i.check_type: i for i in drain(w.healing) if i.host == "127.0.0.1"}
    assert before["linux_backup_status"].actual == "no backup path or unit configured"
    assert "linux_cert_expiry" not in before

    cert = str(site_files / "certs" / "*.pem")
    scan.reload(
        msgspec.structs.replace(
            scan.config, scan_cert_paths=(cert,), scan_backup_paths=(str(site_files / "backups"),)
        )
    )
    await scan.scan_now()
    after = {i.check_type: i for i in drain(w.healing) if i.host == "127.0.0.1"}
    certs = after["linux_cert_expiry"]
    assert str(site_files / "certs" / "portal.pem") in str(certs.details) and certs.severity == "high"
    backup = after["linux_backup_status"]
    assert backup.actual == "newest backup is 12 days old" and backup.details["age_days"] == 12
