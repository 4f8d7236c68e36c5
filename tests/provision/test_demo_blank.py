"""``python -m agent demo --from-blank``: a blank appliance provisions itself (after one 503,
retried while the status said so), then checks in with the identity key the claim registered."""

from __future__ import annotations

import json

from tests.conftest import run_agent


def test_demo_from_blank() -> None:
    r = run_agent("demo", "--from-blank", "--json", timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    summary = json.loads(r.stdout)
    assert summary["provisioned"] == "claim_v2" and summary["config_mode"] == "0o600"
    assert summary["status_while_waiting"].startswith(
        "provisioning: waiting for Central Command (server error: HTTP 503)")
    assert summary["checkin_ok"] is True and summary["sigauth"] == "ok"
