"""Appliance self-remediation through the privileged helper (issue 22): the runbook's remediate
phase is a helper action run by the real helper program behind the played ``systemctl``; its
detect and verify are unprivileged scripts run by the real local executor."""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.priv import harness

from agent.exec import Target
from agent.exec.local import LocalExecutor
from agent.exec.types import Transport
from agent.healing.executor import HealOutcome, RunbookRunner
from agent.healing.journal import HealingJournal
from agent.priv.client import PrivClient
from agent.runbooks import default_registry
from agent.scan.model import Incident

REG = default_registry()

JOURNALCTL = r'''#!{python}
import sys
usage = {usage!r}
with open({log!r}, "a") as fh:
    fh.write("journalctl " + " ".join(sys.argv[1:]) + "\n")
arg = sys.argv[1] if len(sys.argv) > 1 else ""
if arg == "--disk-usage":
    print("Archived and active journals take up " + open(usage).read().strip() +
          " in the file system.")
elif arg.startswith("--vacuum-size="):
    open(usage, "w").write(arg.split("=", 1)[1].replace("M", ".0M"))
'''

CERTBOT = r'''#!{python}
import shutil, sys
with open({log!r}, "a") as fh:
    fh.write("certbot " + " ".join(sys.argv[1:]) + "\n")
shutil.copyfile({renewed!r}, {live!r})
'''


class World:
    def __init__(self, tmp_path: Path, actions: tuple[str, ...] | None = None) -> None:
        self.h = (harness.install(tmp_path) if actions is None
                  else harness.install(tmp_path, actions=actions))
        self.client = PrivClient(self.h.priv_root, systemctl=self.h.systemctl)
        self.runner = RunbookRunner(HealingJournal(tmp_path / "journal-state"), priv=self.client)
        self.executor = LocalExecutor(tmp_path / "run",
                                      path=f"{self.h.bin}:{os.environ.get('PATH', '')}")
        self.units = self.h.root / "units"

    def tool(self, name: str, text: str) -> None:
        path = self.h.bin / name
        path.write_text(text)
        path.chmod(0o755)

    async def heal(self, runbook_id: str, check_type: str, details: dict[str, Any] | None = None,
                   target: Target | None = None) -> HealOutcome:
        rb = REG.get(runbook_id)
        assert rb is not None
        inc = Incident("drift-a", "localhost", check_type, "high", "", "", "", details or {},
                       "linux", "test", "appliance", (), 0.0)
        params = rb.bind({}, inc.data_map())
        return await self.runner.run(
            executor=self.executor, target=target or Target.local(), credential=None,
            runbook=rb, params=params, phases=("detect", "remediate", "verify"), level="L1",
            incident_id="inc-1", check_type=check_type)

    def helper_calls(self, action: str) -> list[str]:
        return [c for c in self.h.calls() if c.endswith(f"msp-agent-priv@{action}.service")]


async def test_inactive_journald_is_restarted_by_the_helper_and_verified(tmp_path: Path) -> None:
    w = World(tmp_path)
    (w.units / "systemd-journald.service").write_text("failed")
    out = await w.heal("APPL-JOURNALD-001", "linux_failed_services")
    assert out.outcome == "healed", out
    assert out.verify == {"phase": "verify", "verified": True, "observed": {"state": "active"}}
    assert w.helper_calls("restart-journald")
    assert "systemctl restart systemd-journald.service" in w.h.calls()  # by the helper


async def test_an_active_journald_is_left_alone(tmp_path: Path) -> None:
    w = World(tmp_path)
    (w.units / "systemd-journald.service").write_text("active")
    out = await w.heal("APPL-JOURNALD-001", "linux_failed_services")
    assert out.outcome == "already_compliant"
    assert not w.helper_calls("restart-journald")


async def test_a_large_journal_is_vacuumed_to_the_fixed_size(tmp_path: Path) -> None:
    w = World(tmp_path)
    usage = tmp_path / "journal-usage"
    usage.write_text("2.5G")
    w.tool("journalctl", JOURNALCTL.format(python=sys.executable, usage=str(usage),
                                           log=str(w.h.log)))
    out = await w.heal("APPL-JOURNAL-001", "linux_disk_space")
    assert out.outcome == "healed", out
    assert "journalctl --vacuum-size=512M" in w.h.calls()
    assert out.verify is not None and out.verify["observed"] == {
        "known": True, "usage_mb": 512, "within_limit": True}


async def test_a_failed_backup_unit_is_started_and_its_success_verified(tmp_path: Path) -> None:
    w = World(tmp_path)
    (w.units / "restic-backup.service").write_text("failed")
    out = await w.heal("APPL-BACKUP-001", "linux_backup_status")
    assert out.outcome == "healed", out
    assert "systemctl start restic-backup.service" in w.h.calls()
    assert out.verify is not None and out.verify["observed"]["result"] == "success"


def write_cert(path: Path, days: int) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "appliance.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=days)).sign(key, hashes.SHA256()))
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


async def test_a_certificate_near_expiry_is_renewed_and_read_again(tmp_path: Path) -> None:
    w = World(tmp_path)
    live, renewed = tmp_path / "cert.pem", tmp_path / "renewed.pem"
    write_cert(live, 3)
    write_cert(renewed, 90)
    w.tool("certbot", CERTBOT.format(python=sys.executable, log=str(w.h.log),
                                     renewed=str(renewed), live=str(live)))
    out = await w.heal("APPL-CERT-001", "linux_cert_expiry", {"path": str(live), "days_left": 3})
    assert out.outcome == "healed", out
    assert "certbot renew --non-interactive" in w.h.calls()
    assert live.read_bytes() == renewed.read_bytes()


async def test_a_failing_helper_action_fails_the_heal_cleanly(tmp_path: Path) -> None:
    w = World(tmp_path)
    (w.units / "systemd-journald.service").write_text("failed")
    (w.units / "systemd-journald.service.fails").write_text("")
    out = await w.heal("APPL-JOURNALD-001", "linux_failed_services")
    assert (out.outcome, out.phase, out.error_category) == ("failed", "remediate", "script_error")
    assert out.error.startswith("privileged_helper:")
    # nothing else broke: the next heal of the same runbook through the same helper heals
    (w.units / "systemd-journald.service.fails").unlink()
    assert (await w.heal("APPL-JOURNALD-001", "linux_failed_services")).outcome == "healed"


async def test_an_action_outside_the_helpers_configured_actions_fails_the_heal(
        tmp_path: Path) -> None:
    w = World(tmp_path, actions=("wg-show",))
    (w.units / "systemd-journald.service").write_text("failed")
    out = await w.heal("APPL-JOURNALD-001", "linux_failed_services")
    assert (out.outcome, out.phase) == ("failed", "remediate")
    assert "not in privilegedActions" in out.error
    assert "systemctl restart systemd-journald.service" not in w.h.calls()


@pytest.mark.parametrize(("priv", "target", "why"), [
    (False, Target.local(), "privileged_helper_unavailable"),
    (True, Target(Transport.SSH, "10.0.0.9"), "privileged_action_not_local"),
])
async def test_no_helper_or_a_remote_target_fails_without_running_anything(
        tmp_path: Path, priv: bool, target: Target, why: str) -> None:
    w = World(tmp_path)
    if not priv:
        w.runner.priv = None
    (w.units / "systemd-journald.service").write_text("failed")
    rb = REG.get("APPL-JOURNALD-001")
    assert rb is not None
    out = await w.runner.run(executor=w.executor, target=target, credential=None, runbook=rb,
                             params={}, phases=("remediate", "verify"), level="L1",
                             incident_id="inc-2", check_type="linux_failed_services")
    assert (out.outcome, out.phase, out.error_category, out.error) == (
        "failed", "remediate", "privilege_failed", why)
    assert not w.helper_calls("restart-journald")
