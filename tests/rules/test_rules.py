"""L1 rule engine conformance (healing.md §1, §8)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey
from tests.fakeclock import FakeClock

from agent.rules import Deferred, Match, NoMatch, RuleEngine, RuleError, load_all, parse_rule, verify_bundle
from agent.rules.builtin import all_builtin_ids, builtin_rules
from agent.rules.conditions import compile_condition
from agent.rules.loader import BundleError, store_bundle
from agent.rules.model import Rule
from agent.rules.values import go_text, is_numeric, values_equal
from agent.rules.yaml12 import load_yaml12
from agent.runbooks import default_registry
from agent.scan.catalog import CATALOG

T0 = 1_000_000.0

REG = default_registry()


def cond(field: str, op: str, value: Any, data: dict[str, Any]) -> bool:
    return compile_condition({"field": field, "operator": op, "value": value}).evaluate(data)


# --- §1.3 operators ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "op", "value", "data", "expected"),
    [
        ("s", "eq", "abc", {"s": "abc"}, True),
        ("s", "ne", "abc", {"s": "abd"}, True),
        ("s", "ne", "abc", {"s": "abc"}, False),
        ("s", "contains", "error", {"s": "fatal error occurred"}, True),
        ("s", "regex", r"^\d+\.\d+", {"s": "3.14.159"}, True),
        ("s", "regex", r"^\d+$", {"s": "3.14"}, False),
        ("n", "gt", 10, {"n": 15}, True),
        ("n", "lt", 10, {"n": 5}, True),
        ("n", "gt", 10, {"n": "15"}, True),
        ("n", "gt", 10, {"n": True}, False),  # a boolean is never a number
        ("n", "gt", 10, {"n": "abc"}, False),
        ("s", "in", ["pass", "warn"], {"s": "warn"}, True),
        ("s", "in", "warn", {"s": "warn"}, False),  # non-list: false
        ("s", "not_in", ["pass", "warn"], {"s": "fail"}, True),
        ("s", "not_in", "warn", {"s": "warn"}, True),  # non-list: true (Go behaviour)
        ("s", "exists", True, {"s": "x"}, True),
        ("s", "exists", True, {}, False),
        ("s", "exists", False, {}, True),
        ("s", "exists", None, {"s": 1}, True),
        ("s", "exists", True, {"s": None}, False),  # null is missing
        ("a.b.c", "eq", "deep", {"a": {"b": {"c": "deep"}}}, True),
        ("a.b.c", "eq", "deep", {"a": {"b": "flat"}}, False),
        ("s", "eq", "x", {}, False),
        ("s", "ne", "x", {}, False),  # missing field: ne is false
        ("s", "not_in", ["x"], {}, False),  # missing field: not_in is false
        ("s", "contains", "x", {}, False),
        ("s", "gt", 1, {}, False),
        ("s", "regex", ".*", {}, False),
        ("s", "eq", 1, {"s": "1"}, True),  # "1" eq 1
        ("s", "eq", True, {"s": "true"}, True),  # "true" eq true
        ("s", "eq", 1, {"s": True}, False),  # true eq 1
        ("s", "eq", "01", {"s": "1"}, True),
        ("s", "eq", 1.0, {"s": "1"}, True),
        ("s", "eq", "nan", {"s": "nan"}, False),  # NaN equals nothing
        ("s", "contains", "1", {"s": 1.0}, True),  # 1.0 renders as "1"
        ("s", "contains", "1.0", {"s": 1.0}, False),
        ("s", "eq", "[a b]", {"s": ["a", "b"]}, True),
        ("s", "eq", "map[a:1 b:true]", {"s": {"b": True, "a": 1}}, True),
        ("s", "in", [1, 2], {"s": "2"}, True),
    ],
)
def test_operators(field: str, op: str, value: Any, data: dict[str, Any], expected: bool) -> None:
    assert cond(field, op, value, data) is expected


def test_missing_operator_means_eq() -> None:
    c = compile_condition({"field": "x", "value": "y"})
    assert c.operator == "eq" and c.evaluate({"x": "y"})


@pytest.mark.parametrize("pattern", ["(", r"(a)\1", "(?=x)", "(?<!x)y", "a*+", "(?>a)", "x" * 513])
def test_invalid_or_non_re2_regex_rejected(pattern: str) -> None:
    with pytest.raises(RuleError, match="regex"):
        parse_rule(
            {
                "id": "R",
                "conditions": [{"field": "s", "operator": "regex", "value": pattern}],
                "action": "escalate",
            },
            "custom",
            runbooks=REG,
        )


def test_regex_ascii_semantics() -> None:
    assert not cond("s", "regex", r"^\d$", {"s": "٣"})  # Arabic-Indic digit: not \d in RE2
    assert cond("s", "regex", r"[a-z]+", {"s": "xx"})


def test_unknown_operator_and_empty_field_rejected() -> None:
    for c in ({"field": "s", "operator": "startswith", "value": "x"}, {"field": "", "value": "x"}):
        with pytest.raises(RuleError):
            parse_rule({"id": "R", "conditions": [c], "action": "escalate"}, "custom", runbooks=REG)


# --- §1.4 values ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "<nil>"),
        (True, "true"),
        (False, "false"),
        (42, "42"),
        (-7, "-7"),
        (1.0, "1"),
        (2.5, "2.5"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (0.00001, "1e-05"),
        (0.0001, "0.0001"),
        (123456.789, "123456.789"),
        (float("nan"), "NaN"),
        (float("inf"), "+Inf"),
        (float("-inf"), "-Inf"),
        (1.5e-7, "1.5e-07"),
        (-0.0, "-0"),
        (0.1, "0.1"),
        (1e100, "1e+100"),
        ("s", "s"),
        ([1, "a", None], "[1 a <nil>]"),
        ({"b": [1], "a": {"x": 2}}, "map[a:map[x:2] b:[1]]"),
    ],
)
def test_go_text(value: Any, text: str) -> None:
    assert go_text(value) == text


@pytest.mark.parametrize(
    ("value", "numeric"),
    [
        ("1", True),
        ("+1.5", True),
        ("-.5", True),
        ("1e5", True),
        ("1.", True),
        ("Inf", True),
        ("-infinity", True),
        ("NaN", True),
        (" 1", False),
        ("1_000", False),
        ("0x10", False),
        ("", False),
        (True, False),
        (3, True),
        (2.5, True),
        (None, False),
        ([1], False),
        ("١", False),
    ],
)
def test_is_numeric(value: Any, numeric: bool) -> None:
    assert is_numeric(value)[0] is numeric


def test_values_equal_bools() -> None:
    assert values_equal(True, True) and not values_equal(True, False)
    assert values_equal("true", True) and not values_equal(True, 1)


# --- rule objects, actions ------------------------------------------------------------------------


def _rule(rid: str = "R1", *, ct: str = "linux_file_permissions", **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": rid,
        "conditions": [
            {"field": "check_type", "value": ct},
            {"field": "drift_detected", "operator": "eq", "value": True},
        ],
        "action": "run_linux_runbook",
        "action_params": {"runbook_id": "LIN-PERM-001"},
    }
    base.update(kw)
    return base


def _data(ct: str = "linux_file_permissions", host: str = "h1", **kw: Any) -> dict[str, Any]:
    return {
        "check_type": ct,
        "incident_type": ct,
        "drift_detected": True,
        "status": "fail",
        "host_id": host,
        "hostname": host,
        **kw,
    }


def test_defaults_local_and_synced() -> None:
    r = parse_rule(_rule(), "custom", runbooks=REG)
    assert (r.priority, r.cooldown_seconds, r.name, r.phases) == (100, 300, "R1", ("remediate", "verify"))
    s = parse_rule(
        {
            "id": "S",
            "conditions": [{"field": "check_type", "value": "x"}],
            "actions": ["run_linux_runbook:LIN-PERM-001"],
        },
        "synced",
        runbooks=REG,
    )
    assert (s.priority, s.runbook_id, s.action, s.phases) == (
        5,
        "LIN-PERM-001",
        "run_linux_runbook",
        ("remediate", "verify"),
    )


def test_integer_fields() -> None:
    assert parse_rule(_rule(priority=7.9), "custom", runbooks=REG).priority == 7
    assert parse_rule(_rule(priority="5"), "custom", runbooks=REG).priority == 100
    assert parse_rule(_rule(priority=True), "custom", runbooks=REG).priority == 100
    assert parse_rule(_rule(cooldown_seconds=-5), "custom", runbooks=REG).cooldown_seconds == 0


def test_alert_and_windows_expansion() -> None:
    a = parse_rule(
        {"id": "A", "conditions": [{"field": "check_type", "value": "x"}], "actions": ["alert:disk_full"]},
        "synced",
        runbooks=REG,
    )
    assert a.kind == "escalate" and a.reason == "disk_full"
    w = parse_rule(
        {
            "id": "W",
            "conditions": [{"field": "check_type", "value": "firewall_status"}],
            "actions": ["run_windows_runbook:RB-WIN-SEC-001"],
        },
        "synced",
        runbooks=REG,
    )
    assert w.runbook_id == "RB-WIN-SEC-001" and w.platform == "windows"
    n = parse_rule({"id": "N", "conditions": [{"field": "x", "value": 1}]}, "synced", runbooks=REG)
    assert n.kind == "escalate" and n.reason == "unknown"  # no action: alert:unknown
    alias = parse_rule(
        {"id": "F", "conditions": [{"field": "x", "value": 1}], "action": "restore_firewall_baseline"},
        "custom",
        runbooks=REG,
    )
    assert alias.runbook_id == "RB-WIN-SEC-001"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({"id": "", "action": "escalate"}, "id"),
        (
            {"id": "X", "conditions": [{"field": "a", "value": 1}], "actions": ["reboot:now"]},
            "unknown action",
        ),
        (
            {"id": "X", "conditions": [{"field": "a", "value": 1}], "action": "reboot_everything"},
            "unknown action",
        ),
        ({"id": "X", "conditions": [{"field": "a", "value": 1}], "action": ""}, "empty action"),
        (
            {
                "id": "X",
                "conditions": [{"field": "a", "value": 1}],
                "action": "run_linux_runbook",
                "action_params": {"runbook_id": "LIN-NOPE-999"},
            },
            "not in the registry",
        ),
        (
            {
                "id": "X",
                "conditions": [{"field": "a", "value": 1}],
                "action": "run_windows_runbook",
                "action_params": {"runbook_id": "LIN-PERM-001"},
            },
            "action needs windows",
        ),
        (
            {
                "id": "X",
                "conditions": [{"field": "a", "value": 1}],
                "action": "run_linux_runbook",
                "action_params": {"runbook_id": "LIN-PERM-001", "phases": ["verify"]},
            },
            "without remediate",
        ),
        (
            {
                "id": "X",
                "conditions": [{"field": "a", "value": 1}],
                "action": "run_linux_runbook",
                "action_params": {"runbook_id": "LIN-PERM-001", "phases": ["remediate", "reboot"]},
            },
            "unknown phases",
        ),
        (
            {
                "id": "X",
                "conditions": [{"field": "a", "value": 1}],
                "action": "run_linux_runbook",
                "action_params": {"runbook_id": "LIN-PERM-001", "colour": "red"},
            },
            "undeclared",
        ),
        (
            {
                "id": "X",
                "conditions": [{"field": "a", "value": 1}],
                "action": "run_windows_runbook",
                "action_params": {"runbook_id": "RB-WIN-SVC-006", "service": "Spooler"},
            },
            "not allowed",
        ),
        (
            {"id": "X", "action": "run_linux_runbook", "action_params": {"runbook_id": "LIN-PERM-001"}},
            "no conditions",
        ),
    ],
)
def test_rejections(raw: dict[str, Any], reason: str) -> None:
    with pytest.raises(RuleError, match=reason):
        parse_rule(raw, "synced" if "actions" in raw else "custom", runbooks=REG)


def test_verify_added_and_phase_order() -> None:
    r = parse_rule(
        _rule(action_params={"runbook_id": "LIN-PERM-001", "phases": ["remediate", "detect"]}),
        "custom",
        runbooks=REG,
    )
    assert r.phases == ("detect", "remediate", "verify")


def test_no_conditions_escalate_allowed() -> None:
    assert parse_rule({"id": "E", "action": "escalate"}, "custom", runbooks=REG).kind == "escalate"


def test_lint_warnings() -> None:
    r = parse_rule(
        {
            "id": "W",
            "conditions": [
                {"field": "check_type", "value": "nonexistent_check"},
                {"field": "details.bogus", "operator": "exists"},
                {"field": "s", "operator": "not_in", "value": "x"},
            ],
            "action": "escalate",
        },
        "custom",
        runbooks=REG,
        catalog=CATALOG,
    )
    text = " | ".join(r.warnings)
    assert "check_type never produced" in text and "details.bogus" in text and "not_in" in text
    ok = parse_rule(
        {
            "id": "OK",
            "conditions": [
                {"field": "check_type", "value": "linux_ssh_config"},
                {"field": "details.root_login", "value": "yes"},
                {"field": "password_auth", "value": "yes"},
            ],
            "action": "escalate",
        },
        "custom",
        runbooks=REG,
        catalog=CATALOG,
    )
    assert ok.warnings == ()
    flat = parse_rule(
        {
            "id": "D",
            "conditions": [
                {"field": "check_type", "value": "linux_ssh_config"},
                {"field": "units", "value": "x"},
            ],
            "action": "escalate",
        },
        "custom",
        runbooks=REG,
        catalog=CATALOG,
    )
    assert any("units" in w for w in flat.warnings)


# --- §1.5 matching --------------------------------------------------------------------------------


def _engine(*raws: dict[str, Any], clock: FakeClock | None = None) -> RuleEngine:
    rules = [parse_rule(r, "custom", runbooks=REG, position=i) for i, r in enumerate(raws)]
    return RuleEngine(rules, clock=clock or FakeClock(T0))


def test_first_match_and_priority() -> None:
    eng = _engine(_rule("LOW", priority=50), _rule("HIGH", priority=1), _rule("MID", priority=10))
    res = eng.match(_data(), "high")
    assert isinstance(res, Match) and res.rule.id == "HIGH"


def test_severity_filter_and_disabled() -> None:
    eng = _engine(_rule("SEV", severity_filter=["High", "critical"]))
    assert isinstance(eng.match(_data(), "HIGH"), Match)
    assert isinstance(eng.match(_data(host="h2"), "low"), NoMatch)
    assert isinstance(_engine(_rule("OFF", enabled=False)).match(_data(), "high"), NoMatch)


def test_no_drift_no_match() -> None:
    d = _data()
    del d["drift_detected"]
    assert isinstance(_engine(_rule()).match(d, "high"), NoMatch)


def test_cooldown_defers_not_falls_through() -> None:
    clock = FakeClock(T0)
    eng = _engine(_rule("A", priority=1), _rule("B", priority=2), clock=clock)
    assert isinstance(eng.match(_data(), "high"), Match)
    second = eng.match(_data(), "high")
    assert isinstance(second, Deferred) and second.rule.id == "A"  # not B, not NoMatch (L2)
    assert isinstance(eng.match(_data(host="other"), "high"), Match)  # per host
    clock.t += 301
    assert isinstance(eng.match(_data(), "high"), Match)


def test_cooldown_zero_and_dry_run_does_not_claim() -> None:
    eng = _engine(_rule("Z", cooldown_seconds=0))
    assert isinstance(eng.match(_data(), "high"), Match)
    assert isinstance(eng.match(_data(), "high"), Match)
    e2 = _engine(_rule("D"))
    assert isinstance(e2.match(_data(), "high", claim=False), Match)
    assert isinstance(e2.match(_data(), "high"), Match)


def test_cooldown_key_unknown_host_and_persistence() -> None:
    eng = _engine(_rule("K"))
    d = _data()
    d["host_id"] = ""
    eng.match(d, "high")
    assert "K:unknown" in eng.cooldowns
    e2 = _engine(_rule("K"))
    e2.restore_cooldowns(eng.export_cooldowns())
    assert isinstance(e2.match(d, "high"), Deferred)


def test_cooldown_pruned() -> None:
    clock = FakeClock(T0)
    eng = _engine(_rule("P"), clock=clock)
    eng.match(_data(), "high")
    clock.t += 700
    eng.match(_data(ct="nothing"), "high")
    assert eng.cooldowns == {}


# --- §1.7 sources ---------------------------------------------------------------------------------


def _write(p: Path, text: str) -> None:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)


def test_sources_precedence_and_order(tmp_path: Path) -> None:
    rd = tmp_path / "rules"
    _write(
        rd / "b.yaml",
        "id: L1-LIN-PERM-001\nconditions:\n  - {field: check_type, value: linux_file_permissions}\n"
        "action: escalate\npriority: 5\n",
    )
    _write(
        rd / "a.yaml",
        "rules:\n  - {id: SAME1, conditions: [{field: x, value: yes}], action: escalate, priority: 5}\n"
        "  - {id: SAME2, conditions: [{field: x, value: 1}], action: escalate, priority: 5}\n",
    )
    _write(rd / "promoted" / "p.yaml", "id: SAME1\nconditions: [{field: y, value: 1}]\naction: escalate\n")
    _write(rd / "bad.yaml", "id: [unclosed\n")
    _write(rd / ".hidden.yaml", "id: HIDDEN\naction: escalate\n")
    _write(
        rd / "x.json",
        json.dumps([{"id": "SYN", "conditions": [{"field": "x", "value": 1}], "actions": ["alert:y"]}]),
    )
    rules, rep = load_all(tmp_path, builtin=builtin_rules(REG), runbooks=REG, catalog=CATALOG)
    by_id = {r.id: r for r in rules}
    assert by_id["L1-LIN-PERM-001"].source == "custom"  # custom beats builtin
    assert by_id["SAME1"].source == "custom"  # custom beats promoted
    assert by_id["SAME1"].conditions[0].value == "yes"  # YAML 1.2: yes stays a string
    assert "HIDDEN" not in by_id
    assert any(o == "bad.yaml" for o, _ in rep.errors)
    # equal priority 5: rank (custom < synced) then file order then position
    order = [r.id for r in rules if r.priority == 5]
    assert order.index("SAME1") < order.index("SAME2") < order.index("SYN")
    assert order.index("SAME2") < order.index("L1-LIN-PERM-001") < order.index("SYN")  # a.yaml < b.yaml
    assert ("L1-LIN-PERM-001", "builtin") in rep.replaced


def test_bad_rule_rejected_rest_loaded(tmp_path: Path) -> None:
    _write(
        tmp_path / "rules" / "m.yaml",
        "rules:\n  - {id: GOOD, conditions: [{field: a, value: 1}], action: escalate}\n"
        "  - {id: BAD, conditions: [{field: a, operator: nope, value: 1}], action: escalate}\n",
    )
    rules, rep = load_all(tmp_path, builtin=[], runbooks=REG, catalog=None)
    assert [r.id for r in rules] == ["GOOD"]
    assert any("unknown operator" in reason for _, reason in rep.errors)


def test_yaml12_scalars() -> None:
    doc = load_yaml12("a: yes\nb: TRUE\nc: 2024-01-01\nd: ~\ne: off\nf: 1.5\n")
    assert doc == {"a": "yes", "b": True, "c": "2024-01-01", "d": None, "e": "off", "f": 1.5}


# --- §1.8 bundles ---------------------------------------------------------------------------------

SK = SigningKey(bytes(range(32)))
PK = SK.verify_key.encode().hex()
OTHER = SigningKey(bytes(range(1, 33)))


def _bundle(rules: list[Any], key: SigningKey = SK, embed: str | None = None) -> dict[str, Any]:
    sig = key.sign(json.dumps(rules, sort_keys=True).encode()).signature.hex()
    return {
        "rules": rules,
        "signature": sig,
        "server_public_key": embed or key.verify_key.encode().hex(),
        "version": "v",
        "count": len(rules),
    }


UNICODE_RULES = [
    {
        "id": "U-1",
        "description": "Tëst <b>&</b> 🚀 ✓",
        "conditions": [{"field": "check_type", "operator": "eq", "value": "linux_ntp_sync"}],
        "actions": ["alert:ü"],
        "priority": 2.5,
        "z": None,
    }
]


def test_bundle_non_ascii_verifies_and_tamper_fails() -> None:
    assert verify_bundle(_bundle(UNICODE_RULES), [PK]) == UNICODE_RULES
    b = _bundle(UNICODE_RULES)
    b["rules"] = [dict(UNICODE_RULES[0], priority=1)]
    with pytest.raises(BundleError, match="does not verify"):
        verify_bundle(b, [PK])


def test_bundle_embedded_key_not_trust_anchor() -> None:
    b = _bundle(UNICODE_RULES, key=OTHER)  # self-vouching bundle
    with pytest.raises(BundleError, match="not a trusted"):
        verify_bundle(b, [PK])
    with pytest.raises(BundleError, match="not a trusted"):
        verify_bundle(_bundle(UNICODE_RULES, embed=OTHER.verify_key.encode().hex()), [PK])


def test_bundle_malformed_signature() -> None:
    b = _bundle(UNICODE_RULES)
    b["signature"] = b["signature"].upper()
    with pytest.raises(BundleError, match="malformed"):
        verify_bundle(b, [PK])


def test_server_planner_bundle_verifies() -> None:
    from agent.central.rules import DEFAULT_RULES

    assert verify_bundle(_bundle(DEFAULT_RULES), [PK]) == DEFAULT_RULES


@pytest.mark.parametrize(
    ("kind", "keys", "require", "loaded", "deferred", "error"),
    [
        ("good", [PK], False, True, False, False),
        ("good", [PK], True, True, False, False),
        ("bad", [PK], False, False, False, True),
        ("good", [], False, False, True, False),
        ("unsigned", [PK], True, False, False, True),
        ("bare", [PK], True, False, False, True),
        ("unsigned", [PK], False, True, False, False),
        ("bare", [], False, True, False, False),
    ],
)
def test_bundle_file_matrix(
    tmp_path: Path, kind: str, keys: list[str], require: bool, loaded: bool, deferred: bool, error: bool
) -> None:
    rules = [{"id": "B-1", "conditions": [{"field": "a", "value": 1}], "actions": ["alert:z"]}]
    doc: Any = {
        "good": _bundle(rules),
        "bad": {**_bundle(rules), "rules": rules + rules},
        "unsigned": {"rules": rules},
        "bare": rules,
    }[kind]
    _write(tmp_path / "rules" / "synced_rules.json", json.dumps(doc))
    got, rep = load_all(
        tmp_path, builtin=[], runbooks=REG, catalog=None, trusted_keys=keys, require_signed=require
    )
    assert ([r.id for r in got] == ["B-1"]) is loaded
    assert bool(rep.deferred_files) is deferred
    assert bool(rep.errors) is error
    if kind == "bad":
        assert rep.security_events


def test_store_bundle_never_writes_rejected(tmp_path: Path) -> None:
    rules = [{"id": "S-1", "conditions": [{"field": "a", "value": 1}], "actions": ["alert:z"]}]
    store_bundle(tmp_path, _bundle(rules), [PK])
    path = tmp_path / "rules" / "synced_rules.json"
    good = path.read_bytes()
    with pytest.raises(BundleError):
        store_bundle(tmp_path, _bundle(rules, key=OTHER), [PK])
    assert path.read_bytes() == good
    assert oct(path.stat().st_mode & 0o777) == "0o600"


# --- §1.11 builtin set ----------------------------------------------------------------------------


def test_builtin_zero_errors_zero_warnings() -> None:
    rules, rep = load_all(None, builtin=builtin_rules(REG), runbooks=REG, catalog=CATALOG)
    assert rep.errors == [] and rep.warnings == []
    assert {r.id for r in rules} <= set(all_builtin_ids())
    assert all(r.source == "builtin" for r in rules)


def test_builtin_maps_expected_rules() -> None:
    rules, _ = load_all(None, builtin=builtin_rules(REG), runbooks=REG, catalog=CATALOG)
    eng = RuleEngine(rules, clock=FakeClock(T0))
    expect = {
        "firewall_status": "L1-FW-002",
        "audit_logging": "L1-AUDIT-002",
        "linux_file_permissions": "L1-LIN-PERM-001",
        "linux_cron_review": "L1-CRON-001",
        "device_unreachable": "L1-MONITOR-ESC-001",
        "macos_sip": "L1-MAC-ESC-001",
        "service_netlogon": "L1-WIN-SVC-NETLOGON",
        "service_dns": "L1-WIN-SVC-DNS",
    }
    for ct, rid in expect.items():
        res = eng.match(_data(ct=ct, host=ct), "high")
        assert isinstance(res, Match) and res.rule.id == rid, ct
    assert isinstance(eng.match(_data(ct="backup_not_configured"), "low"), NoMatch)
    ag = eng.match(_data(ct="agent_status", actual="NotInstalled"), "medium")
    assert isinstance(ag, NoMatch)


# --- parameterised actions of the server's rules (main.py agent_sync_rules) ----------------------

def _synced(*actions: str) -> Rule:
    return parse_rule({"id": "L1-NTP-001", "name": "NTP", "actions": list(actions),
                       "conditions": [{"field": "check_type", "operator": "eq",
                                       "value": "linux_failed_services"}]},
                      "synced", runbooks=REG)


def test_restart_service_actions_restart_their_units_through_lin_svc_001() -> None:
    one = _synced("restart_service:chronyd")
    assert (one.action, one.runbook_id, one.params) == (
        "run_linux_runbook", "LIN-SVC-001", {"units": ["chronyd.service"]})
    two = _synced("restart_service:sshd", "restart_service:chronyd", "alert:x")
    assert two.params == {"units": ["sshd.service", "chronyd.service"]}
    assert any("extra actions ignored" in w for w in two.warnings)
    assert _synced("restart_service:getty@tty1.service").params == {
        "units": ["getty@tty1.service"]}


@pytest.mark.parametrize("action", [
    "restart_service:", "restart_service:../../etc/passwd", "restart_service:/usr/bin/x",
    "restart_service:ssh d", "restart_service:a;reboot", "restart_service:x,y",
    "restart_service:-rf", "run_linux_runbook:", "run_linux_runbook:../LIN",
    "run_windows_runbook:RB WIN", "alert:", "alert:a\nb", "cleanup_disk_space:/var/log",
])
def test_parameterised_actions_outside_their_grammar_are_refused(action: str) -> None:
    with pytest.raises(RuleError):
        _synced(action)


def test_the_servers_standard_rules_all_load() -> None:
    """The 7 standard rules main.py agent_sync_rules sends every site (action lists verbatim)."""
    actions = [["restart_service:chronyd"], ["restart_service:sshd", "restart_service:chronyd"],
               ["alert:disk_space_critical"], ["restore_firewall_baseline"],
               ["restore_firewall_baseline"], ["alert:generation_drift"],
               ["run_windows_runbook:RB-WIN-SEC-005"]]
    for n, acts in enumerate(actions):
        rule = parse_rule({"id": f"L1-STD-{n}", "actions": acts,
                           "conditions": [{"field": "check_type", "operator": "eq",
                                           "value": "x"}]}, "synced", runbooks=REG)
        assert rule.kind in ("runbook", "escalate")
