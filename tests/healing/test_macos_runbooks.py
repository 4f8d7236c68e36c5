"""macOS drift → L1 rule → MAC-* runbook → verify → rescan, for real over the loopback sshd against
the fake macOS tools of tests/scan/fixtures/macos_tools (healing.md §2.5, §3.3–3.5, §7 defect 1)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.scan.test_macos_ssh import MacHost, mac, mac_exec, mac_sshd, scan  # noqa: F401 - fixtures

from agent.runbooks import default_registry
from agent.scan.events import HostScanned
from agent.scan.model import HostResult, Incident, aggregate

from .fakes import MemorySink
from .test_component import SITE, Env, env  # noqa: F401 - the fixture
from .test_e2e_ssh import _pipeline

REG = default_registry()
UPD = Path("defaults") / "_Library_Preferences_com.apple.SoftwareUpdate" / "AutomaticCheckEnabled"


def _upd_off(m: MacHost) -> None:
    (m.state / UPD).parent.mkdir(parents=True, exist_ok=True)
    (m.state / UPD).write_text("0\n")


def _smb_on(m: MacHost) -> None:
    m.set("smbd_disabled", "enabled")
    m.set("smbd_loaded", "yes")


def _ntp_off(m: MacHost) -> None:
    m.set("ntp", "Off")
    m.set("ntp_server", "")


# check type, rule id, runbook id, drift, proof in the fake state after the heal
CASES: list[tuple[str, str, str, Callable[[MacHost], None], Callable[[MacHost], bool]]] = [
    (
        "macos_firewall",
        "L1-MAC-FW-001",
        "MAC-FW-001",
        lambda m: m.set("firewall", "0"),
        lambda m: m.get("firewall") == "1",
    ),
    (
        "macos_gatekeeper",
        "L1-MAC-GK-001",
        "MAC-GK-001",
        lambda m: m.set("gatekeeper", "disabled"),
        lambda m: m.get("gatekeeper") == "enabled",
    ),
    (
        "macos_auto_update",
        "L1-MAC-UPD-001",
        "MAC-UPD-001",
        _upd_off,
        lambda m: (m.state / UPD).read_text().strip() == "1",
    ),
    (
        "macos_ntp_sync",
        "L1-MAC-NTP-001",
        "MAC-NTP-001",
        _ntp_off,
        lambda m: m.get("ntp") == "On" and m.get("ntp_server") == "time.apple.com",
    ),
    (
        "macos_file_sharing",
        "L1-MAC-SMB-001",
        "MAC-SMB-001",
        _smb_on,
        lambda m: m.get("smbd_disabled") == "disabled" and m.get("smbd_loaded") == "no",
    ),
]


def _incident(res: HostResult, check_type: str) -> Incident:
    (inc,) = [i for i in aggregate(res.findings) if i.check_type == check_type]
    return inc


@pytest.mark.parametrize(("check", "rule_id", "rb_id", "drift", "fixed"), CASES, ids=[c[2] for c in CASES])
async def test_macos_drift_healed_verified_and_rescanned_clean(
    mac: MacHost,  # noqa: F811
    mac_exec: Any,  # noqa: F811
    tmp_path: Path,
    check: str,
    rule_id: str,
    rb_id: str,
    drift: Callable[[MacHost], None],
    fixed: Callable[[MacHost], bool],
) -> None:
    drift(mac)
    first = await scan(mac, mac_exec)
    assert first.checks[check] == "drift"
    inc = _incident(first, check)
    assert (inc.platform, inc.source, inc.label) == ("macos", "macosscan", "macos")

    sink = MemorySink()
    res = await _pipeline(tmp_path, mac.target, mac.cred(), mac_exec, sink).handle(inc)
    assert res.stage == "healed", (res.reason, res.outcome)
    assert res.rule_id == rule_id
    assert fixed(mac)
    assert sink.kinds() == ["incident", "execution", "resolve"]
    execution = sink.items[1][1]["execution"]
    assert execution["runbook_id"] == rb_id and execution["verification_passed"] is True

    second = await scan(mac, mac_exec)  # the independent proof
    assert second.checks[check] == "pass" and not [f for f in second.findings if f.check_type == check]

    rb = REG.get(rb_id)
    assert rb is not None and rb.platform == "macos" and rb.privilege == "root"
    again = await _pipeline(tmp_path / "again", mac.target, mac.cred(), mac_exec, MemorySink()).execute(
        inc, rb, {}, phases=("detect", "remediate", "verify"), level="order", trigger="order"
    )
    assert again.outcome is not None and again.outcome.outcome == "already_compliant"  # detect first
    third = await _pipeline(tmp_path / "third", mac.target, mac.cred(), mac_exec, MemorySink()).execute(
        inc, rb, {}, phases=("remediate", "verify"), level="order", trigger="order"
    )
    assert third.stage == "healed" and fixed(mac)  # idempotent


async def test_fix_that_does_not_take_is_not_a_heal(
    mac: MacHost,  # noqa: F811
    mac_exec: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    """socketfilterfw accepts --setglobalstate on (exit 0) but the firewall stays off (e.g. an MDM
    profile wins): verify reads it back, the heal fails, nothing is resolved (§3.4, §7 defect 1)."""
    mac.set("out_socketfilterfw", "Firewall is disabled. (State = 0)")
    first = await scan(mac, mac_exec)
    inc = _incident(first, "macos_firewall")
    sink = MemorySink()
    res = await _pipeline(tmp_path, mac.target, mac.cred(), mac_exec, sink).handle(inc)
    assert res.stage != "healed"
    assert res.outcome is not None
    assert (res.outcome.outcome, res.outcome.phase, res.outcome.error_category) == (
        "failed",
        "verify",
        "verification_failed",
    )
    assert res.outcome.verify == {
        "phase": "verify",
        "verified": False,
        "observed": {"enabled": False, "state": 0},
    }
    assert "resolve" not in sink.kinds()
    assert "socketfilterfw --setglobalstate on" in mac.calls()


async def test_escalate_only_macos_checks_are_not_remediated(
    mac: MacHost,  # noqa: F811
    mac_exec: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    mac.set("filevault", "Off")
    mac.set("sip", "disabled")
    first = await scan(mac, mac_exec)
    for check in ("macos_filevault", "macos_sip"):
        sink = MemorySink()
        res = await _pipeline(tmp_path / check, mac.target, mac.cred(), mac_exec, sink).handle(
            _incident(first, check)
        )
        assert (res.stage, res.reason) == ("escalated", "needs_person")  # L1-MAC-ESC-001
        assert "execution" not in sink.kinds() and "resolve" not in sink.kinds()
    assert mac.get("filevault") == "Off" and not [c for c in mac.calls() if "enable" in c]


async def test_component_scans_a_macos_target_from_the_checkin(
    env: Env,  # noqa: F811
    mac: MacHost,  # noqa: F811
) -> None:
    """A ``linux_targets[]`` entry with ``distro: macos`` is scanned by the macOS scanner and its
    firewall drift healed through the component's own SSH executor and heal queue."""
    mac.set("firewall", "0")
    lt = mac.linux_target()
    env.cc.set_credentials(
        SITE,
        [],
        [
            {
                "hostname": lt.hostname,
                "port": lt.port,
                "username": "root",
                "private_key": lt.private_key,
                "distro": "macos",
            }
        ],
    )
    seen: list[HostResult] = []
    w = await env.agent(lambda bus: bus.subscribe(
        HostScanned, lambda e: seen.append(e.result) if e.target.platform == "macos" else None))
    comp = w.healing
    (t,) = [t for t, _ in w.scan.targets() if t.host == "127.0.0.1"]
    assert (t.platform, t.port) == ("macos", mac.sshd.port)
    await w.scan.scan_now()
    (res,) = seen
    assert res.status == "complete" and res.platform == "macos"
    assert res.checks["macos_firewall"] == "drift"
    assert {f.source for f in res.findings} == {"macosscan"}
    assert ("127.0.0.1", "macos_firewall") in comp.queue._items
    results = await comp.heal_pending()
    (healed,) = [r for r in results if r.rule_id == "L1-MAC-FW-001"]
    assert healed.stage == "healed", (healed.reason, healed.outcome)
    assert mac.get("firewall") == "1"
