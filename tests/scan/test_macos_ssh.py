"""The real macos_scan.sh over the real loopback sshd against fake macOS tools (no Mac here).

The fakes (tests/scan/fixtures/macos_tools/) print the documented output of fdesetup, spctl,
csrutil, socketfilterfw, defaults, softwareupdate, sysadminctl, systemsetup, dscl, launchctl, tmutil
and (optionally) df, and keep their state in files of a temp directory. A dedicated sshd puts them
first on the remote PATH (``SetEnv``) and lets root log in with a key, so the runbooks' ``root``
phases run without sudo (this box's sudo replaces PATH by its secure_path, which would hide the
fakes). Through sudo, tools are called by absolute path: see the ``sudo -n`` retry test.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.exec.sshd import USER, USER_NOPASSWD, Sshd, Users, require_sshd

from agent.exec import SshCredential, SshExecutor, Target
from agent.protocol.credentials import LinuxTarget
from agent.scan.macos import EVALUATORS, MacosScanner
from agent.scan.model import HostResult, aggregate

TOOLS = Path(__file__).resolve().parent / "fixtures" / "macos_tools"


@dataclass
class MacHost:
    """One fake Mac: the sshd that serves it, its tool directory and its state files."""

    sshd: Sshd
    state: Path

    @property
    def target(self) -> Target:
        return Target.from_linux(self.linux_target())

    def linux_target(self) -> LinuxTarget:
        """The checkin's ``linux_targets[]`` entry for this fake Mac."""
        key = self.sshd.client_key.read_text()
        return LinuxTarget(
            hostname="127.0.0.1", port=self.sshd.port, username="root", private_key=key, distro="macos"
        )

    def cred(self) -> SshCredential:
        return SshCredential.from_linux(self.linux_target())

    def set(self, name: str, value: str) -> None:
        (self.state / name).write_text(value + "\n")

    def get(self, name: str) -> str:
        return (self.state / name).read_text().strip()

    def reset(self) -> None:
        shutil.rmtree(self.state, ignore_errors=True)
        self.state.mkdir(mode=0o755)

    def calls(self) -> list[str]:
        p = self.state / "calls"
        return p.read_text().splitlines() if p.exists() else []


@pytest.fixture(scope="module")
def mac_sshd() -> Iterator[tuple[Sshd, Path]]:
    require_sshd()
    root = Path(tempfile.mkdtemp(prefix="msp-mac-"))
    root.chmod(0o755)
    tools = root / "tools"
    shutil.copytree(TOOLS, tools)
    extra = (
        "AllowUsers root\n"
        f"SetEnv PATH={tools}:/usr/bin:/bin\n"
        "Match User root\n"
        "    PermitRootLogin prohibit-password\n"
    )
    server = Sshd(root, extra_config=extra)
    for user in ("root", USER, USER_NOPASSWD):
        server.authorize(user, (root / "client_ed25519.pub").read_text())
    server.start()
    yield server, tools
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def mac(mac_sshd: tuple[Sshd, Path]) -> MacHost:
    server, tools = mac_sshd
    host = MacHost(server, tools / "state")
    host.reset()
    return host


@pytest.fixture
async def mac_exec(tmp_path: Path) -> AsyncIterator[SshExecutor]:
    state = tmp_path / "exec-state"
    state.mkdir(mode=0o700)
    ex = SshExecutor(state, per_host_concurrency=4, max_concurrency=8)
    yield ex
    await ex.close()


async def scan(mac: MacHost, executor: Any, **params: Any) -> HostResult:
    return await MacosScanner(executor).scan(mac.target, mac.cred(), deadline_s=60, params=params or None)


def drift_everything(mac: MacHost) -> None:
    """Every check in its documented drifted state."""
    mac.set("filevault", "Off")
    mac.set("gatekeeper", "disabled")
    mac.set("sip", "disabled")
    mac.set("firewall", "0")
    mac.set("screenlock", "off")
    mac.set("smbd_disabled", "enabled")
    mac.set("smbd_loaded", "yes")
    mac.set("ntp", "Off")
    mac.set("admins", "root alice bob carol dave")
    d = mac.state / "defaults" / "_Library_Preferences_com.apple.SoftwareUpdate"
    d.mkdir(parents=True)
    (d / "AutomaticCheckEnabled").write_text("0\n")
    mac.set(
        "df",
        "Filesystem     512-blocks      Used Available Capacity  Mounted on\n"
        "/dev/disk3s1s1  965595304 915000000  45000000    96%    /",
    )
    mac.set(
        "tm_dest",
        "====================================================\n"
        "Name          : Backups\nKind          : Local\nID            : 7C1A2B3C-0000-4D5E-9F00",
    )


async def test_compliant_mac_passes_every_check_but_unconfigured_certs(mac: MacHost, mac_exec: Any) -> None:
    mac.set(
        "tm_dest",
        "====================================================\nName          : Backups\n"
        "Kind          : Local\nMount Point   : /Volumes/Backups\nID            : 7C1A2B3C",
    )
    stamp = time.strftime("%Y-%m-%d-%H%M%S", time.localtime(time.time() - 86400))  # the Mac's local time
    mac.set("tm_latest", f"/Volumes/Backups/Backups.backupdb/Mac/{stamp}")
    r = await scan(mac, mac_exec)
    assert r.status == "complete", (r.error_kind, r.diagnostics)
    assert r.platform == "macos" and r.findings == []
    assert r.checks == {ct: "pass" for ct in EVALUATORS} | {"macos_cert_expiry": "unknown"}


async def test_drifted_mac_yields_the_right_findings(mac: MacHost, mac_exec: Any) -> None:
    drift_everything(mac)
    r = await scan(mac, mac_exec)
    assert r.status == "complete"
    by = {i.check_type: i for i in aggregate(r.findings)}
    assert set(by) == set(EVALUATORS) - {"macos_cert_expiry"}
    assert {ct: i.severity for ct, i in by.items()} == {
        "macos_filevault": "critical",
        "macos_gatekeeper": "high",
        "macos_sip": "critical",
        "macos_firewall": "high",
        "macos_auto_update": "medium",
        "macos_screen_lock": "medium",
        "macos_file_sharing": "medium",
        "macos_time_machine": "high",
        "macos_ntp_sync": "low",
        "macos_admin_users": "high",
        "macos_disk_space": "high",
    }
    tm = by["macos_time_machine"]
    assert tm.discriminators == ("no_backup", "not_mounted")
    assert [i["problem"] for i in tm.details["items"]] == ["no_backup", "not_mounted"]
    assert by["macos_admin_users"].details == {"users": ["alice", "bob", "carol", "dave"]}
    assert by["macos_disk_space"].details == {"use_percent": 96}
    for inc in by.values():
        assert (inc.platform, inc.source, inc.label) == ("macos", "macosscan", "macos")
        assert inc.data_map()["platform"] == "macos"


async def test_garbage_and_missing_tools_are_unknown_never_pass(mac: MacHost, mac_exec: Any) -> None:
    drift_everything(mac)
    for tool, out, rc in [
        ("fdesetup", "Error: internal error, try again later.", "1"),
        ("spctl", "", "0"),
        ("csrutil", "System Integrity Protection status: unknown (Custom Configuration).", "0"),
        ("socketfilterfw", "Firewall is maybe. (State = 7)", "0"),
        ("defaults", "{ garbage", "0"),
        ("softwareupdate", "", "0"),
        ("sysadminctl", "", "1"),
        ("launchctl", "Bad request.", "5"),
        ("tmutil", "tmutil: latestbackup requires Full Disk Access privileges.", "1"),
        ("systemsetup", "You need administrator access to run this tool... exiting!", "0"),
        ("dscl", "<dscl_cmd> DS Error: -14136 (eDSRecordNotFound)", "56"),
        ("df", "df: /: Input/output error", "1"),
    ]:
        mac.set(f"out_{tool}", out)
        mac.set(f"rc_{tool}", rc)
    r = await scan(mac, mac_exec, cert_paths=["/nonexistent/cert.pem"])
    assert r.status == "complete"
    assert r.findings == []
    assert r.checks == {ct: "unknown" for ct in EVALUATORS}


@pytest.fixture
def certdir() -> Iterator[Path]:
    """``soon.pem`` (valid 5 days) and ``later.pem`` (400 days), readable by the SSH user."""
    d = Path(tempfile.mkdtemp(prefix="msp-cert-"))
    d.chmod(0o755)
    for name, days in (("soon", "5"), ("later", "400")):
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.pem"), "-days", days,
             "-subj", f"/CN={name}.clinic.test"],
            check=True, capture_output=True,
        )  # fmt: skip
    yield d
    shutil.rmtree(d, ignore_errors=True)


async def test_expiring_certificate_on_a_configured_path(mac: MacHost, mac_exec: Any, certdir: Path) -> None:
    soon, later = str(certdir / "soon.pem"), str(certdir / "later.pem")
    r = await scan(mac, mac_exec, cert_paths=[soon, later])
    assert r.checks["macos_cert_expiry"] == "drift"
    (f,) = [f for f in r.findings if f.check_type == "macos_cert_expiry"]
    assert f.details["path"] == soon and f.details["days_left"] in (4, 5)
    assert f.severity == "high" and f.discriminator == soon
    r2 = await scan(mac, mac_exec, cert_paths=[later])
    assert r2.checks["macos_cert_expiry"] == "pass"


async def test_admin_only_tool_is_retried_through_non_interactive_sudo(
    mac: MacHost, mac_exec: Any, users: Users
) -> None:
    """systemsetup needs an administrator: an unprivileged scan retries it with ``sudo -n`` (allowed
    without a password: read; a password needed: never prompted, the check is unknown)."""
    mac.set("ntp", "Off")
    key = mac.sshd.client_key.read_text()
    r = await MacosScanner(mac_exec).scan(
        mac.target, SshCredential(USER_NOPASSWD, private_key=key), deadline_s=60
    )
    assert r.status == "complete"
    assert r.checks["macos_ntp_sync"] == "drift" and r.checks["macos_firewall"] == "pass"
    r2 = await MacosScanner(mac_exec).scan(mac.target, SshCredential(USER, private_key=key), deadline_s=60)
    assert r2.status == "complete"
    assert r2.checks["macos_ntp_sync"] == "unknown" and r2.checks["macos_firewall"] == "pass"
    assert not [f for f in r2.findings if f.check_type == "macos_ntp_sync"]


async def test_hanging_tool_keeps_the_records_already_streamed(mac: MacHost, mac_exec: Any) -> None:
    mac.set("firewall", "0")
    mac.set("tm_hang", "yes")
    r = await MacosScanner(mac_exec).scan(mac.target, mac.cred(), deadline_s=4)
    assert r.status == "partial" and r.error_kind == "command_timeout"
    assert r.checks["macos_firewall"] == "drift" and r.checks["macos_ntp_sync"] == "pass"
    assert r.checks["macos_time_machine"] == "unknown"
    assert [f.check_type for f in r.findings] == ["macos_firewall"]
