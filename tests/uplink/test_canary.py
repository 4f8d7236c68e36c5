"""The PHI-and-secret canary: synthetic PHI, the API key and a target password are planted in every
input the agent reads, every sender runs against the local Central Command over TLS, and none of
them reaches any request (captured as it arrived, before parsing; only ``Authorization`` may hold
the API key) nor any row the agent's requests created."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tests.checkin.conftest import SITE, Env

from agent.central.faults import CapturedRequest
from agent.checkin import sysinfo
from agent.evidence.bundle import CheckResult, ScanResult
from agent.log import register_secret
from agent.logship.source import FileSource
from agent.protocol.incidents import IncidentReport
from agent.protocol.l2 import L2PlanRequest
from agent.protocol.telemetry import Execution, ExecutionReport
from agent.scan.threats import SecEvent
from agent.timefmt import format_rfc3339
from agent.uplink import routes
from agent.wiring import Options

TARGET_PASSWORD = "Tgt-Pw-7c1e9a"
HOST = "PATIENT-ROOM-201"
PHI_VALUES = ("Jane Doe", "123-45-6789", "00123456", "jane.doe@example.com", "(570) 555-0142",
              "1980-02-01", HOST)


def phi_text(api_key: str) -> str:
    return (f"patient Jane Doe DOB 1980-02-01 SSN 123-45-6789 MRN: 00123456 on {HOST} "
            f"mail jane.doe@example.com phone (570) 555-0142 password used {TARGET_PASSWORD} "
            f"with key {api_key}")


def canaries(api_key: str) -> tuple[str, ...]:
    return (*PHI_VALUES, TARGET_PASSWORD, api_key)


def leaks(text: str, api_key: str) -> list[str]:
    return [c for c in canaries(api_key) if c in text]


def db_text(path: Path, skip: tuple[str, ...] = ()) -> str:
    """Every row of every table of the local Central Command's database, as text."""
    con = sqlite3.connect(path)
    try:
        out = []
        for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            if table in skip:
                continue
            for row in con.execute(f"SELECT * FROM {table}"):
                out.append(f"{table}: {row!r}")
        return "\n".join(out)
    finally:
        con.close()


@pytest.fixture
def planted_hostname(monkeypatch: pytest.MonkeyPatch) -> None:
    real = sysinfo.collect

    def collect(state_dir: Path, previous: sysinfo.SystemFacts | None = None) -> sysinfo.SystemFacts:
        return replace(real(state_dir, previous), hostname=HOST)

    monkeypatch.setattr(sysinfo, "collect", collect)


async def test_nothing_planted_reaches_central_command(env: Env, tmp_path: Path,
                                                       planted_hostname: None) -> None:
    captured: list[CapturedRequest] = env.cc.capture_requests()
    api_key = env.api_key
    text = phi_text(api_key)
    register_secret(TARGET_PASSWORD)  # as the checkin does for every target credential
    journal = tmp_path / "journal.json"
    journal.touch()
    w = env.wired(Options(own_mac="", log_source=FileSource(journal)))
    comp = w.checkin
    uplink = w.uplink
    now = time.time()
    try:
        # checkin (the hostname is the PHI-bearing one) and rekey
        assert await comp.run_once()
        await comp.rekey(await _facts(comp))

        # order completion: a result and an error message that carry everything
        orders = w.orders
        await orders._post("ORD-canary", {"success": False, "result": {"output": text},
                                          "error_message": text})

        # incidents and execution telemetry, through their durable queues
        reports = w.reports
        reports.queues.enqueue_incident(IncidentReport(
            site_id=SITE, host_id=HOST, incident_type="linux_firewall", severity="high",
            check_type="linux_firewall", details={"output": text, "password": TARGET_PASSWORD}))
        reports.queues.enqueue_execution(ExecutionReport(
            site_id=SITE, reported_at=format_rfc3339(), execution=Execution(
                execution_id="exe-1", incident_id="inc-1", runbook_id="LIN-FW-001", hostname=HOST,
                incident_type="linux_firewall", duration_seconds=1.0, success=False,
                status="failure", confidence=1.0, resolution_level="L1", error_message=text)))
        reports.after_checkin()
        await reports.run_once()
        assert reports.queues.reports.queue.pending() == 0
        assert reports.queues.telemetry.queue.pending() == 0

        # evidence: a scan result whose host name and observed state carry PHI
        evidence = w.evidence
        await evidence.record_scan_async(ScanResult(
            scan_type="linux", checked_at=format_rfc3339(time.time() - 60), hosts=[HOST],
            results=[CheckResult("linux_firewall", HOST, "fail", expected="enabled",
                                 actual=text)]))
        evidence.trigger(force=True)
        await evidence.run_once()
        await evidence.settle()
        assert evidence.store.pending() == 0

        # journald lines
        entries = [{"__REALTIME_TIMESTAMP": str(int(now * 1e6) + i), "_SYSTEMD_UNIT": "ehr.service",
                    "PRIORITY": "6", "MESSAGE": f"line {i}: {text}", "__CURSOR": f"c{i}"}
                   for i in range(3)]
        journal.write_text("\n".join(json.dumps(e) for e in entries) + "\n")
        logship = w.logship
        assert await logship.run_once() == 3

        # Windows security events
        archive = w.scan.security_archive
        archive.enqueue(HOST, [SecEvent(4625, 1, int(now), "10.0.0.5", text)])
        await archive.drain(uplink.poster(routes.SECURITY_EVENTS), force=True)
        assert archive.pending() == 0

        # L2 context built by nobody who scrubbed it: the Uplink still does
        await uplink.send(routes.L2_PLAN, L2PlanRequest(
            incident_id="inc-1", site_id=SITE, host_id=HOST, incident_type="linux_firewall",
            raw_data={"output": text, "sudo_password": TARGET_PASSWORD}))
        # an incident handed straight to the Uplink, unscrubbed
        await uplink.send(routes.INCIDENTS, IncidentReport(
            site_id=SITE, host_id=HOST, incident_type="linux_firewall", severity="high",
            details={"output": text}))
    finally:
        await w.close()

    sent = {c.path_qs.split("?")[0] for c in captured}
    for path in ("/api/appliances/checkin", "/api/provision/rekey", "/api/orders/ORD-canary/complete",
                 "/incidents", "/api/agent/executions", "/api/logs/ingest",
                 "/api/security-events/archive", "/api/agent/l2/plan"):
        assert path in sent, (path, sorted(sent))
    assert any(p.startswith("/api/evidence/sites/") for p in sent)
    new_key = comp.credentials.api_key  # the rekey replaced the first one
    assert new_key != api_key
    for req in captured:
        assert leaks(req.text(), api_key) == [], (req.method, req.path_qs)
        assert new_key not in req.text(), (req.method, req.path_qs)
        auth = [v for k, v in req.headers if k.lower() == "authorization"]
        assert all(v in (f"Bearer {api_key}", f"Bearer {new_key}") for v in auth)
    # The canary was really there to find: the redaction tokens reached the server instead.
    bodies = "\n".join(c.body.decode("utf-8", "replace") for c in captured)
    for token in ("[SSN-REDACTED-", "[MRN-REDACTED-", "[EMAIL-REDACTED-", "[HOSTNAME-REDACTED-",
                  "[SECRET-REDACTED]"):
        assert token in bodies, token
    # Rows: no PHI, no target password anywhere; the API keys only where the server keeps its keys.
    assert leaks(db_text(env.tmp / "central.db"), "no-api-key-here") == []
    rows = db_text(env.tmp / "central.db", skip=("api_keys",))
    assert api_key not in rows and new_key not in rows


async def _facts(comp: Any) -> sysinfo.SystemFacts:
    return sysinfo.collect(comp.state_dir)
