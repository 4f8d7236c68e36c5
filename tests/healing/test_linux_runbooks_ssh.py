"""The remaining Linux checks and runbooks, for real over the loopback sshd: the test creates the
drift in a sandbox the scan parameters point at, the scan (as the unprivileged SSH user) finds it,
the L1 pipeline heals it through sudo, verify proves it and the rescan is clean (healing.md §2.5,
§2.6, §3.4, §3.6). Where this container cannot heal for real (no systemd as PID 1, no ACME
client), the not_applicable path is tested and nothing may change."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.exec.sshd import USER_NOPASSWD

from agent.exec import ExecRequest, Privilege, Target, Transport
from agent.runbooks import default_registry, parse_phase_output
from agent.scan.linux import LinuxScanner
from agent.scan.model import HostResult, Incident, aggregate

from .fakes import MemorySink
from .test_e2e_ssh import _pipeline

REG = default_registry()
SYSTEMD = Path("/run/systemd/system").is_dir()
ROOT = os.geteuid() == 0


@pytest.fixture
def sandbox() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="msp-lrb-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _target(ssh_env: Any) -> Target:
    return Target(Transport.SSH, "127.0.0.1", ssh_env.sshd.port, "linux", "linux")


def _params(sandbox: Path, **extra: Any) -> dict[str, Any]:
    """Keep every check on sandbox paths (the defaults would look at this shared container)."""
    base: dict[str, Any] = {
        "perm_files": [],
        "sshd_config": str(sandbox / "absent"),
        "suid_dirs": [str(sandbox / "nosuid")],
        "syslog_configs": [str(sandbox / "absent.conf")],
        "journal_dir": str(sandbox / "absent-journal"),
        "cron_dirs": [str(sandbox / "absent-spool")],
        "cert_paths": [str(sandbox / "absent.pem")],
        "backup_paths": [str(sandbox / "absent-backup")],
    }
    base.update(extra)
    return base


async def _scan(ssh_exec: Any, ssh_env: Any, params: dict[str, Any]) -> HostResult:
    cred = ssh_env.key_cred(USER_NOPASSWD)
    res = await LinuxScanner(ssh_exec).scan(_target(ssh_env), cred, deadline_s=120, params=params)
    assert res.status == "complete", (res.status, res.error_kind, res.diagnostics)
    return res


def _incident(res: HostResult, check: str) -> Incident:
    return next(i for i in aggregate(res.findings) if i.check_type == check)


async def _phase(ssh_exec: Any, ssh_env: Any, rb_id: str, phase: str, supplied: dict[str, Any]) -> Any:
    """One phase of a packaged runbook, for real over SSH through sudo, as the heal runner runs it;
    returns ``(parsed phase, bound params)``."""
    rb = REG.get(rb_id)
    assert rb is not None
    params = rb.bind(supplied, {})
    req = ExecRequest(rb.scripts[phase], deadline_s=60, privilege=Privilege(rb.privilege), params=params)
    res = await ssh_exec.run(_target(ssh_env), ssh_env.key_cred(USER_NOPASSWD), req)
    pr = parse_phase_output(
        phase,
        res.stdout,
        exit_code=res.exit_code,
        truncated=res.stdout_truncated,
        transport_ok=res.error is None,
    )
    assert pr.ok, (pr, res.stdout, res.stderr)
    return pr, params


def _mode(p: Path) -> int:
    return p.stat().st_mode & 0o7777


# --- linux_suid_binaries / LIN-SUID-001 ---------------------------------------------------------


async def test_stray_suid_binary_found_healed_and_rescanned_clean(
    ssh_env: Any, ssh_exec: Any, sandbox: Path, tmp_path: Path
) -> None:
    bindir = sandbox / "bin"
    bindir.mkdir(mode=0o755)
    stray = bindir / "helper"
    shutil.copy("/usr/bin/true", stray)
    stray.chmod(0o4755)  # the drift: a root-owned SUID binary in a temporary directory
    params = _params(sandbox, suid_dirs=[str(bindir)])
    first = await _scan(ssh_exec, ssh_env, params)
    assert first.checks["linux_suid_binaries"] == "drift"
    inc = _incident(first, "linux_suid_binaries")
    assert inc.details == {"binaries": [str(stray)]} and inc.severity == "high"

    sink = MemorySink()
    res = await _pipeline(tmp_path, _target(ssh_env), ssh_env.key_cred(USER_NOPASSWD), ssh_exec, sink).handle(
        inc
    )
    assert res.stage == "healed", (res.reason, res.outcome)
    assert res.rule_id == "L1-SUID-001"
    assert res.outcome is not None and res.outcome.verify is not None
    assert res.outcome.verify["observed"] == {"listed": 1, "suid_left": 0}
    assert _mode(stray) == 0o755  # only the SUID bit went
    assert (await _scan(ssh_exec, ssh_env, params)).checks["linux_suid_binaries"] == "pass"


async def test_suid_binary_in_a_system_location_is_left_for_review(
    ssh_env: Any, ssh_exec: Any, sandbox: Path, tmp_path: Path
) -> None:
    if not ROOT:
        pytest.skip("needs root to create a root-owned directory outside /tmp")
    sysdir = Path(tempfile.mkdtemp(prefix="msp-lrb-", dir="/opt"))
    try:
        os.chmod(sysdir, 0o755)  # root-owned, not group/other writable, not a temp location
        vendor = sysdir / "vendor-tool"
        shutil.copy("/usr/bin/true", vendor)
        vendor.chmod(0o4755)
        first = await _scan(ssh_exec, ssh_env, _params(sandbox, suid_dirs=[str(sysdir)]))
        inc = _incident(first, "linux_suid_binaries")
        assert inc.details == {"binaries": [str(vendor)]}
        res = await _pipeline(
            tmp_path, _target(ssh_env), ssh_env.key_cred(USER_NOPASSWD), ssh_exec, MemorySink()
        ).handle(inc)
        assert res.outcome is not None and res.outcome.outcome == "not_applicable", res
        assert _mode(vendor) == 0o4755  # a person decides
    finally:
        shutil.rmtree(sysdir, ignore_errors=True)


async def test_unreadable_suid_directory_is_unknown(ssh_env: Any, ssh_exec: Any, sandbox: Path) -> None:
    closed = sandbox / "closed"
    (closed / "sub").mkdir(parents=True)
    closed.chmod(0o700)  # root only: the SSH user cannot look inside
    res = await _scan(ssh_exec, ssh_env, _params(sandbox, suid_dirs=[str(closed)]))
    assert res.checks["linux_suid_binaries"] == "unknown"
    assert not [f for f in res.findings if f.check_type == "linux_suid_binaries"]


# --- linux_cert_expiry / LIN-CERT-001 -----------------------------------------------------------


def _cert(path: Path, days: int) -> None:
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", str(path.with_suffix(".key")), "-out", str(path), "-days", str(days),
         "-subj", "/CN=portal.clinic.test"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    path.chmod(0o644)


async def test_expiring_certificate_found_and_no_acme_client_is_not_applicable(
    ssh_env: Any, ssh_exec: Any, sandbox: Path, tmp_path: Path
) -> None:
    if any(shutil.which(c) for c in ("certbot", "acme.sh", "lego")):
        pytest.skip("an ACME client is installed here; this test covers the host without one")
    cert = sandbox / "portal.pem"
    _cert(cert, 5)
    params = _params(sandbox, cert_paths=[str(cert)])
    first = await _scan(ssh_exec, ssh_env, params)
    assert first.checks["linux_cert_expiry"] == "drift"
    inc = _incident(first, "linux_cert_expiry")
    assert inc.details["path"] == str(cert) and inc.details["days_left"] in (4, 5)
    before = cert.read_bytes()
    res = await _pipeline(
        tmp_path, _target(ssh_env), ssh_env.key_cred(USER_NOPASSWD), ssh_exec, MemorySink()
    ).handle(inc)
    assert res.outcome is not None and res.outcome.outcome == "not_applicable", res
    assert res.outcome.phase == "remediate" and res.outcome.verify is None  # verify skipped (§3.5)
    assert cert.read_bytes() == before

    # a person renews it: verify re-reads the expiry and proves it; the rescan is clean
    _cert(cert, 90)
    pr, bound = await _phase(ssh_exec, ssh_env, "LIN-CERT-001", "verify", {"path": str(cert)})
    rb = REG.get("LIN-CERT-001")
    assert rb is not None and rb.verify_proves(pr.result, bound) == (True, "")
    assert pr.result["observed"]["days_left"] in (89, 90)
    det, _ = await _phase(ssh_exec, ssh_env, "LIN-CERT-001", "detect", {"path": str(cert)})
    assert det.result["drifted"] is False
    assert (await _scan(ssh_exec, ssh_env, params)).checks["linux_cert_expiry"] == "pass"


async def test_certificate_verify_fails_while_still_expiring(
    ssh_env: Any, ssh_exec: Any, sandbox: Path
) -> None:
    cert = sandbox / "portal.pem"
    _cert(cert, 5)
    pr, bound = await _phase(ssh_exec, ssh_env, "LIN-CERT-001", "verify", {"path": str(cert)})
    rb = REG.get("LIN-CERT-001")
    assert rb is not None and pr.result["verified"] is False
    assert rb.verify_proves(pr.result, bound) == (False, "not_verified")
    assert pr.result["observed"]["path"] == str(cert) and pr.result["observed"]["days_left"] in (4, 5)
    det, _ = await _phase(ssh_exec, ssh_env, "LIN-CERT-001", "detect", {"path": str(cert)})
    assert det.result["drifted"] is True
    gone, _ = await _phase(ssh_exec, ssh_env, "LIN-CERT-001", "verify", {"path": str(sandbox / "gone.pem")})
    assert gone.result["verified"] is False  # an unreadable certificate never verifies


async def test_unreadable_or_missing_certificate_is_unknown(
    ssh_env: Any, ssh_exec: Any, sandbox: Path
) -> None:
    cert = sandbox / "private.pem"
    _cert(cert, 5)
    cert.chmod(0o600)  # root only
    res = await _scan(ssh_exec, ssh_env, _params(sandbox, cert_paths=[str(cert), str(sandbox / "gone.pem")]))
    assert res.checks["linux_cert_expiry"] == "unknown"


# --- linux_cron_review (escalate) ---------------------------------------------------------------


async def test_user_crontab_entries_are_a_review_item(
    ssh_env: Any, ssh_exec: Any, sandbox: Path, tmp_path: Path
) -> None:
    spool = sandbox / "crontabs"
    spool.mkdir(mode=0o755)
    (spool / USER_NOPASSWD).write_text("# m h dom mon dow command\nMAILTO=ops\n*/5 * * * * /usr/bin/true\n")
    (spool / "root").write_text("# nothing scheduled\n\n")
    params = _params(sandbox, cron_dirs=[str(spool)])
    first = await _scan(ssh_exec, ssh_env, params)
    assert first.checks["linux_cron_review"] == "drift"
    inc = _incident(first, "linux_cron_review")
    assert inc.details == {"users": [USER_NOPASSWD]} and inc.severity == "low"
    res = await _pipeline(
        tmp_path, _target(ssh_env), ssh_env.key_cred(USER_NOPASSWD), ssh_exec, MemorySink()
    ).handle(inc)
    assert (res.stage, res.reason) == ("escalated", "linux_cron_review")  # a person reviews it
    (spool / USER_NOPASSWD).unlink()
    assert (await _scan(ssh_exec, ssh_env, params)).checks["linux_cron_review"] == "pass"
    spool.chmod(0o700)  # the real spool is root-only: the unprivileged scan cannot tell
    assert (await _scan(ssh_exec, ssh_env, params)).checks["linux_cron_review"] == "unknown"


# --- linux_backup_status --------------------------------------------------------------------------


async def test_backup_age_from_the_configured_backup_directory(
    ssh_env: Any, ssh_exec: Any, sandbox: Path, tmp_path: Path
) -> None:
    backups = sandbox / "backup"
    (backups / "daily").mkdir(parents=True)
    old = backups / "daily" / "clinic-db.tar.zst"
    old.write_bytes(b"x")
    ten_days = time.time() - 10 * 86400
    os.utime(old, (ten_days, ten_days))
    params = _params(sandbox, backup_paths=[str(backups)])
    first = await _scan(ssh_exec, ssh_env, params)
    assert first.checks["linux_backup_status"] == "drift"
    inc = _incident(first, "linux_backup_status")
    assert inc.details == {"age_days": 10} and inc.severity == "medium"

    (backups / "daily" / "clinic-db-new.tar.zst").write_bytes(b"y")  # tonight's backup ran
    assert (await _scan(ssh_exec, ssh_env, params)).checks["linux_backup_status"] == "pass"
    backups.chmod(0o700)  # root only: cannot tell
    assert (await _scan(ssh_exec, ssh_env, params)).checks["linux_backup_status"] == "unknown"
    nothing = await _scan(ssh_exec, ssh_env, _params(sandbox, backup_paths=[]))
    assert _incident(nothing, "linux_backup_status").actual == "no backup path or unit configured"


@pytest.mark.skipif(SYSTEMD, reason="covers the non-systemd host")
async def test_backup_unit_without_systemd_is_unknown_and_not_applicable(
    ssh_env: Any, ssh_exec: Any, sandbox: Path, tmp_path: Path
) -> None:
    res = await _scan(
        ssh_exec, ssh_env, _params(sandbox, backup_paths=[], backup_unit="restic-backup.service")
    )
    assert res.checks["linux_backup_status"] == "unknown"  # the unit's last run cannot be read
    inc = Incident(
        "drift-b", "127.0.0.1", "linux_backup_status", "medium", "", "", "",
        {"unit": "restic-backup.service", "age_days": 9}, "linux", "linuxscan", "linux", (), time.time(),
    )  # fmt: skip
    rb = REG.get("LIN-BACKUP-001")
    assert rb is not None
    out = await _pipeline(
        tmp_path, _target(ssh_env), ssh_env.key_cred(USER_NOPASSWD), ssh_exec, MemorySink()
    ).execute(inc, rb, {}, phases=("remediate", "verify"), level="order", trigger="order")
    assert out.outcome is not None and out.outcome.outcome == "not_applicable", out
    pr, bound = await _phase(
        ssh_exec, ssh_env, "LIN-BACKUP-001", "verify", {"job_name": "restic-backup.service"}
    )
    assert rb.verify_proves(pr.result, bound)[0] is False  # nothing ran: never verified


# --- linux_log_forwarding / LIN-LOG-001 -----------------------------------------------------------


async def test_log_forwarding_detection_and_heal_path(
    ssh_env: Any, ssh_exec: Any, sandbox: Path, tmp_path: Path
) -> None:
    conf = sandbox / "rsyslog.conf"
    conf.write_text('module(load="imuxsock")\n#*.* @@old.example:514\n*.* /var/log/syslog\n')
    jdir = sandbox / "var" / "log" / "journal"
    params = _params(sandbox, syslog_configs=[str(conf)], journal_dir=str(jdir))
    first = await _scan(ssh_exec, ssh_env, params)
    assert first.checks["linux_log_forwarding"] == "drift"  # commented-out forwarding does not count
    inc = _incident(first, "linux_log_forwarding")
    pipe = _pipeline(tmp_path, _target(ssh_env), ssh_env.key_cred(USER_NOPASSWD), ssh_exec, MemorySink())
    rb = REG.get("LIN-LOG-001")
    assert rb is not None
    sandbox_dirs = {
        "journal_dir": str(jdir),
        "journald_dropin_dir": str(sandbox / "etc" / "systemd" / "journald.conf.d"),
        "rsyslog_dropin_dir": str(sandbox / "etc" / "rsyslog.d"),
    }
    res = await pipe.execute(
        inc, rb, sandbox_dirs, phases=("remediate", "verify"), level="order", trigger="order"
    )
    assert res.outcome is not None and res.outcome.outcome == "not_applicable", res
    if not SYSTEMD:
        assert not jdir.exists() and not (sandbox / "etc").exists()  # nothing faked on a non-systemd host
    else:  # journal made persistent, but no site destination: still not_applicable (a person decides)
        assert jdir.is_dir()
    det, _ = await _phase(ssh_exec, ssh_env, "LIN-LOG-001", "detect", sandbox_dirs)
    assert det.result["drifted"] is True  # the runbook agrees with the scan
    ver, bound = await _phase(ssh_exec, ssh_env, "LIN-LOG-001", "verify", sandbox_dirs)
    assert rb.verify_proves(ver.result, bound)[0] is False
    conf.write_text("*.* @@logs.clinic.test:6514\n")
    assert (await _scan(ssh_exec, ssh_env, params)).checks["linux_log_forwarding"] == "pass"
    conf.write_text('*.* action(type="omfwd" target="10.0.0.9" port="514" protocol="udp")\n')
    assert (await _scan(ssh_exec, ssh_env, params)).checks["linux_log_forwarding"] == "pass"
    conf.write_text("")
    jdir.mkdir(parents=True, exist_ok=True)
    assert (await _scan(ssh_exec, ssh_env, params)).checks["linux_log_forwarding"] == "pass"


# --- linux_unattended_upgrades / LIN-PATCH-001 -----------------------------------------------------


@pytest.mark.skipif(SYSTEMD, reason="covers the non-systemd host")
async def test_unattended_upgrades_without_systemd_is_unknown_and_not_applicable(
    ssh_env: Any, ssh_exec: Any, sandbox: Path, tmp_path: Path
) -> None:
    res = await _scan(ssh_exec, ssh_env, _params(sandbox))
    assert res.checks["linux_unattended_upgrades"] == "unknown"  # cannot see timers: never "pass"
    inc = Incident(
        "drift-u", "127.0.0.1", "linux_unattended_upgrades", "medium", "164.308(a)(5)(ii)(A)", "", "",
        {}, "linux", "linuxscan", "linux", (), time.time(),
    )  # fmt: skip
    out = await _pipeline(
        tmp_path, _target(ssh_env), ssh_env.key_cred(USER_NOPASSWD), ssh_exec, MemorySink()
    ).handle(inc)
    assert out.rule_id == "L1-LIN-UPGRADES-001"
    assert out.outcome is not None and out.outcome.outcome == "not_applicable", out


# --- linux_disk_space / LIN-DISK-001 and linux_encryption on a real loop mount --------------------


@pytest.fixture
def full_fs(sandbox: Path) -> Iterator[Path]:
    if not ROOT or shutil.which("mkfs.ext4") is None:
        pytest.skip("needs root and mkfs.ext4 for a loop mount")
    img, mnt = sandbox / "fs.img", sandbox / "mnt"
    mnt.mkdir()
    with img.open("wb") as f:
        f.truncate(16 << 20)
    subprocess.run(
        ["mkfs.ext4", "-q", "-F", "-m", "0", str(img)], check=True, capture_output=True, timeout=60
    )
    if subprocess.run(
        ["mount", "-o", "loop", str(img), str(mnt)], capture_output=True, timeout=60
    ).returncode:
        pytest.skip("loop mounts are not permitted here")
    try:
        mnt.chmod(0o755)
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True, timeout=60)


def _fill(mnt: Path) -> tuple[Path, Path]:
    """A small fresh file in use, then old exports until the filesystem is over 95% full."""
    scratch = mnt / "scratch"
    scratch.mkdir()
    fresh = scratch / "in-use.tmp"
    fresh.write_bytes(b"\1" * (128 << 10))
    old = time.time() - 30 * 86400
    i = 0
    while True:
        st = os.statvfs(mnt)
        if st.f_bavail * 100 < st.f_blocks * 4 or i > 64:
            break
        p = scratch / f"export-{i}.tmp"
        p.write_bytes(b"\0" * min(512 << 10, max(4096, (st.f_bavail - 16) * st.f_frsize)))
        os.utime(p, (old, old))
        i += 1
    subprocess.run(["sync"], check=True, timeout=60)
    return scratch, fresh


async def test_full_filesystem_found_and_space_reclaimed(
    ssh_env: Any, ssh_exec: Any, sandbox: Path, tmp_path: Path, full_fs: Path
) -> None:
    scratch, fresh = _fill(full_fs)
    count = len(list(scratch.iterdir()))
    first = await _scan(ssh_exec, ssh_env, _params(sandbox))
    mine = [
        f for f in first.findings if f.check_type == "linux_disk_space" and f.discriminator == str(full_fs)
    ]
    assert len(mine) == 1 and mine[0].details["use_percent"] > 90, first.findings
    inc = next(
        i for i in aggregate(mine) if i.check_type == "linux_disk_space"
    )  # this mount only: the container's own disks are not the test's business
    cred = ssh_env.key_cred(USER_NOPASSWD)

    # the builtin rule's defaults clean /tmp and /var/tmp only when they are on this filesystem: they
    # are not, so nothing is deleted and verify honestly reports "not verified"
    res = await _pipeline(tmp_path, _target(ssh_env), cred, ssh_exec, MemorySink()).handle(inc)
    assert res.rule_id == "L1-LIN-DISK-001"
    assert res.stage != "healed" and res.outcome is not None and res.outcome.phase == "verify", res
    assert res.outcome.verify is not None and res.outcome.verify["observed"]["under_threshold"] is False
    assert len(list(scratch.iterdir())) == count

    # with the site's temp directory on that filesystem: old files go, the fresh one stays
    healed = await _pipeline(tmp_path / "o", _target(ssh_env), cred, ssh_exec, MemorySink()).execute(
        inc,
        REG.get("LIN-DISK-001"),  # type: ignore[arg-type]
        {"tmp_dirs": [str(scratch)]},
        phases=("detect", "remediate", "verify"),
        level="order",
        trigger="order",
    )
    assert healed.stage == "healed", (healed.reason, healed.outcome)
    assert healed.outcome is not None and healed.outcome.verify is not None
    assert healed.outcome.verify["observed"]["mount"] == str(full_fs)
    assert healed.outcome.verify["observed"]["use_percent"] <= 90
    assert sorted(p.name for p in scratch.iterdir()) == [fresh.name]
    again = await _scan(ssh_exec, ssh_env, _params(sandbox))
    assert not [
        f for f in again.findings if f.check_type == "linux_disk_space" and f.discriminator == str(full_fs)
    ]

    # the plain loop filesystem is not on dm-crypt: linux_encryption names it and escalates
    enc = _incident(again, "linux_encryption")
    assert str(full_fs) in enc.details["mounts"] and enc.severity == "critical"
    out = await _pipeline(tmp_path / "e", _target(ssh_env), cred, ssh_exec, MemorySink()).handle(enc)
    assert (out.stage, out.reason) == ("escalated", "linux_encryption")


async def test_disk_runbook_refuses_a_path_that_is_not_a_mount_point(
    ssh_env: Any, ssh_exec: Any, sandbox: Path, tmp_path: Path
) -> None:
    inc = Incident(
        "drift-d", "127.0.0.1", "linux_disk_space", "high", "", "", "", {"mount": str(sandbox),
        "use_percent": 97}, "linux", "linuxscan", "linux", (), time.time(),
    )  # fmt: skip
    keep = sandbox / "old.tmp"
    keep.write_bytes(b"x")
    os.utime(keep, (0, 0))
    res = await _pipeline(
        tmp_path, _target(ssh_env), ssh_env.key_cred(USER_NOPASSWD), ssh_exec, MemorySink()
    ).execute(inc, REG.get("LIN-DISK-001"), {"tmp_dirs": [str(sandbox)]}, phases=("remediate", "verify"),  # type: ignore[arg-type]
              level="order", trigger="order")  # fmt: skip
    assert res.outcome is not None and res.outcome.outcome == "not_applicable", res
    assert keep.exists()
