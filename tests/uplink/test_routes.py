"""The Uplink's endpoint table: every route is one the local Central Command (a faithful copy of
the real server's agent-facing API) serves with the same method, each with a deadline and a
response cap, and only the first-contact routes go without the API key."""

from __future__ import annotations

import re
from pathlib import Path

from agent.central import CentralCommand
from agent.central.routes import build_app
from agent.uplink import routes


def _served(tmp_path: Path) -> list[tuple[str, re.Pattern[str]]]:
    cc = CentralCommand(tmp_path / "central.db")  # not started: only its route table is read
    app = build_app(cc._svc, [])
    cc.close()
    out = []
    for r in app.router.routes():
        info = r.resource.get_info() if r.resource is not None else {}
        pattern = info.get("pattern")  # dynamic resources: aiohttp's own compiled pattern
        out.append((r.method, pattern if pattern is not None
                    else re.compile(re.escape(info.get("path", "")) + "$")))
    return out


def test_every_route_is_served_by_central_command(tmp_path: Path) -> None:
    served = _served(tmp_path)
    for route in routes.ALL:
        example = re.sub(r"\{[a-z_]+\}", "x", route.path)
        assert any(m == route.method and rx.fullmatch(example) for m, rx in served), route.name


def test_every_route_has_a_deadline_a_cap_and_its_auth() -> None:
    for route in routes.ALL:
        assert 0 < route.endpoint.deadline <= 60 and 0 < route.endpoint.cap <= 16 * 1024 * 1024
        assert route.auth is (route.name not in {"rekey", "evidence_verify", "provision_claim_v2",
                                                 "provision_claim", "provision_mac"}), route.name
        assert route.request is not None or route.method == "GET", route.name
    assert [r.name for r in routes.ALL if r.sign] == ["checkin"]
    assert [r.name for r in routes.ALL if r.gzip] == ["logs"]
    assert len({r.name for r in routes.ALL}) == len(routes.ALL)
