"""Runbook model and the mapping test of healing.md §3.7."""

from __future__ import annotations

from typing import Any

import pytest

from agent.rules import load_all
from agent.rules.builtin import builtin_rules
from agent.runbooks import default_registry, parse_phase_output
from agent.runbooks.model import RunbookError, build_runbook
from agent.scan.catalog import CATALOG
from agent.scan.model import Incident

REG = default_registry()


def _incident(ct: str, platform: str, details: dict[str, Any]) -> Incident:
    return Incident("drift-x", "h", ct, "high", "", "", "", details, platform, "test", "", (), 0.0)


def test_every_builtin_rule_maps_to_a_fitting_runbook() -> None:
    rules, _ = load_all(None, builtin=builtin_rules(REG), runbooks=REG, catalog=CATALOG)
    runbook_rules = [r for r in rules if r.kind == "runbook"]
    assert runbook_rules
    for rule in runbook_rules:
        assert rule.runbook_id is not None
        rb = REG.get(rule.runbook_id)
        assert rb is not None, rule.id
        assert rule.platform in (None, rb.platform)
        tested = [c.value for c in rule.conditions if c.field == "check_type"]
        assert tested and all(t in rb.check_types for t in tested), rule.id
        ct = tested[0]
        fx = rb.fixtures.get(ct) or next(iter(rb.fixtures.values()))
        params = rb.bind(rule.params, _incident(ct, rb.platform, fx["details"]).data_map())
        assert rb.verify_proves(fx["drifted"], params)[0] is False, rule.id
        assert rb.verify_proves(fx["compliant"], params) == (True, ""), rule.id


def test_no_linux_builtin_rule_is_omitted() -> None:
    from agent.rules.builtin import omitted_rules

    assert [r for r, rb in omitted_rules(REG) if rb.startswith("LIN-")] == []


def test_every_runbook_ships_fixtures_per_check_type() -> None:
    for rb in REG:
        assert rb.check_types
        for ct in rb.check_types:
            assert CATALOG.known(ct), (rb.id, ct)
        assert rb.fixtures, rb.id
        for fx in rb.fixtures.values():
            params = rb.bind({}, _incident("x", rb.platform, fx["details"]).data_map())
            assert not rb.verify_proves(fx["drifted"], params)[0]
            assert rb.verify_proves(fx["compliant"], params)[0]


def test_service_runbook_binds_and_asserts_the_parameter() -> None:
    rb = REG.get("RB-WIN-SVC-006")
    assert rb is not None
    params = rb.bind({}, _incident("service_dns", "windows", {"service": "NTDS"}).data_map())
    assert params == {"service": "NTDS"}
    ok = {
        "phase": "verify",
        "verified": True,
        "observed": {"service": "DNS", "status": "Running", "start_type": "Automatic"},
    }
    assert rb.verify_proves(ok, params) == (False, "assert_failed:observed.service")  # a different service
    with pytest.raises(RunbookError):
        rb.bind({}, _incident("service_dns", "windows", {"service": "Spooler"}).data_map())
    with pytest.raises(RunbookError):
        rb.bind({}, _incident("service_dns", "windows", {}).data_map())


@pytest.mark.parametrize(
    ("stdout", "code", "trunc", "ok", "reason"),
    [
        ('MSP_RESULT {"phase":"verify","verified":true,"observed":{}}', 0, False, True, ""),
        ("", 0, False, False, "no_result_line"),
        ("garbage\nmore garbage", 0, False, False, "no_result_line"),
        ("MSP_RESULT {not json", 0, False, False, "unparseable_result"),
        (
            'MSP_RESULT {"phase":"verify","verified":"True","observed":{}}',
            0,
            False,
            False,
            "verified_not_boolean",
        ),
        ('MSP_RESULT {"phase":"detect","drifted":true}', 0, False, False, "phase_mismatch"),
        ('MSP_RESULT {"phase":"verify","verified":true,"observed":{}}', 1, False, False, "exit_code_1"),
        ('MSP_RESULT {"phase":"verify","verified":true,"observed":{}}', 0, True, False, "output_truncated"),
        (
            'MSP_RESULT {"phase":"verify","verified":false}\n'
            'MSP_RESULT {"phase":"verify","verified":true,"observed":{}}',
            0,
            False,
            True,
            "",
        ),
    ],
)
def test_phase_output_rules(stdout: str, code: int, trunc: bool, ok: bool, reason: str) -> None:
    pr = parse_phase_output("verify", stdout, exit_code=code, truncated=trunc, transport_ok=True)
    assert (pr.ok, pr.reason) == (ok, reason)


def test_remediate_status_must_be_ok() -> None:
    pr = parse_phase_output(
        "remediate",
        'MSP_RESULT {"phase":"remediate","status":"failed"}',
        exit_code=0,
        truncated=False,
        transport_ok=True,
    )
    assert not pr.ok and pr.reason == "status_failed"


def test_verified_false_and_assert_failure_are_failures() -> None:
    rb = REG.get("LIN-PERM-001")
    assert rb is not None
    assert rb.verify_proves({"verified": False, "observed": {"unsafe": 0, "checked": 1}}, {}) == (
        False,
        "not_verified",
    )
    assert rb.verify_proves({"verified": True, "observed": {"unsafe": 1, "checked": 1}}, {})[0] is False
    assert rb.verify_proves({"verified": True, "observed": {"unsafe": 0, "checked": 0}}, {})[0] is False
    assert rb.verify_proves(None, {}) == (False, "no_result")


def test_runbook_without_observed_assertion_rejected() -> None:
    meta = {
        "id": "X",
        "name": "x",
        "description": "x",
        "platform": "linux",
        "privilege": "none",
        "version": "1",
        "check_types": [],
        "verify_assert": [{"field": "verified", "value": True}],
    }
    with pytest.raises(RunbookError, match="observed"):
        build_runbook(meta, {"remediate": "true", "verify": "true"})


def test_macos_rules_are_active_and_run_root_ssh_runbooks() -> None:
    from agent.rules.builtin import omitted_rules

    assert not [rid for rid, _ in omitted_rules(REG) if rid.startswith("L1-MAC-")]
    rules, _ = load_all(None, builtin=builtin_rules(REG), runbooks=REG, catalog=CATALOG)
    mac = {r.id: r for r in rules if r.id.startswith("L1-MAC-") and r.kind == "runbook"}
    assert sorted(mac) == [f"L1-MAC-{n}-001" for n in ("FW", "GK", "NTP", "SMB", "UPD")]
    for rule in mac.values():
        rb = REG.get(rule.runbook_id or "")
        assert rb is not None and rb.platform == "macos" and rule.platform == "macos"
        assert rb.privilege == "root" and not rb.disruptive
        assert set(rb.scripts) == {"detect", "remediate", "verify"}
