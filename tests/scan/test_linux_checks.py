"""The remaining Linux checks (healing.md §2.5, §2.6): recorded scan output → findings, and
unreadable / missing data → ``unknown`` (never ``pass``, never an incident)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.exec import Target, Transport
from agent.scan.catalog import CATALOG
from agent.scan.linux import EVALUATORS, LinuxScanner, evaluate_record
from agent.scan.model import aggregate

from .test_linux_parse import ScriptedExecutor

FIX = Path(__file__).parent / "fixtures"
T = Target(Transport.SSH, "10.0.0.7", 22, "linux", "linux")
NEW = (
    "linux_suid_binaries",
    "linux_unattended_upgrades",
    "linux_log_forwarding",
    "linux_cron_review",
    "linux_cert_expiry",
    "linux_backup_status",
    "linux_encryption",
)
NOW = 1795435200  # 2026-11-23T12:00:00Z, the "now" of the recorded fixtures


def _ev(check: str, data: dict[str, Any]) -> tuple[str, list[Any]]:
    return evaluate_record("h", check, data)


async def test_recorded_drifted_host() -> None:
    r = await LinuxScanner(ScriptedExecutor((FIX / "linux_drifted.txt").read_text())).scan(
        T, None, deadline_s=5
    )
    assert r.status == "complete"
    assert {c: r.checks[c] for c in NEW} == dict.fromkeys(NEW, "drift")
    inc = {i.check_type: i for i in aggregate(r.findings)}
    # sudo/passwd/ssh-keysign in system dirs and the site-allowed helper are not findings
    assert inc["linux_suid_binaries"].details == {"binaries": ["/home/bob/bin/find", "/tmp/.x/bash"]}
    assert inc["linux_suid_binaries"].severity == "high"
    assert inc["linux_cron_review"].details == {"users": ["alice", "backup"]}
    assert inc["linux_cron_review"].severity == "low"
    certs = [f for f in r.findings if f.check_type == "linux_cert_expiry"]
    assert sorted((f.discriminator, f.details["days_left"]) for f in certs) == [
        ("/etc/letsencrypt/live/portal.clinic.example/cert.pem", 5),
        ("/etc/ssl/old.pem", -10),
    ]
    assert all(f.severity == "high" for f in certs)
    assert "expired 10 days ago" in inc["linux_cert_expiry"].actual
    assert inc["linux_backup_status"].details == {"age_days": 10}
    assert inc["linux_encryption"].details == {"mounts": ["/srv", "/var/lib/pgsql"]}
    assert inc["linux_encryption"].severity == "critical"
    assert inc["linux_log_forwarding"].severity == "low"
    assert inc["linux_unattended_upgrades"].severity == "medium"
    for i in inc.values():  # every detail key is declared in the catalogue (no dead rules)
        assert set(i.details) - {"items"} <= CATALOG.detail_keys(i.check_type), i.check_type


async def test_recorded_compliant_host() -> None:
    out = (FIX / "linux_compliant.txt").read_text()
    r = await LinuxScanner(ScriptedExecutor(out)).scan(T, None, deadline_s=5)
    assert r.status == "complete"
    assert {c: r.checks[c] for c in NEW} == dict.fromkeys(NEW, "pass")
    assert r.findings == []


def test_all_new_checks_have_evaluators() -> None:
    assert set(NEW) <= set(EVALUATORS)


@pytest.mark.parametrize(
    ("check", "data"),
    [
        # unreadable / missing data: unknown, never pass
        ("linux_suid_binaries", {"complete": False, "binaries": ["/usr/bin/sudo"], "allow": []}),
        ("linux_suid_binaries", {"binaries": []}),
        ("linux_unattended_upgrades", {"systemd": False}),
        ("linux_unattended_upgrades", {"systemd": True, "timers": ["apt-daily-upgrade.timer "]}),
        (
            "linux_log_forwarding",
            {"forwarders": ["unreadable|/etc/rsyslog.conf"], "journal_persistent": False},
        ),
        ("linux_log_forwarding", {"forwarders": []}),
        ("linux_cron_review", {"spool": True, "unreadable": 1, "crontabs": []}),
        ("linux_cron_review", {"spool": True, "unreadable": 0, "crontabs": ["alice x"]}),
        ("linux_cert_expiry", {"openssl": False}),
        ("linux_cert_expiry", {"openssl": True, "now": NOW, "certs": []}),
        ("linux_cert_expiry", {"openssl": True, "now": NOW, "certs": ["/etc/ssl/a.pem|unreadable"]}),
        ("linux_cert_expiry", {"openssl": True, "now": NOW, "certs": ["/etc/ssl/a.pem|missing"]}),
        (
            "linux_backup_status",
            {"now": NOW, "paths": ["unreadable|/srv/backup"], "unit": "", "unit_result": "", "unit_exit": ""},
        ),
        (
            "linux_backup_status",
            {"now": NOW, "paths": [], "unit": "restic.service", "unit_result": "nosystemd", "unit_exit": ""},
        ),
        ("linux_backup_status", {"paths": []}),
        ("linux_encryption", {"mounts": []}),
        ("linux_encryption", {"mounts": ["/|/dev/vda|unknown"]}),
        ("linux_encryption", {"mounts": ["/ /dev/vda no"]}),
    ],
)
def test_unreadable_or_missing_is_unknown(check: str, data: dict[str, Any]) -> None:
    assert _ev(check, data) == ("unknown", [])


def test_cert_with_one_unreadable_still_reports_the_expiring_one() -> None:
    st, f = _ev(
        "linux_cert_expiry",
        {"openssl": True, "now": NOW, "certs": ["/a.pem|unreadable", "/b.pem|Nov 30 12:00:00 2026 GMT"]},
    )
    assert st == "drift" and [x.details for x in f] == [{"path": "/b.pem", "days_left": 7}]
    st, _ = _ev(
        "linux_cert_expiry",
        {"openssl": True, "now": NOW, "certs": ["/a.pem|unreadable", "/b.pem|Feb 21 12:00:00 2027 GMT"]},
    )
    assert st == "unknown"  # the unreadable one may be the expiring one


@pytest.mark.parametrize(
    ("data", "status", "actual"),
    [
        (
            {"now": NOW, "paths": [], "unit": "", "unit_result": "", "unit_exit": ""},
            "drift",
            "no backup path or unit configured",
        ),
        (
            {
                "now": NOW,
                "paths": ["missing|/mnt/nas", "empty|/srv/backup"],
                "unit": "",
                "unit_result": "",
                "unit_exit": "",
            },
            "drift",
            "no backup found",
        ),
        (
            {
                "now": NOW,
                "paths": [],
                "unit": "borg.service",
                "unit_result": "exit-code",
                "unit_exit": str(NOW - 3600),
            },
            "drift",
            "no backup found",
        ),
        (
            {
                "now": NOW,
                "paths": [],
                "unit": "borg.service",
                "unit_result": "success",
                "unit_exit": str(NOW - 3600),
            },
            "pass",
            "",
        ),
        (
            {
                "now": NOW,
                "paths": [f"{NOW - 7 * 86400}|/srv/backup"],
                "unit": "",
                "unit_result": "",
                "unit_exit": "",
            },
            "pass",
            "",
        ),
        (
            {
                "now": NOW,
                "paths": [f"{NOW - 8 * 86400}|/srv/backup"],
                "unit": "",
                "unit_result": "",
                "unit_exit": "",
            },
            "drift",
            "newest backup is 8 days old",
        ),
    ],
)
def test_backup_definition(data: dict[str, Any], status: str, actual: str) -> None:
    st, f = _ev("linux_backup_status", data)
    assert st == status
    assert [x.actual for x in f] == ([actual] if actual else [])


@pytest.mark.parametrize(
    ("data", "status"),
    [
        # apt timer active but unattended-upgrade disabled or not installed: drift
        (
            {"apt_unattended": "0", "uu_installed": True, "timers": ["apt-daily-upgrade.timer active"]},
            "drift",
        ),
        (
            {"apt_unattended": "1", "uu_installed": False, "timers": ["apt-daily-upgrade.timer active"]},
            "drift",
        ),
        (
            {"apt_unattended": "1", "uu_installed": True, "timers": ["apt-daily-upgrade.timer inactive"]},
            "drift",
        ),
        ({"apt_unattended": "1", "uu_installed": True, "timers": ["apt-daily-upgrade.timer active"]}, "pass"),
        # dnf-automatic.timer only applies updates with apply_updates = yes
        ({"dnf_apply_updates": "no", "timers": ["dnf-automatic.timer active"]}, "drift"),
        ({"dnf_apply_updates": "yes", "timers": ["dnf-automatic.timer active"]}, "pass"),
        ({"dnf_apply_updates": "absent", "timers": ["dnf-automatic-install.timer active"]}, "pass"),
    ],
)
def test_unattended_upgrades(data: dict[str, Any], status: str) -> None:
    assert _ev("linux_unattended_upgrades", {"systemd": True, **data})[0] == status


@pytest.mark.parametrize(
    ("data", "status"),
    [
        ({"forwarders": [], "journal_upload": "inactive", "journal_persistent": True}, "pass"),
        ({"forwarders": [], "journal_upload": "active", "journal_persistent": False}, "pass"),
        ({"forwarders": ["syslog-ng|/etc/syslog-ng/syslog-ng.conf"], "journal_persistent": False}, "pass"),
        (
            {
                "forwarders": ["unreadable|/etc/rsyslog.d/x.conf", "rsyslog|/etc/rsyslog.conf"],
                "journal_persistent": False,
            },
            "pass",
        ),
        ({"forwarders": [], "journal_upload": "unknown", "journal_persistent": False}, "drift"),
    ],
)
def test_log_forwarding(data: dict[str, Any], status: str) -> None:
    assert _ev("linux_log_forwarding", data)[0] == status


def test_suid_allowlist_is_by_location() -> None:
    # a copy of sudo outside the system directories is a finding; the Nix store is excluded
    st, f = _ev(
        "linux_suid_binaries",
        {
            "complete": True,
            "binaries": ["/var/tmp/sudo", "/nix/store/abc-sudo/bin/sudo", "/usr/bin/su"],
            "allow": [],
        },
    )
    assert st == "drift" and f[0].details == {"binaries": ["/var/tmp/sudo"]}


def test_suid_unreadable_parts_of_temp_roots_only_do_not_hide_the_result() -> None:
    base = {"complete": False, "binaries": ["/usr/bin/sudo"], "allow": []}
    # root-only PrivateTmp directories under /tmp: the bin dirs were read completely
    assert _ev("linux_suid_binaries", {**base, "denied": ["/tmp", "/var/tmp"]}) == ("pass", [])
    # an unreadable bin dir (or no list of what was unreadable): unknown
    assert _ev("linux_suid_binaries", {**base, "denied": ["/tmp", "/usr/local/sbin"]}) == ("unknown", [])
    assert _ev("linux_suid_binaries", {**base, "denied": []}) == ("unknown", [])


def test_records_are_compact_json_lines() -> None:
    for name in ("linux_drifted.txt", "linux_compliant.txt"):
        for line in (FIX / name).read_text().splitlines():
            if line.startswith("MSP_CHECK "):
                rec = json.loads(line[len("MSP_CHECK ") :])
                assert rec["id"] in NEW
