"""Scan → evidence hand-off (healing.md §6.6, evidence.md §2): every complete or partial host result
becomes a chained, signed evidence bundle with per-check statuses (``unknown`` → ``error``), disabled
checks left out, hosts that were not scanned not claimed compliant; wired by the runtime."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from agent.config import load_config
from agent.evidence.bundle import NOT_EVALUATED, NOT_REPORTED, ZERO_HASH, scan_result_from_host
from agent.evidence.component import EvidenceComponent
from agent.evidence.verify import load_dir, verify_chain
from agent.exec import Target, Transport
from agent.exec.types import ErrorKind, ExecError, ExecRequest, ExecResult, Stage
from agent.scan.model import Finding, HostResult
from agent.state import load_or_create
from agent.wiring import Options, build

PASS_NTP = 'MSP_CHECK {"id":"linux_ntp_sync","data":{"synchronized":"yes"}}'
DRIFT_SSH = (
    'MSP_CHECK {"id":"linux_ssh_config","data":{"readable":true,"root_login":"yes","password_auth":"no"}}'
)
BAD_KERNEL = 'MSP_CHECK {"id":"linux_kernel_params","data":{"ip_forward":null}}'  # unparseable: unknown
DISABLED = frozenset({"linux_cron_review", "linux_backup_status"})


class ScriptedExecutor:
    """Stands in for the appliance's local executor: streams fixed scanner records."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.error: ExecError | None = None

    async def run(self, target: Target, credential: Any, request: ExecRequest) -> ExecResult:
        for line in self.lines:
            assert request.on_line is not None
            request.on_line(line, False)
        return ExecResult(
            Transport.LOCAL, target.host, None, exit_code=None if self.error else 0, error=self.error
        )

    async def close(self) -> None:
        pass


class Wired:
    def __init__(self, tmp_path: Path) -> None:
        state = tmp_path / "state"
        state.mkdir(mode=0o700)
        cfg_path = tmp_path / "config.yaml"
        cfg_path.write_text(
            f"site_id: clinic-ev\napi_key: {'k' * 40}\napi_endpoint: http://127.0.0.1:9\n"
            f"state_dir: {state}\npoll_interval: 60\nhealing_dry_run: true\n"
            "enable_evidence_upload: false\n"
        )
        config = load_config(cfg_path, environ={}).config
        self.executor = ScriptedExecutor()
        # The daemon's wiring (the composition root), with the appliance's executor scripted.
        self.agent = build(config, cfg_path, load_or_create(state),
                           Options(local_executor=self.executor, own_mac=""))
        self.state = state
        self.healing = self.agent.scan  # the scan counts its host results ("scans")
        self.evidence = self.agent.evidence
        assert isinstance(self.evidence, EvidenceComponent)
        self.agent.site.directives.disabled_checks = DISABLED

    async def scan(self) -> None:
        h = self.agent.scan
        h.scheduler.set_targets([(Target.local(), None)])
        h.scheduler.force()
        await h.scheduler.run_round()
        await self.evidence.settle()

    def bundles(self) -> list[dict[str, Any]]:
        records, _, _ = load_dir(self.state / "evidence_cache")
        return sorted((json.loads(r.signed_data) for r in records), key=lambda b: b["chain_seq"])

    def verify(self) -> Any:
        records, _, _ = load_dir(self.state / "evidence_cache")
        _, journal, _ = load_dir(self.state / "evidence_chain")
        return verify_chain(records, journal=journal)

    async def close(self) -> None:
        await self.agent.close()


@pytest.fixture
async def wired(tmp_path: Path) -> Any:
    w = Wired(tmp_path)
    yield w
    await w.close()


async def test_partial_scan_becomes_a_chained_bundle(wired: Wired, monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[bool] = []
    real = wired.evidence.store.record_scan

    def spy(scan: Any) -> Any:
        threads.append(threading.current_thread() is threading.main_thread())
        return real(scan)

    monkeypatch.setattr(wired.evidence.store, "record_scan", spy)
    wired.executor.lines = [PASS_NTP, DRIFT_SSH, BAD_KERNEL]  # no MSP_SCAN_END: a partial result
    await wired.scan()
    assert threads == [False]  # the durable writes ran off the event loop's thread
    [b] = wired.bundles()
    assert (b["scan_type"], b["chain_seq"], b["prev_bundle_hash"]) == ("linux", 1, ZERO_HASH)
    checks = {c["check"]: c for c in b["checks"]}
    assert len(b["checks"]) == 14 and not DISABLED & set(checks)  # 15 Linux types minus disabled
    assert checks["linux_ntp_sync"]["status"] == "pass"
    ssh = checks["linux_ssh_config"]
    assert ssh["status"] == "fail" and ssh["hipaa_control"] == "164.312(a)(2)(i)"
    assert ssh["expected"] == "PermitRootLogin not yes, PasswordAuthentication no"
    assert ssh["actual"] == "PermitRootLogin yes, PasswordAuthentication no"
    assert checks["linux_kernel_params"] == {
        "check": "linux_kernel_params",
        "hostname": "localhost",
        "status": "error",
        "actual": NOT_REPORTED,
    }
    assert checks["linux_firewall"]["status"] == "error"  # did not report before the end: not a pass
    assert b["summary"] == {
        "total_checks": 14,
        "compliant": 1,
        "non_compliant": 1,
        "errors": 12,
        "scanned_hosts": 1,
        "scan_method": "deterministic",
        "confidence": 1,
    }

    # The next scan (everything reported, zero findings) extends the chain.
    wired.executor.lines = [
        PASS_NTP,
        'MSP_CHECK {"id":"linux_ssh_config","data":{"readable":true,"root_login":"no","password_auth":"no"}}',
        'MSP_SCAN_END {"checks":2}',
    ]
    await wired.scan()
    first, second = wired.bundles()
    assert second["chain_seq"] == 2 and second["prev_bundle_hash"] != first["prev_bundle_hash"]
    assert wired.verify().valid and wired.verify().head_seq == 2
    statuses = {c["check"]: c["status"] for c in second["checks"]}
    assert statuses["linux_ssh_config"] == "pass" and statuses["linux_ntp_sync"] == "pass"
    assert statuses["linux_firewall"] == "error"  # never evaluated: still not claimed compliant


async def test_a_host_that_was_not_scanned_makes_no_evidence(wired: Wired) -> None:
    wired.executor.error = ExecError(ErrorKind.UNREACHABLE, Stage.CONNECT, "unreachable")
    await wired.scan()
    assert wired.healing.stats["scans"] == 1
    assert wired.bundles() == []
    assert wired.evidence.store.head_seq == 0


def _host(
    platform: str, checks: dict[str, str], findings: list[Finding] | None = None, status: str = "complete"
) -> HostResult:
    return HostResult("h1", platform, status, checks, findings or [], finished_at=1_795_454_361.9)


def test_mapping_per_platform() -> None:
    win = scan_result_from_host(
        _host(
            "windows",
            {"firewall_status": "drift", "rdp_nla": "pass", "wmi_event_persistence": "pass"},
            [
                Finding(
                    "h1",
                    "firewall_status",
                    "high",
                    "164.312(a)(1)",
                    "enabled",
                    "Domain: off",
                    {},
                    "windows",
                    "driftscan",
                    discriminator="Domain",
                ),
                Finding(
                    "h1",
                    "firewall_status",
                    "high",
                    "164.312(a)(1)",
                    "enabled",
                    "Public: off",
                    {},
                    "windows",
                    "driftscan",
                    discriminator="Public",
                ),
            ],
        )
    )
    assert win is not None and win.scan_type == "windows" and list(win.hosts) == ["h1"]
    by = {r.check: r for r in win.results}
    assert set(by) == {"firewall_status", "rdp_nla"}  # not an evidence check type: left out
    assert by["firewall_status"].actual == "Domain: off; Public: off"
    assert by["firewall_status"].status == "fail" and by["rdp_nla"].status == "pass"
    assert win.checked_at.isoformat() == "2026-11-23T17:19:21.900000+00:00"  # type: ignore[union-attr]

    net = scan_result_from_host(
        _host("network", {"net_dns_resolution": "unknown", "net_host_reachability": "pass"}, status="partial")
    )
    assert net is not None and net.scan_type == "network"
    assert {r.check: r.status for r in net.results} == {
        "net_dns_resolution": "error",
        "net_host_reachability": "pass",
    }

    assert scan_result_from_host(_host("macos", {"macos_sip": "pass"})) is None  # no evidence type
    assert scan_result_from_host(_host("linux", {}, status="failed")) is None
    disabled = scan_result_from_host(
        _host("linux", {"linux_firewall": "pass", "linux_ntp_sync": "pass"}), frozenset({"linux_firewall"})
    )
    assert disabled is not None and [r.check for r in disabled.results] == ["linux_ntp_sync"]
    assert disabled.disabled_checks == frozenset({"linux_firewall"})
    assert NOT_EVALUATED != NOT_REPORTED
