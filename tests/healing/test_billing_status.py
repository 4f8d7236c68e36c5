"""The subscription gate with Central Command's billing semantics (billing_guard.py)."""

from __future__ import annotations

import pytest

from agent.site.state import Directives


@pytest.mark.parametrize(("status", "hold", "ok"), [
    ("none", False, True),       # a site without a partner: the server's free tier
    ("active", False, True),
    ("trialing", False, True),
    (None, False, True),         # not sent
    ("", False, True),
    ("unknown", False, True),    # the server's own billing check failed open
    ("past_due", False, True),   # inside the server's grace period (no billing hold)
    ("past_due", True, False),
    ("canceled", False, False),
    ("canceling", False, False),
    ("something-new", False, False),
])
def test_subscription_gate(status: str | None, hold: bool, ok: bool) -> None:
    assert Directives(billing_status=status, billing_hold=hold).subscription_ok() is ok
