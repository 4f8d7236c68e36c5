"""Windows check details added with the issue-7 runbooks: the agent's own account is not a rogue
administrator, Run/RunOnce value names come straight from the registry key."""

from __future__ import annotations

from agent.scan.windows import SCRIPT, evaluate_windows

ADMINS = [
    "S-1-5-21-1-2-3-500|User|FRONTDESK\\Administrator",
    "S-1-5-21-9-8-7-1105|User|CLINIC\\svc-msp",
    "S-1-5-21-1-2-3-1001|User|FRONTDESK\\helpdesk",
]


def test_the_account_the_agent_uses_is_not_a_rogue_admin() -> None:
    st, findings = evaluate_windows(
        "h", "rogue_admin_users", {"members": ADMINS, "self_sid": "S-1-5-21-9-8-7-1105"}, label="WS"
    )
    assert st == "drift" and findings[0].details == {"users": ["FRONTDESK\\helpdesk"]}
    # Without the scanner's own SID every non-built-in user is flagged (older records).
    st, findings = evaluate_windows("h", "rogue_admin_users", {"members": ADMINS}, label="WS")
    assert findings[0].details == {"users": ["CLINIC\\svc-msp", "FRONTDESK\\helpdesk"]}
    assert evaluate_windows(
        "h", "rogue_admin_users", {"members": ADMINS[:2], "self_sid": "S-1-5-21-9-8-7-1105"}, label="WS"
    ) == ("pass", [])
    assert evaluate_windows("h", "rogue_admin_users", {"members": ADMINS, "self_sid": 5}, label="WS") == (
        "unknown",
        [],
    )


def test_scan_script_reports_its_own_sid_and_raw_run_value_names() -> None:
    assert "self_sid = [Security.Principal.WindowsIdentity]::GetCurrent().User.Value" in SCRIPT
    run = SCRIPT[SCRIPT.index("Msp-Rec registry_run_persistence") :]
    run = run[: run.index("Msp-Rec audit_policy")]
    assert "GetValueNames()" in run and "PSObject.Properties" not in run and "-like 'PS*'" not in run
