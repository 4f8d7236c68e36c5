"""A healing order naming an appliance self-remediation runbook: the agent as the root builds
it runs the runbook's remediate through the real privileged helper (played ``systemctl``); a
failing helper action fails the order with the reason (the incident escalated, the failed
execution reported) and the next order still heals."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from tests.priv import harness

from agent.config import load_config
from agent.orders.handlers import HandlerError
from agent.priv.client import PrivClient
from agent.scan.linux import EVALUATORS
from agent.state import load_or_create
from agent.wiring import Options, build

from .test_appliance_priv import CERTBOT, write_cert
from .test_component import SITE, Env, _deliver, env  # noqa: F401  (the component test's world)


async def test_a_healing_order_restarts_journald_through_the_helper(
        env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
        caplog: pytest.LogCaptureFixture) -> None:
    h = harness.install(tmp_path / "priv", state_dir=tmp_path / "priv-agent-state")
    unit = h.root / "units" / "systemd-journald.service"
    unit.write_text("failed")
    monkeypatch.setenv("PATH", f"{h.bin}:{os.environ.get('PATH', '')}")  # the local executor's
    w = await env.agent()
    w.healing.pipeline.runner.priv = PrivClient(h.priv_root, systemctl=h.systemctl)
    hooks = w.orders.worker.hooks
    assert hooks.run_heal is not None

    (unit.parent / "systemd-journald.service.fails").write_text("")
    with pytest.raises(HandlerError) as failed:
        await hooks.run_heal("localhost", "linux_failed_services", "APPL-JOURNALD-001", {})
    got = failed.value.result
    assert got["status"] == "failed" and got["reason"] == "privileged_helper: exited 1"
    assert unit.read_text() == "failed"
    assert any(r.getMessage() == "incident escalated to L3: heal_failed:privileged_helper: exited 1"
               for r in caplog.records)

    (unit.parent / "systemd-journald.service.fails").unlink()
    res = await hooks.run_heal("localhost", "linux_failed_services", "APPL-JOURNALD-001", {})
    assert res["status"] == "healed" and unit.read_text() == "active"
    assert sum(c == "systemctl start --no-ask-password msp-agent-priv@restart-journald.service"
               for c in h.calls()) == 2
    await _deliver(w)
    reported = [(e["execution"]["runbook_id"], e["execution"]["success"],
                 e["execution"].get("error_message")) for e in env.cc.executions(SITE)]
    assert reported == [("APPL-JOURNALD-001", False, "privileged_helper: exited 1"),
                        ("APPL-JOURNALD-001", True, None)]


async def test_the_appliance_scan_finds_a_near_expiry_cert_and_l1_renews_it_through_the_helper(
        env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    h = harness.install(tmp_path / "priv", state_dir=tmp_path / "priv-agent-state")
    live, renewed = tmp_path / "cert.pem", tmp_path / "renewed.pem"
    write_cert(live, 3)
    write_cert(renewed, 90)
    (h.bin / "certbot").write_text(CERTBOT.format(python=sys.executable, log=str(h.log),
                                                  renewed=str(renewed), live=str(live)))
    (h.bin / "certbot").chmod(0o755)
    monkeypatch.setenv("PATH", f"{h.bin}:{os.environ.get('PATH', '')}")
    env.cc.set_directives(SITE, disabled_checks=sorted(c for c in EVALUATORS
                                                       if c != "linux_cert_expiry"))
    w = build(load_config(env.config_path, environ={}).config, env.config_path,
              load_or_create(env.state),
              Options(appliance_params={"cert_paths": [str(live)]}, own_mac="AABBCCDDEEFF"))
    env.built.append(w)
    assert await w.checkin.run_once()
    w.healing.pipeline.runner.priv = PrivClient(h.priv_root, systemctl=h.systemctl)
    await w.scan.scan_now()
    (res,) = await w.healing.heal_pending()
    assert (res.stage, res.rule_id) == ("healed", "L1-LIN-CERT-001")
    assert "certbot renew --non-interactive" in h.calls()
    assert live.read_bytes() == renewed.read_bytes()
    await _deliver(w)
    (ex,) = env.cc.executions(SITE)
    assert (ex["execution"]["runbook_id"], ex["execution"]["success"],
            ex["execution"]["resolution_level"]) == ("APPL-CERT-001", True, "L1")
