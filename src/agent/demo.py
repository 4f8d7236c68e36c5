"""``python -m agent demo``: the agent's main job against a local Central Command, on loopback.

Everything runs in one process with no outbound network: the local Central Command (SQLite in
a temporary directory) and the agent's real checkin component with its own state directory.
The timeline exercises what a first week on a clinic appliance does: first contact, signed
orders and encrypted credentials arriving, a server signing-key rotation, and a revoked API
key recovered through rekey.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from agent import phi, wiring
from agent.central import CentralCommand
from agent.checkin import CheckinComponent
from agent.config import load_config
from agent.evidence.store import Limits
from agent.exec import Target
from agent.logship.source import FileSource
from agent.scan.linux import EVALUATORS
from agent.state import StateDir, load_or_create
from agent.wiring import Wired

SITE = "demo-clinic"
#: A representative set of the "must" order types (every one is issuable:
#: ``agent.central.ordertypes``); each is received, verified, executed and completed.
DEMO_ORDERS = ("force_checkin", "diagnostic", "sensor_status", "disable_healing",
               "enable_healing", "update_iso", "clear_winrm_pin", "sync_rules")


@dataclass
class Summary:
    checkins_ok: int = 0
    checkins_failed: int = 0
    sigauth: dict[str, int] = field(default_factory=dict)
    heartbeat: dict[str, int] = field(default_factory=dict)
    orders_received: int = 0
    order_signatures_valid: int = 0
    orders_executed: int = 0
    orders_completed: int = 0
    order_results: dict[str, str] = field(default_factory=dict)
    credentials: dict[str, int] = field(default_factory=dict)
    server_keys: str = ""
    rekeys: int = 0
    api_key_persisted: bool = False
    state_dir: str = ""
    evidence_bundles: int = 0
    evidence_chain_positions: list[int] = field(default_factory=list)
    evidence_verify: str = ""
    log_lines_shipped: int = 0
    log_phi_leaked: bool = False
    log_line_as_received: str = ""
    drift_seeded: str = ""
    drift_detected: bool = False
    heal_result: str = ""
    heal_file_mode_after: str = ""
    incident_at_server: str = ""
    incident_resolution_tier: str = ""
    executions_at_server: int = 0
    rescan_clean: bool = False
    l2_dry_run: str = ""
    server_order_result: str = ""
    server_order_file_mode_after: str = ""


class Demo:
    def __init__(self, out: TextIO, tmp: Path) -> None:
        self.out = out
        self.tmp = tmp
        self.summary = Summary(state_dir=str(tmp / "state"))
        self.started = time.monotonic()

    @property
    def watched_file(self) -> Path:
        return self.tmp / "appliance" / "clinic-app.conf"

    def appliance_params(self) -> dict[str, str | list[str]]:
        """The appliance self-check watches one file of the demo (a stand-in for its own state
        files) and an sshd configuration that does not exist (unknown, never "pass")."""
        return {"perm_files": [str(self.watched_file)], "sshd_config": str(self.tmp / "absent")}

    async def self_heal(self, w: Wired, cc: CentralCommand) -> None:
        await _self_heal(self, w, cc)

    async def evidence_and_logs(self, w: Wired, cc: CentralCommand) -> None:
        await _evidence_and_logs(self, w, cc)

    def say(self, text: str) -> None:
        self.out.write(f"[{time.monotonic() - self.started:5.2f}s] {text}\n")
        self.out.flush()

    async def checkin(self, comp: CheckinComponent, cc: CentralCommand, label: str) -> bool:
        before = len(cc.checkins(SITE))
        t0 = time.monotonic()
        ok = await comp.run_once()
        ms = int((time.monotonic() - t0) * 1000)
        seen = cc.checkins(SITE)[before:]
        if ok:
            self.summary.checkins_ok += 1
        else:
            self.summary.checkins_failed += 1
        server = ""
        if seen:
            rec = seen[-1]
            self.summary.sigauth[rec["sigauth"]] = self.summary.sigauth.get(rec["sigauth"], 0) + 1
            self.summary.heartbeat[rec["heartbeat"]] = \
                self.summary.heartbeat.get(rec["heartbeat"], 0) + 1
            server = f"; server: HTTP {rec['http_status']}, request signature {rec['sigauth']}, " \
                     f"heartbeat {rec['heartbeat']}"
            if rec["sigauth"] == "unknown_pubkey":
                server += " (expected on first contact: the server learns the identity key now)"
        result = "ok" if ok else f"failed ({comp.last_error_kind})"
        self.say(f"{label}: checkin {result} in {ms} ms{server}")
        return ok

    def order_event(self, name: str, info: dict[str, Any]) -> None:
        if name == "verified":
            self.say(f"   order {info['order_type']} verified (signature, scope, expiry, nonce "
                     "recorded); executing")
        elif name == "executed":
            self.say(f"   order {info['order_type']} executed: "
                     f"{'succeeded' if info['success'] else 'failed'}")
        elif name == "rejected":
            self.say(f"   order {info['order_type']} rejected: {info['verdict']}")

    async def run(self) -> Summary:
        cc = CentralCommand(self.tmp / "central.db")
        await cc.start()
        state = StateDir(self.tmp / "state")
        w: Wired | None = None
        try:
            cc.create_site(SITE)
            api_key = cc.create_api_key(SITE)
            self.say(f"local Central Command listening on {cc.url} (site {SITE!r}); "
                     f"server signing key {cc.server_public_key[:16]}…")
            config_path = self.tmp / "config.yaml"
            config_path.write_text(
                f"# written by msp-agent demo\nsite_id: {SITE}\napi_key: {api_key}\n"
                f"api_endpoint: {cc.url}\nstate_dir: {state.path}\npoll_interval: 60\n")
            state.open()
            keys = load_or_create(state.path)
            phi.configure(site_key=keys.phi_hash_key)
            self.say(f"agent keys created in {state.path}: identity {keys.identity_fingerprint}, "
                     f"envelope {keys.envelope_public_hex[:16]}…")
            cfg = load_config(config_path, environ={}).config
            journal_file = self.tmp / "journal.json"
            journal_file.touch()
            # The composition root builds the same agent the daemon runs; the demo drives its
            # components' steps by hand instead of the supervisor.
            w = wiring.build(cfg, config_path, keys, wiring.Options(
                appliance_params=self.appliance_params(), log_source=FileSource(journal_file),
                evidence_limits=replace(Limits.from_config(cfg), min_free_bytes=0)))
            comp = w.checkin

            await self.checkin(comp, cc, "1 first contact")
            self.say(f"   appliance id assigned: {comp.shared.appliance_id}; trusting server key "
                     f"{comp.server_keys.trusted_keys()[0][:16]}… (first checkin)")

            cc.set_credentials(SITE, [
                {"hostname": "dc01.demo.local", "username": "DEMO\\svc-msp",
                 "password": "demo-Windows-pass-1", "use_ssl": True, "role": "domain_controller"},
            ], [
                {"hostname": "127.0.0.1", "port": 22, "username": "msp",
                 "password": "demo-linux-pass-2", "label": "loopback"},
            ])
            orders = w.orders
            orders.worker.on_event = self.order_event
            for order_type in DEMO_ORDERS:
                cc.issue_sample_order(SITE, order_type)
            self.say(f"Central Command: credentials for 2 hosts sealed to the appliance's key, "
                     f"{len(DEMO_ORDERS)} signed orders queued ({', '.join(DEMO_ORDERS)})")
            await self.checkin(comp, cc, "2 orders and credentials")
            creds = comp.shared.credentials
            self.summary.credentials = {"windows": len(creds.windows_targets),
                                        "linux": len(creds.linux_targets)}
            self.say(f"   credentials decrypted into memory: {len(creds.windows_targets)} Windows, "
                     f"{len(creds.linux_targets)} Linux target(s) (passwords never logged; at rest "
                     "only in credentials.sealed)")
            self.say(f"   orders received: {orders.worker.stats.received}; handing them to the "
                     "order worker")
            await orders.run_once()
            stats = orders.worker.stats
            self.summary.orders_received = stats.received
            self.summary.order_signatures_valid = stats.verified
            self.summary.orders_executed = stats.executed
            done = cc.completions(SITE)
            self.summary.orders_completed = len(done)
            for c in done:
                res = c["result"] or {}
                what = res.get("status") or ("ok" if c["success"] else "")
                self.summary.order_results[c["order_type"]] = \
                    f"{'success' if c['success'] else 'failure'}" + (f" ({what})" if what else "") \
                    + ("" if c["success"] else f": {c['error_message']}")
                self.say(f"   Central Command recorded completion of {c['order_type']}: "
                         f"{self.summary.order_results[c['order_type']]}")
            self.say(f"   completion outbox pending: {orders.worker.outbox.pending()}")
            await self.evidence_and_logs(w, cc)
            await self.self_heal(w, cc)

            cc.rotate_signing_key()
            self.say(f"Central Command rotates its signing key to {cc.server_public_key[:16]}…")
            await self.checkin(comp, cc, "3 key rotation")
            self.say(f"   trusted server keys now: "
                     f"{', '.join(k[:16] + '…' for k in comp.server_keys.trusted_keys())} "
                     f"({comp.server_keys.source})")

            cc.deactivate_api_key(api_key)
            self.say("Central Command deactivates the appliance's API key")
            for n in range(4, 8):
                ok = await self.checkin(comp, cc, f"{n} {'after rekey' if comp.rekeys else 'dead key'}")
                if ok:
                    break
            self.summary.rekeys = comp.rekeys
            new_key = comp.credentials.api_key
            self.summary.api_key_persisted = new_key != api_key and \
                f'"{new_key}"' in config_path.read_text()
            self.say(f"   rekeys: {comp.rekeys}; new API key saved to config.yaml: "
                     f"{self.summary.api_key_persisted}")
            self.summary.server_keys = comp.server_keys.source
        finally:
            if w is not None:
                await w.close()
            state.close()
            await cc.stop()
            cc.close()
        return self.summary


SYNTHETIC_PHI = ("appointment reminder failed for patient Jane Doe DOB 04/12/1987 "
                 "MRN 88123457 phone 555-867-5309")
PHI_VALUES = ("Jane Doe", "04/12/1987", "88123457", "555-867-5309")


async def _evidence_and_logs(demo: Demo, w: Wired, cc: CentralCommand) -> None:
    from datetime import UTC, datetime

    from agent.evidence.bundle import scan_result_from_host
    from agent.evidence.verify import load_dir, verify_chain
    from agent.scan.model import Finding, HostResult

    s = demo.summary
    comp = w.checkin
    ev = w.evidence
    host = "192.168.88.20"
    for fail in (True, False):  # a finding, then the healed state
        finding = Finding(host, "linux_ssh_config", "high", "164.312(a)(1)", "PermitRootLogin no",
                          "PermitRootLogin yes", {}, "linux", "demo")
        scan = scan_result_from_host(HostResult(
            host, "linux", "complete", {"linux_ssh_config": "drift" if fail else "pass"},
            [finding] if fail else [], finished_at=datetime.now(UTC).timestamp()))
        assert scan is not None
        for b in ev.record_scan(scan):
            demo.say(f"evidence bundle seq {b.chain_seq} created ({b.bundle_hash[:16]}…, prev "
                     f"{(b.prev_bundle_hash or '')[:16]}…), fsynced to evidence_cache/")
    await ev.submitter.drain(force=True)
    stored = cc.evidence(SITE)
    s.evidence_bundles = len(stored)
    s.evidence_chain_positions = [e["chain_position"] for e in stored]
    demo.say(f"   Central Command stored {len(stored)} bundles at chain positions "
             f"{s.evidence_chain_positions}; spool pending {ev.store.queue.pending()}")
    _, journal, _ = load_dir(comp.state_dir / "evidence_chain")
    bodies = [r for d in ("evidence_cache", "evidence_dead_letter")
              if (comp.state_dir / d).is_dir() for r in load_dir(comp.state_dir / d)[0]]
    bodies += [_record_from_row(e) for e in stored]
    res = verify_chain(bodies, journal=journal)
    s.evidence_verify = "valid" if res.valid else f"invalid ({res.error} at {res.first_bad_seq})"
    demo.say(f"   offline verification of the chain (server copies + local journal): "
             f"{s.evidence_verify}, head seq {res.head_seq}")

    journal_file = demo.tmp / "journal.json"  # the log source the demo's agent was built with
    now_us = int(datetime.now(UTC).timestamp() * 1_000_000)
    lines = [("msp-agent.service", "scan round finished: 1 host, 1 finding"),
             ("clinic-reminders.service", SYNTHETIC_PHI),
             ("sshd.service", "Accepted publickey for msp from 192.168.88.5 port 50522")]
    journal_file.write_text("".join(json.dumps({
        "__CURSOR": f"s=demo;i={i}", "__REALTIME_TIMESTAMP": str(now_us + i), "PRIORITY": "6",
        "_SYSTEMD_UNIT": unit, "MESSAGE": msg}) + "\n" for i, (unit, msg) in enumerate(lines)))
    demo.say(f"journal line fed to the log shipper: {SYNTHETIC_PHI!r}")
    ship = w.logship
    s.log_lines_shipped = await ship.shipper.tick(ship.post)
    received = [e for rec in cc.logs(SITE) for e in rec["entries"]]
    leaked = json.dumps(cc.logs(SITE))
    s.log_phi_leaked = any(v in leaked for v in PHI_VALUES)
    s.log_line_as_received = next((e["msg"] for e in received
                                   if e["unit"] == "clinic-reminders.service"), "")
    demo.say(f"   {s.log_lines_shipped} lines shipped (gzip, one scrub call per batch); what left "
             f"the appliance: {s.log_line_as_received!r}")
    demo.say(f"   cursor saved after the server accepted the batch: "
             f"{ship.shipper.saved_cursor()}; PHI reached the server: {s.log_phi_leaked}")


#: The second round hands the drift to Central Command: no local rule matches it (the builtin
#: host rule for the check is switched off by a custom rule of the same id).
HAND_TO_SERVER_RULE = """\
id: L1-LIN-PERM-001
name: Account database permissions (off for the demo's second round)
enabled: false
conditions:
  - {field: check_type, operator: eq, value: linux_file_permissions}
action: run_linux_runbook
action_params: {runbook_id: LIN-PERM-001}
"""

#: The server's catalogue id Central Command names for the drift (l2_planner.py).
SERVER_RUNBOOK = "RB-DRIFT-001"

SELF_CHECK_RULE = """\
# Appliance self-check: the agent's own watched files are fixed by APPL-PERM-001 (no privilege).
id: L1-APPLIANCE-PERM-001
name: Appliance watched-file permissions
description: A watched file on the appliance itself is group/other writable
conditions:
  - {field: check_type, operator: eq, value: linux_file_permissions}
  - {field: label, operator: eq, value: appliance}
  - {field: drift_detected, operator: eq, value: true}
action: run_linux_runbook
action_params: {runbook_id: APPL-PERM-001}
priority: 1
cooldown_seconds: 300
"""


async def _self_heal(demo: Demo, w: Wired, cc: CentralCommand) -> None:
    """A real, harmless drift on the appliance: detected, healed, verified, reported, resolved."""
    s = demo.summary
    comp, healing, scan, reports = w.checkin, w.healing, w.scan, w.reports
    watched = demo.watched_file
    watched.parent.mkdir(mode=0o700, exist_ok=True)
    watched.write_text("# stand-in for an agent state file\n")
    watched.chmod(0o666)
    s.drift_seeded = f"{watched.name} mode 0666"
    rules_dir = comp.state_dir / "rules"
    rules_dir.mkdir(mode=0o700, exist_ok=True)
    (rules_dir / "appliance-self-check.yaml").write_text(SELF_CHECK_RULE)
    w.rules.reload()
    # The server disables every other Linux check for this site: the demo host is not a clinic
    # appliance, and the disabled-check gate applies to scans and incidents alike.
    others = sorted(c for c in EVALUATORS if c != "linux_file_permissions")
    cc.set_directives(SITE, disabled_checks=others)
    demo.say(f"drift seeded on the appliance itself: {watched} set to mode 0666 (world-writable); "
             f"Central Command disables the {len(others)} other Linux checks for this demo")
    await demo.checkin(comp, cc, "2b directives")
    local = [(Target.local(), None)]
    scan.scheduler.set_targets(local)
    scan.scheduler.force()
    await scan.scheduler.run_round()
    host = next(iter(scan.scheduler.hosts.values()))
    s.drift_detected = len(healing.queue) > 0
    demo.say(f"   appliance scan through the local executor: {host.last_status}; incidents queued "
             f"for healing: {len(healing.queue)}")
    for res in await healing.heal_pending():
        s.heal_result = res.stage + (f" ({res.reason})" if res.reason else "")
        demo.say(f"   heal: rule {res.rule_id or '-'} -> {s.heal_result}; journal "
                 f"{healing.journal.path.name}")
    s.heal_file_mode_after = oct(watched.stat().st_mode & 0o777)
    demo.say(f"   {watched.name} is now mode {s.heal_file_mode_after} (verify phase proved it)")
    reports.after_checkin()
    await reports.run_once()
    incidents = [i for i in cc.incidents(SITE) if i["check_type"] == "linux_file_permissions"]
    if incidents:
        s.incident_at_server = incidents[-1]["status"]
        s.incident_resolution_tier = (incidents[-1]["resolution"] or {}).get("resolution_tier", "")
    s.executions_at_server = len(cc.executions(SITE))
    demo.say(f"   Central Command: incident {s.incident_at_server or 'missing'} "
             f"(tier {s.incident_resolution_tier or '-'}), executions recorded: {s.executions_at_server}")
    scan.scheduler.force()
    report = await scan.scheduler.run_round()
    rescan = next(iter(report.results.values()), None)
    s.rescan_clean = rescan is not None and rescan.checks.get("linux_file_permissions") == "pass"
    demo.say(f"   rescan: linux_file_permissions "
             f"{rescan.checks.get('linux_file_permissions') if rescan else 'not scanned'}")
    (rules_dir / "appliance-self-check.yaml").write_text(HAND_TO_SERVER_RULE)
    w.rules.reload()
    await _server_heal(demo, w, cc)
    cc.set_directives(SITE, disabled_checks=[])


async def _server_heal(demo: Demo, w: Wired, cc: CentralCommand) -> None:
    """The same drift healed the real server's way: no local rule; an L2 plan naming the
    server's runbook RB-DRIFT-001 (dry run); then Central Command's healing order, which carries
    only the incident id and that server runbook id, selects the incident and heals it."""
    s = demo.summary
    healing, scan, reports = w.healing, w.scan, w.reports
    watched = demo.watched_file
    cc.set_server_l1(SITE, {"linux_file_permissions": SERVER_RUNBOOK})
    watched.chmod(0o666)
    host = Target.local().host
    healing.pipeline.dedup.pop(f"{host}:linux_file_permissions", None)
    demo.say(f"drift seeded again ({watched.name} mode 0666), no local rule for it (the demo "
             "skips the 10-minute dedup window); Central Command's L1 table maps "
             f"linux_file_permissions to its runbook {SERVER_RUNBOOK}")
    gates, pipeline = healing.gates, healing.pipeline
    dry, plans = gates.dry_run, pipeline.l2_dry_run_plans
    gates.dry_run, pipeline.l2_dry_run_plans = True, True
    try:
        scan.scheduler.force()
        await scan.scheduler.run_round()
        for res in await healing.heal_pending():
            s.l2_dry_run = res.stage + (f" ({res.reason})" if res.reason else "")
    finally:
        gates.dry_run, pipeline.l2_dry_run_plans = dry, plans
    demo.say(f"   dry run: L2 plan from Central Command -> {s.l2_dry_run or 'none'}; file still "
             f"mode {oct(watched.stat().st_mode & 0o777)}")
    reports.after_checkin()
    await reports.run_once()
    bound = [i for i in cc.incidents(SITE) if i["check_type"] == "linux_file_permissions"]
    demo.say(f"   incident reported; Central Command answered with incident id "
             f"{bound[-1]['incident_id'] if bound else '-'} and queued a healing order")
    before = len(cc.completions(SITE))
    await demo.checkin(w.checkin, cc, "2c server healing order")
    orders = w.orders
    delivered = [o for o in cc.orders(SITE) if o.get("order_type") == "healing"]
    await orders.run_once()
    done = [c for c in cc.completions(SITE)[before:] if c["order_type"] == "healing"]
    if done:
        out = done[-1]["result"] or {}
        s.server_order_result = ("success" if done[-1]["success"] else "failure") + \
            f" ({out.get('status', '')}: {out.get('runbook_id', '')} -> " \
            f"{out.get('agent_runbook_id', '')})" + \
            ("" if done[-1]["success"] else f": {done[-1]['error_message']}")
    s.server_order_file_mode_after = oct(watched.stat().st_mode & 0o777)
    demo.say(f"   healing order ({len(delivered)} issued; parameters only incident_id, signed "
             f"parameters {{}}): {s.server_order_result or 'not completed'}; "
             f"{watched.name} is now mode {s.server_order_file_mode_after}")


def _record_from_row(row: dict[str, Any]) -> Any:
    from agent.evidence.verify import BundleRecord

    return BundleRecord(row["signed_data"], row["agent_signature"], row["bundle_hash"],
                        row["agent_public_key"], "central")


def render(summary: Summary) -> str:
    def counts(d: dict[str, int]) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(d.items())) or "none"

    rows = [
        ("checkins", f"{summary.checkins_ok} ok, {summary.checkins_failed} failed"),
        ("request signatures (server side)", counts(summary.sigauth)),
        ("heartbeat signatures (server side)", counts(summary.heartbeat)),
        ("orders received", str(summary.orders_received)),
        ("orders verified (agent side)", str(summary.order_signatures_valid)),
        ("orders executed", str(summary.orders_executed)),
        ("completions recorded by the server", str(summary.orders_completed)),
        ("credentials decrypted", counts(summary.credentials)),
        ("server key trust", summary.server_keys or "none"),
        ("rekeys", f"{summary.rekeys} (new key persisted: {summary.api_key_persisted})"),
        ("evidence bundles stored", f"{summary.evidence_bundles} at chain positions "
                                    f"{summary.evidence_chain_positions}"),
        ("evidence chain (offline verify)", summary.evidence_verify),
        ("log lines shipped", f"{summary.log_lines_shipped} (PHI leaked: {summary.log_phi_leaked})"),
        ("appliance self-heal", f"{summary.drift_seeded}: {summary.heal_result or 'not healed'}, "
                                f"now {summary.heal_file_mode_after}"),
        ("incident at Central Command", f"{summary.incident_at_server or 'missing'} "
                                        f"(tier {summary.incident_resolution_tier or '-'}), "
                                        f"rescan clean: {summary.rescan_clean}"),
        ("L2 plan naming a server runbook", summary.l2_dry_run or "none"),
        ("server healing order (incident id only)",
         f"{summary.server_order_result or 'not completed'}, now "
         f"{summary.server_order_file_mode_after or '-'}"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k:<{width}}  {v}" for k, v in rows)


def main(*, keep: bool = False, as_json: bool = False, verbose: bool = False,
         out: TextIO = sys.stdout, run: Callable[..., Any] | None = None) -> int:
    from agent.log import configure
    from agent.runtime.loop import run as run_loop

    configure("INFO" if verbose else "CRITICAL", "text")
    tmp = Path(tempfile.mkdtemp(prefix="msp-agent-demo-"))
    progress = sys.stderr if as_json else out
    demo = Demo(progress, tmp)
    try:
        summary, _ = run_loop(demo.run)
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
    if as_json:
        out.write(json.dumps(summary.__dict__, indent=2) + "\n")
    else:
        out.write("\nsummary\n" + render(summary) + "\n")
        out.write(f"  state directory kept at {tmp}\n" if keep else "")
    ok = (summary.checkins_ok >= 3 and summary.order_signatures_valid == summary.orders_received
          and summary.orders_completed == summary.orders_received == len(DEMO_ORDERS)
          and summary.rekeys == 1 and summary.api_key_persisted
          and summary.evidence_verify == "valid" and not summary.log_phi_leaked
          and summary.heal_result == "healed" and summary.incident_at_server == "resolved"
          and summary.rescan_clean and summary.server_order_result.startswith("success")
          and summary.server_order_file_mode_after == "0o644"
          and f"{SERVER_RUNBOOK} -> " in summary.l2_dry_run)
    return 0 if ok else 1


# --- demo --from-blank: a blank appliance enrolls itself, then checks in ----------------------

BLANK_SITE = "blank-clinic"


async def _from_blank(say: Callable[[str], None], tmp: Path) -> dict[str, Any]:
    """Installer image → claim-v2 (after one 503, retried with backoff) → verified config →
    first checkin, all against the local Central Command."""
    import asyncio
    import contextlib

    from agent.backoff import Backoff
    from agent.checkin.sysinfo import interface_macs
    from agent.provision import Facts, Installer, Options, Provisioner, provision, status_line

    result: dict[str, Any] = {"provisioned": "", "config_mode": "", "status_while_waiting": "",
                              "checkin_ok": False, "sigauth": "", "appliance_id": ""}
    async with contextlib.AsyncExitStack() as stack:
        cc = CentralCommand(tmp / "central.db")
        stack.callback(cc.close)
        await cc.start()
        stack.push_async_callback(cc.stop)
        state = StateDir(tmp / "state")
        stack.callback(state.close)
        # The ISO build pipeline: one CA per release, registered with Central Command.
        image = tmp / "installer"
        release = cc.provisioning.build_installer_image(
            image, site_id=BLANK_SITE, api_endpoint=cc.url, server_public_key=cc.server_public_key)
        say(f"local Central Command on {cc.url}; ISO release {release.sha[:12]}… registered with CA "
            f"{release.ca_public_hex[:16]}…")
        say(f"installer image at {image}: claim.cert, claim-ca.pub, central-command.pub "
            f"(pinned server key {cc.server_public_key[:16]}…), provision.yaml; no config.yaml")
        cc.inject_fault("/api/provision/claim-v2", status=503, body=b'{"detail":"starting"}')
        config_path = tmp / "config.yaml"
        macs = interface_macs()
        facts = Facts(macs[0][1] if macs else "00:00:00:00:00:00")

        def prepare(prov: Provisioner) -> None:
            prov.backoff = Backoff(0.05, 0.2)

            async def sleep(delay: float) -> None:
                result["status_while_waiting"] = status_line(state.path) or ""
                say(f"   status: {result['status_while_waiting']}")
                await asyncio.sleep(delay)

            prov.sleep = sleep

        done = await provision(Options(config_path, state.path, Installer.at(image)), facts=facts,
                               prepare=prepare)
        result["provisioned"] = done.method
        result["appliance_id"] = done.appliance_id
        result["config_mode"] = oct(config_path.stat().st_mode & 0o777)
        say(f"provisioned by {done.method}: {done.appliance_id}; config.yaml written "
            f"({result['config_mode']}), claim events at the server: "
            f"{len(cc.provisioning.claim_events())}")
        say(f"   {status_line(state.path)}")
        state.open()
        keys = load_or_create(state.path)
        phi.configure(site_key=keys.phi_hash_key)
        cfg = load_config(config_path, environ={}).config
        w = wiring.build(cfg, config_path, keys, wiring.Options(
            appliance_params={"perm_files": [], "sshd_config": str(tmp / "absent")}))
        stack.push_async_callback(w.close)
        ok = await w.checkin.run_once()
        seen = cc.checkins(BLANK_SITE)
        result["checkin_ok"] = ok
        result["sigauth"] = seen[-1]["sigauth"] if seen else ""
        say(f"first checkin: {'ok' if ok else 'failed'}; server: request signature "
            f"{result['sigauth']} (the identity key was registered by the claim)")
    return result


def main_from_blank(*, keep: bool = False, as_json: bool = False, verbose: bool = False,
                    out: TextIO = sys.stdout) -> int:
    """``demo --from-blank``: exit 0 iff the blank appliance provisioned itself and checked in."""
    from agent.log import configure
    from agent.runtime.loop import run as run_loop

    configure("INFO" if verbose else "CRITICAL", "text")
    tmp = Path(tempfile.mkdtemp(prefix="msp-agent-blank-"))
    progress = sys.stderr if as_json else out
    started = time.monotonic()

    def say(text: str) -> None:
        progress.write(f"[{time.monotonic() - started:5.2f}s] {text}\n")
        progress.flush()

    try:
        result, _ = run_loop(lambda: _from_blank(say, tmp))
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
    if as_json:
        out.write(json.dumps(result, indent=2) + "\n")
    else:
        out.write("\nsummary\n" + "\n".join(f"  {k:<22} {v}" for k, v in result.items()) + "\n")
    ok = (result["provisioned"] == "claim_v2" and result["config_mode"] == "0o600"
          and result["checkin_ok"] and result["sigauth"] == "ok"
          and result["status_while_waiting"].startswith("provisioning: waiting for"))
    return 0 if ok else 1
