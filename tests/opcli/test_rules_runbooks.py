"""``rules list|lint|test`` and ``runbooks list|lint|show`` as subprocesses."""

from __future__ import annotations

import json
import shutil
from typing import Any

from agent.rules import canonical_rules_text

from .conftest import OTHER_PUB, SERVER_KEY, SERVER_PUB, Cli

CUSTOM = """rules:
  - id: SITE-LIN-FW
    name: site firewall rule
    description: the site's own firewall rule
    priority: 1
    conditions:
      - {field: check_type, operator: eq, value: linux_firewall}
      - {field: details.zone, operator: eq, value: lobby}
    action: run_linux_runbook
    action_params: {runbook_id: LIN-FW-001}
"""
INCIDENT: dict[str, Any] = {"check_type": "linux_firewall", "incident_type": "linux_firewall",
                            "drift_detected": True, "status": "fail", "host_id": "pc-01",
                            "severity": "high", "platform": "linux", "details": {"zone": "lobby"}}


def _bundle(rules: list[dict[str, Any]], key: Any = SERVER_KEY) -> dict[str, Any]:
    sig = key.sign(canonical_rules_text(rules).encode()).signature.hex()
    return {"rules": rules, "signature": sig}


def _synced_rule(rule_id: str) -> dict[str, Any]:
    return {"id": rule_id, "name": rule_id, "description": "synced",
            "conditions": [{"field": "check_type", "operator": "eq", "value": "linux_ntp"}],
            "action": "escalate", "priority": 2}


def test_list_lint_and_test_over_every_source(cli: Cli) -> None:
    (cli.state / "rules").mkdir()
    (cli.state / "rules" / "site.yaml").write_text(CUSTOM)
    listed = cli.json("rules", "list")
    ids = [r["id"] for r in listed["rules"]]
    assert ids[0] == "SITE-LIN-FW" and "L1-LIN-FW-001" in ids
    assert cli.json("rules", "lint")["ok"] is True
    inc = cli.tmp / "incident.json"
    inc.write_text(json.dumps(INCIDENT))
    r = cli("rules", "test", "--incident", str(inc))
    assert r.returncode == 0, r.stderr
    assert "MATCH SITE-LIN-FW (custom, priority 1) -> run_linux_runbook" in r.stdout
    assert 'details.zone eq "lobby": actual "lobby"' in r.stdout
    # Another zone: the site rule says why not, and the builtin rule matches.
    inc.write_text(json.dumps({**INCIDENT, "details": {"zone": "back office"}}))
    doc = cli.json("rules", "test", "--incident", str(inc))
    assert doc["rule"] == "L1-LIN-FW-001"
    site = next(e for e in doc["evaluated"] if e["rule"] == "SITE-LIN-FW")
    assert site["matched"] is False
    assert site["why_not"] == ['details.zone eq "lobby" is false (actual "back office")']


def test_no_match_exits_1_and_bad_input_2(cli: Cli) -> None:
    inc = cli.tmp / "incident.json"
    inc.write_text(json.dumps({**INCIDENT, "check_type": "nothing_like_it",
                               "incident_type": "nothing_like_it"}))
    r = cli("rules", "test", "--incident", str(inc))
    assert r.returncode == 1 and "result: no rule matches" in r.stdout
    inc.write_text("[1, 2]")
    assert cli("rules", "test", "--incident", str(inc)).returncode == 2
    assert cli("rules", "test", "--incident", str(cli.tmp / "missing.json")).returncode == 2
    assert cli("rules", "test").returncode == 2


def test_lint_reports_a_rejected_rule(cli: Cli) -> None:
    (cli.state / "rules").mkdir()
    (cli.state / "rules" / "bad.yaml").write_text(
        CUSTOM.replace("LIN-FW-001", "NO-SUCH-RUNBOOK"))
    r = cli("rules", "lint")
    assert r.returncode == 1 and "REJECTED bad.yaml" in r.stdout
    one = cli("rules", "lint", str(cli.state / "rules" / "bad.yaml"), "--json")
    assert one.returncode == 1 and json.loads(one.stdout)["rejected"][0]["origin"] == "bad.yaml#1"


def test_verify_rules_checks_bundle_signatures(cli: Cli) -> None:
    rules_dir = cli.state / "rules"
    rules_dir.mkdir()
    (rules_dir / "synced_rules.json").write_text(json.dumps(_bundle([_synced_rule("SYNC-1")])))
    # No trusted key yet: the bundle waits (deferred), nothing is rejected.
    deferred = cli.json("verify", "rules")
    assert deferred["deferred_bundles"] == ["synced_rules.json"]
    (cli.state / "server_keys.json").write_text(json.dumps(
        {"current": SERVER_PUB, "previous": None, "source": "config", "received_at": "x"}))
    good = cli.json("verify", "rules")
    assert good["ok"] and good["keys_from"] == "server_keys.json"
    assert cli.json("rules", "list")["rules"][0]["id"] == "SYNC-1" or any(
        r["id"] == "SYNC-1" for r in cli.json("rules", "list")["rules"])
    # Signed by a key we do not trust: a bundle failure, exit 1.
    r = cli("verify", "rules", "--pubkey", OTHER_PUB)
    assert r.returncode == 1 and "BAD BUNDLE synced_rules.json" in r.stdout
    # One file with an explicit key.
    single = cli.tmp / "bundle.json"
    single.write_text(json.dumps(_bundle([_synced_rule("SYNC-2")])))
    assert cli("verify", "rules", str(single), "--pubkey", SERVER_PUB).returncode == 0
    tampered = _bundle([_synced_rule("SYNC-2")])
    tampered["rules"][0]["action"] = "run_linux_runbook"
    single.write_text(json.dumps(tampered))
    bad = cli("verify", "rules", str(single), "--pubkey", SERVER_PUB, "--json")
    assert bad.returncode == 1
    assert "does not verify" in json.loads(bad.stdout)["bundle_failures"][0]
    assert cli("verify", "rules", str(single), "--pubkey", "abc").returncode == 2


def test_runbooks_list_show_lint(cli: Cli) -> None:
    listed = cli.json("runbooks", "list")["runbooks"]
    assert any(rb["id"] == "LIN-FW-001" and rb["platform"] == "linux" for rb in listed)
    shown = cli.json("runbooks", "show", "LIN-FW-001")
    assert shown["check_types"] == ["linux_firewall"] and len(shown["script_sha256"]) >= 2
    text = cli("runbooks", "show", "LIN-FW-001", "--scripts")
    assert text.returncode == 0 and "--- remediate ---" in text.stdout
    assert cli("runbooks", "show", "NOPE-1").returncode == 1
    assert cli.json("runbooks", "lint")["ok"] is True


def test_runbooks_lint_finds_a_broken_runbook(cli: Cli) -> None:
    from agent.runbooks.registry import DATA_DIR

    books = cli.tmp / "books"
    shutil.copytree(DATA_DIR / "LIN-FW-001", books / "LIN-FW-001")
    shutil.copytree(DATA_DIR / "LIN-NTP-001", books / "LIN-NTP-001")
    (books / "LIN-NTP-001" / "verify.sh").unlink()
    r = cli("runbooks", "lint", str(books))
    assert r.returncode == 1
    assert "INVALID LIN-NTP-001: LIN-NTP-001: verify script missing or empty" in r.stdout
    assert "1 runbooks valid, 1 invalid" in r.stdout
    assert cli("runbooks", "lint", str(books / "nope")).returncode == 2


def test_help_names_the_subcommands(cli: Cli) -> None:
    for cmd, subs in (("rules", ("list", "lint", "test")),
                      ("runbooks", ("list", "lint", "show"))):
        r = cli(cmd, "--help")
        assert r.returncode == 0 and all(s in r.stdout for s in subs)


