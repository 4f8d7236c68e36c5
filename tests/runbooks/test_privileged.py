"""Runbooks whose remediate phase is a privileged helper action: checked against the helper's
allowlist and parameter schemas at load; a bad one is refused alone."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agent.runbooks.aliases import for_target
from agent.runbooks.registry import DATA_DIR, RunbookRegistry

GOOD = "APPL-JOURNAL-001"


def _copy(tmp_path: Path, rid: str, new_id: str, old: str, new: str) -> None:
    d = tmp_path / new_id
    shutil.copytree(DATA_DIR / rid, d)
    meta = (d / "runbook.yaml").read_text()
    assert old in meta
    (d / "runbook.yaml").write_text(meta.replace(old, new).replace(f"id: {rid}", f"id: {new_id}"))


def test_the_appliance_runbooks_name_allowlisted_actions() -> None:
    reg = RunbookRegistry.load()
    assert reg.refused == {}
    got = {r: (rb.privileged_action, dict(rb.privileged_params))
           for r in ("APPL-JOURNAL-001", "APPL-JOURNALD-001", "APPL-BACKUP-001", "APPL-CERT-001")
           if (rb := reg.get(r)) is not None}
    assert got == {"APPL-JOURNAL-001": ("journal-vacuum", {"max_size_mb": 512}),
                   "APPL-JOURNALD-001": ("restart-journald", {}),
                   "APPL-BACKUP-001": ("start-backup", {"job_name": "restic-backup"}),
                   "APPL-CERT-001": ("renew-certificates", {})}


@pytest.mark.parametrize(("old", "new", "why"), [
    ("action: journal-vacuum", "action: reboot", "not in the helper's allowlist"),
    ("{max_size_mb: 512}", "{max_size_mb: 4}", "between 16 and 8192"),
    ("{max_size_mb: 512}", "{max_size_mb: '512'}", "must be of type int"),
    ("{max_size_mb: 512}", "{max_size_mb: 512, path: /etc}", "unknown parameter"),
    ("privilege: none", "privilege: root", "privilege none"),
    ("params: {max_size_mb: 512}", "params: {max_size_mb: 512}\n  shell: true",
     "map of action, params and bind"),
    ("params: {max_size_mb: 512}", "params: {max_size_mb: 512}\n  bind: {path: max_usage_mb}",
     "journal-vacuum has no parameter(s) path"),
    ("params: {max_size_mb: 512}", "params: {max_size_mb: 512}\n  bind: {max_size_mb: absent}",
     "needs declared parameters with a pattern or allowed values: absent"),
    # an int parameter has no pattern: only a constrained string may reach the helper
    ("params: {max_size_mb: 512}",
     "params: {max_size_mb: 512}\n  bind: {max_size_mb: max_usage_mb}",
     "needs declared parameters with a pattern or allowed values: max_usage_mb"),
])
def test_a_bad_privileged_runbook_is_refused_alone(
        tmp_path: Path, old: str, new: str, why: str) -> None:
    _copy(tmp_path, GOOD, "APPL-BAD-001", old, new)
    shutil.copytree(DATA_DIR / GOOD, tmp_path / GOOD)
    reg = RunbookRegistry.load(tmp_path)
    assert reg.get(GOOD) is not None and reg.get("APPL-BAD-001") is None
    assert why in reg.refused["APPL-BAD-001"]


@pytest.mark.parametrize(("details", "job"), [
    ({"job_name": "restic-backups-daily"}, "restic-backups-daily"),
    ({}, "restic-backup"),  # a finding without a unit: the runbook's default
])
def test_the_backup_runbook_starts_the_unit_its_finding_names(
        details: dict[str, str], job: str) -> None:
    from agent.scan.model import Incident

    rb = RunbookRegistry.load().get("APPL-BACKUP-001")
    assert rb is not None
    inc = Incident("drift-b", "localhost", "backup", "medium", "", "", "", details, "linux",
                   "linuxscan", "appliance", (), 0.0)
    assert rb.privileged_args(rb.bind({}, inc.data_map())) == {"job_name": job}


def test_a_privileged_runbook_with_its_own_remediate_script_is_refused(tmp_path: Path) -> None:
    _copy(tmp_path, GOOD, "APPL-BAD-002", "version:", "version:")
    (tmp_path / "APPL-BAD-002" / "remediate.sh").write_text("journalctl --vacuum-size=1M\n")
    reg = RunbookRegistry.load(tmp_path)
    assert "exclusive" in reg.refused["APPL-BAD-002"] and len(reg) == 0


def test_an_unreadable_runbook_yaml_is_refused_alone(tmp_path: Path) -> None:
    shutil.copytree(DATA_DIR / GOOD, tmp_path / GOOD)
    (tmp_path / "BROKEN").mkdir()
    (tmp_path / "BROKEN" / "runbook.yaml").write_text("id: [unclosed\n")
    reg = RunbookRegistry.load(tmp_path)
    assert [rb.id for rb in reg] == [GOOD] and "BROKEN" in reg.refused


@pytest.mark.parametrize(("rule_rb", "ct", "label", "want"), [
    ("LIN-DISK-001", "linux_disk_space", "appliance", "LIN-DISK-001"),
    ("LIN-BACKUP-001", "linux_backup_status", "appliance", "APPL-BACKUP-001"),
    ("LIN-CERT-001", "linux_cert_expiry", "appliance", "APPL-CERT-001"),
    ("LIN-CERT-001", "linux_cert_expiry", "", "LIN-CERT-001"),
    ("LIN-SSH-001", "linux_ssh_config", "appliance", "LIN-SSH-001"),
])
def test_l1_rules_on_the_appliance_pick_its_own_runbooks(
        rule_rb: str, ct: str, label: str, want: str) -> None:
    rb = for_target(RunbookRegistry.load(), rule_rb, ct, label)
    assert rb is not None and rb.id == want


@pytest.mark.parametrize(("label", "units", "want"), [
    ("appliance", ["cups.service", "systemd-journald.service"], "L1-APPL-JOURNALD-001"),
    ("appliance", ["cups.service"], "L1-LIN-SVC-001"),
    ("", ["systemd-journald.service"], "L1-LIN-SVC-001"),
])
def test_a_failed_journald_on_the_appliance_matches_its_own_rule(
        label: str, units: list[str], want: str) -> None:
    from agent.rules import load_all
    from agent.rules.builtin import builtin_rules
    from agent.rules.engine import Match, RuleEngine
    from agent.scan.catalog import CATALOG
    from agent.scan.model import Incident

    reg = RunbookRegistry.load()
    rules, _ = load_all(None, builtin=builtin_rules(reg), runbooks=reg, catalog=CATALOG)
    inc = Incident("drift-j", "localhost", "linux_failed_services", "high", "", "", "",
                   {"units": units}, "linux", "scan", label, (), 0.0)
    got = RuleEngine(rules).match(inc.data_map(), "high")
    assert isinstance(got, Match) and got.rule.id == want


@pytest.mark.parametrize(("ct", "label", "details", "want"), [
    ("linux_journal_usage", "appliance", {"usage_mb": 2048, "max_usage_mb": 1024},
     "L1-APPL-JOURNAL-001"),
    ("linux_journal_usage", "linux", {"usage_mb": 2048, "max_usage_mb": 1024}, None),
    ("backup", "appliance", {"job_name": "restic-backup", "loaded": True,
                             "last_backup_success": False}, "L1-APPL-BACKUP-001"),
    # a configured unit that does not exist: reported, never started
    ("backup", "appliance", {"job_name": "restic-backup", "loaded": False,
                             "last_backup_success": False}, None),
    ("backup", "linux", {"job_name": "restic-backup", "loaded": True}, None),
])
def test_the_appliance_self_checks_match_their_own_rules(
        ct: str, label: str, details: dict[str, object], want: str | None) -> None:
    from agent.rules import load_all
    from agent.rules.builtin import builtin_rules
    from agent.rules.engine import Match, RuleEngine
    from agent.scan.catalog import CATALOG
    from agent.scan.model import Incident

    reg = RunbookRegistry.load()
    rules, report = load_all(None, builtin=builtin_rules(reg), runbooks=reg, catalog=CATALOG)
    assert not report.errors
    inc = Incident("drift-s", "localhost", ct, "medium", "", "", "", details, "linux",
                   "linuxscan", label, (), 0.0)
    got = RuleEngine(rules).match(inc.data_map(), "medium")
    assert (got.rule.id if isinstance(got, Match) else None) == want
    if isinstance(got, Match):
        rb = for_target(reg, got.rule.runbook_id or "", ct, label)
        assert rb is not None and ct in rb.check_types
