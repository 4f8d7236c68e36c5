"""``python -m agent demo`` runs the main job end to end against the local Central Command."""

from __future__ import annotations

import json

from tests.conftest import run_agent


def test_demo_json_summary() -> None:
    r = run_agent("demo", "--json", timeout=120)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["checkins_ok"] >= 4 and summary["rekeys"] == 1
    assert summary["api_key_persisted"] is True
    # Orders: received -> verified -> executed -> completion recorded by the server.
    n = summary["orders_received"]
    assert n == 8 and summary["order_signatures_valid"] == n
    assert summary["orders_executed"] == n and summary["orders_completed"] == n
    results = summary["order_results"]
    assert results["force_checkin"] == "success (checkin_triggered)"
    assert results["update_iso"] == "success (update_received)"
    assert results["sync_rules"] == "success (sync_triggered)"  # signed bundle fetched and verified
    assert summary["credentials"] == {"windows": 1, "linux": 1}
    assert summary["sigauth"]["ok"] >= 3 and summary["heartbeat"] == {"valid": summary["checkins_ok"]}
    assert summary["server_keys"] == "rotation"
    # Evidence: created, chained, submitted, stored at consecutive positions, verifiable offline.
    assert summary["evidence_bundles"] == 2 and summary["evidence_chain_positions"] == [1, 2]
    assert summary["evidence_verify"] == "valid"
    # Logs: shipped with the synthetic PHI scrubbed before it left the appliance.
    assert summary["log_lines_shipped"] == 3 and summary["log_phi_leaked"] is False
    assert "REDACTED" in summary["log_line_as_received"]
    assert "Jane Doe" not in summary["log_line_as_received"]
    # Self-healing on the appliance itself: a real drift (a watched file made world-writable)
    # found by the local scan, healed by an L1 rule's runbook, proved by verify, reported and
    # resolved at Central Command, and gone at the rescan.
    assert summary["drift_detected"] is True and summary["heal_result"] == "healed"
    assert summary["heal_file_mode_after"] == "0o644"
    assert summary["incident_at_server"] == "resolved" and summary["incident_resolution_tier"] == "L1"
    assert summary["executions_at_server"] == 1 and summary["rescan_clean"] is True
    # The same drift the server's way: an L2 plan naming the server runbook RB-DRIFT-001 (dry
    # run, resolved by the alias table), then Central Command's healing order (incident id only,
    # signed parameters {}) selects the incident and heals it with the agent's runbook.
    assert summary["l2_dry_run"] == "dry_run (l2_plan RB-DRIFT-001 -> APPL-PERM-001)"
    assert summary["server_order_result"] == "success (healed: RB-DRIFT-001 -> APPL-PERM-001)"
    assert summary["server_order_file_mode_after"] == "0o644"
    # Progress went to stderr; no credential ever printed.
    for secret in ("demo-Windows-pass-1", "demo-linux-pass-2"):
        assert secret not in r.stdout + r.stderr


def test_demo_text_output() -> None:
    r = run_agent("demo", timeout=120)
    assert r.returncode == 0, r.stderr
    assert "first contact: checkin ok" in r.stdout and "summary" in r.stdout
    assert "rekeys" in r.stdout
    assert "order diagnostic verified" in r.stdout and "order diagnostic executed" in r.stdout
    assert "Central Command recorded completion of diagnostic: success" in r.stdout
    assert "evidence bundle seq 1 created" in r.stdout and "PHI reached the server: False" in r.stdout
    assert "heal: rule L1-APPLIANCE-PERM-001 -> healed" in r.stdout
    assert "Central Command: incident resolved (tier L1)" in r.stdout
