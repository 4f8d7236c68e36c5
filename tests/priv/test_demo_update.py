"""``demo --scenario update`` shows an update that is kept and a rollback that is reported."""

from __future__ import annotations

import io
import json

from agent import demo_update


def test_the_update_demo_shows_an_update_and_a_rollback() -> None:
    out = io.StringIO()
    assert demo_update.main(as_json=True, out=out) == 0
    result = json.loads(out.getvalue())
    assert result["1.1.0"]["watchdog"] == "committed"
    assert result["1.2.0"] == {"watchdog": "rolled_back", "current": "1.1.0", "completion": (
        "failure: update to 1.2.0 failed: running 1.1.0: the agent unit failed on release 1.2.0")}
