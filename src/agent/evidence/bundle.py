"""Evidence bundles (evidence.md §1-§2): typed scan results in, signed canonical bytes out.

The scanner describes one scan run with a :class:`ScanResult` (scan type, completion time, hosts in
scan order, one :class:`CheckResult` per host and check type it evaluated).
:func:`matrix` turns it into the full *hosts × check types* matrix of the scan type (check types in
``disabled_checks`` are left out; a missing result is an ``error`` — the Go daemon reported those
as ``pass``); :func:`build` signs one bundle. Strings are PHI-scrubbed (``egress``) before they are
signed. ``signed_data`` is produced once and travels verbatim in the POST body.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from agent.crypto import Ed25519Key
from agent.phi.egress import egress
from agent.protocol.evidence import (
    EvidenceCheck,
    EvidenceSubmit,
    EvidenceSummary,
    encode_evidence_submit,
)
from agent.timefmt import format_rfc3339, parse_rfc3339

if TYPE_CHECKING:
    from agent.scan.model import HostResult

FORMAT = "msp-evidence/1"
ZERO_HASH = "0" * 64
MAX_BODY_BYTES = 4 * 1024 * 1024
ScanType = Literal["windows", "linux", "network"]
Status = Literal["pass", "fail", "error"]

CHECK_TYPES: dict[str, tuple[str, ...]] = {
    "windows": ("firewall_status", "windows_defender", "windows_update", "audit_logging",
                "rogue_admin_users", "rogue_scheduled_tasks", "agent_status", "bitlocker_status",
                "smb_signing", "smb1_protocol", "screen_lock_policy", "defender_exclusions",
                "dns_config", "network_profile", "password_policy", "rdp_nla", "guest_account",
                "service_dns", "service_netlogon"),
    "linux": ("linux_firewall", "linux_ssh_config", "linux_failed_services", "linux_disk_space",
              "linux_suid_binaries", "linux_audit_logging", "linux_ntp_sync",
              "linux_kernel_params", "linux_open_ports", "linux_user_accounts",
              "linux_file_permissions", "linux_unattended_upgrades", "linux_log_forwarding",
              "linux_cron_review", "linux_cert_expiry"),
    "network": ("net_unexpected_ports", "net_expected_service", "net_host_reachability",
                "net_dns_resolution"),
}
CHAINED = frozenset({"windows", "linux"})
NOT_EVALUATED = "check not evaluated in this scan"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One check of one host, as the scanner found it (evidence.md §2.2)."""

    check: str
    hostname: str
    status: Status
    expected: str | None = None  # for ``fail``
    actual: str | None = None  # observed state (``fail``) or the error summary (``error``)
    hipaa_control: str | None = None


@dataclass(frozen=True, slots=True)
class ScanResult:
    """One scan run of one scan type: what the scanner hands to :meth:`EvidenceStore.record_scan`."""

    scan_type: ScanType
    checked_at: datetime | str  # scan completion time (UTC)
    hosts: Sequence[str]  # scanned hosts, in scan order
    results: Sequence[CheckResult]
    disabled_checks: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class Bundle:
    """A signed bundle: the exact POST body and the values the chain and journal need."""

    bundle_id: str
    scan_type: str
    checked_at: str
    chain_seq: int | None
    prev_bundle_hash: str | None
    signed_data: str
    bundle_hash: str
    agent_signature: str
    public_key: str
    body: bytes  # the POST body (evidence.md §4.1); also the spool file's content

    @property
    def chained(self) -> bool:
        return self.chain_seq is not None


def canonical(obj: Any) -> str:
    """evidence.md §2.4: sorted keys, no whitespace, ASCII with \\uXXXX escapes, no NaN."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False)


def bundle_hash(signed_data: str) -> str:
    return hashlib.sha256(signed_data.encode("ascii")).hexdigest()


def uuid7(now_ms: int | None = None) -> str:
    """A version-7 UUID (time-ordered), lower-case canonical form."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def format_time(t: datetime | str) -> str:
    """``checked_at`` of a bundle: ``YYYY-MM-DDTHH:MM:SSZ``; ValueError for a string in any
    other form."""
    if isinstance(t, str):
        if format_rfc3339(parse_rfc3339(t)) != t:
            raise ValueError("checked_at is not YYYY-MM-DDTHH:MM:SSZ")
        return t
    return format_rfc3339(t)


def _entry(r: CheckResult) -> dict[str, Any]:
    e: dict[str, Any] = {"check": r.check, "hostname": r.hostname, "status": r.status}
    if r.status == "fail" and r.expected is not None:
        e["expected"] = r.expected
    if r.status in ("fail", "error") and r.actual is not None:
        e["actual"] = r.actual
    if r.hipaa_control:
        e["hipaa_control"] = r.hipaa_control
    return e


def matrix(scan: ScanResult) -> list[list[dict[str, Any]]]:
    """Per host (scan order): the check entries in the scan type's order, PHI-scrubbed."""
    if scan.scan_type not in CHECK_TYPES:
        raise ValueError(f"unknown scan type {scan.scan_type!r}")
    kinds = [c for c in CHECK_TYPES[scan.scan_type] if c not in scan.disabled_checks]
    known = set(CHECK_TYPES[scan.scan_type])
    found: dict[tuple[str, str], CheckResult] = {}
    for r in scan.results:
        if r.check not in known:
            raise ValueError(f"check {r.check!r} is not a {scan.scan_type} check type")
        if r.status not in ("pass", "fail", "error"):
            raise ValueError(f"invalid status {r.status!r}")
        found[(r.hostname, r.check)] = r
    hosts = list(dict.fromkeys(scan.hosts))
    per_host: list[list[dict[str, Any]]] = []
    for host in hosts:
        entries = [_entry(found.get((host, c)) or CheckResult(c, host, "error",
                                                               actual=NOT_EVALUATED))
                   for c in kinds]
        per_host.append(entries)
    scrubbed: list[list[dict[str, Any]]] = egress(per_host, kind="evidence")
    return scrubbed


def summary(checks: Sequence[dict[str, Any]]) -> dict[str, Any]:
    errors = sum(1 for c in checks if c["status"] == "error")
    s: dict[str, Any] = {
        "total_checks": len(checks),
        "compliant": sum(1 for c in checks if c["status"] == "pass"),
        "non_compliant": sum(1 for c in checks if c["status"] == "fail"),
        "scanned_hosts": len({c["hostname"] for c in checks}),
        "scan_method": "deterministic",
        "confidence": 1,
    }
    if errors:
        s["errors"] = errors
    return s


def signed_object(*, bundle_id: str, scan_type: str, site_id: str, checked_at: str,
                  checks: list[dict[str, Any]], chain_seq: int | None = None,
                  prev_bundle_hash: str | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = {"format": FORMAT, "bundle_id": bundle_id, "scan_type": scan_type,
                           "site_id": site_id, "checked_at": checked_at, "checks": checks,
                           "summary": summary(checks)}
    if scan_type in CHAINED:
        if chain_seq is None or prev_bundle_hash is None:
            raise ValueError("a chained bundle needs chain_seq and prev_bundle_hash")
        obj["chain_seq"] = chain_seq
        obj["prev_bundle_hash"] = prev_bundle_hash
    return obj


def sign(obj: dict[str, Any], key: Ed25519Key) -> Bundle:
    """Serialize once, sign, hash, and build the POST body around the verbatim bytes."""
    data = canonical(obj)
    raw = data.encode("ascii")
    sig = key.sign(raw).hex()
    digest = hashlib.sha256(raw).hexdigest()
    body = EvidenceSubmit(
        site_id=obj["site_id"], bundle_id=obj["bundle_id"], checked_at=obj["checked_at"],
        checks=[EvidenceCheck(**c) for c in obj["checks"]],
        summary=EvidenceSummary(**obj["summary"]), bundle_hash=digest, agent_signature=sig,
        agent_public_key=key.public_hex, signed_data=data)
    return Bundle(bundle_id=obj["bundle_id"], scan_type=obj["scan_type"],
                  checked_at=obj["checked_at"], chain_seq=obj.get("chain_seq"),
                  prev_bundle_hash=obj.get("prev_bundle_hash"), signed_data=data,
                  bundle_hash=digest, agent_signature=sig, public_key=key.public_hex,
                  body=encode_evidence_submit(body))


def split_hosts(per_host: Sequence[list[dict[str, Any]]],
                limit: int = MAX_BODY_BYTES) -> list[list[dict[str, Any]]]:
    """Group hosts (in order) so that each bundle's body stays under ``limit`` bytes. The body
    holds the checks twice (copy and ``signed_data``, the latter escaped), so each host is costed
    at twice its escaped size plus margin for the fixed fields."""
    groups: list[list[dict[str, Any]]] = []
    cur: list[dict[str, Any]] = []
    size = 4096
    for entries in per_host:
        cost = 2 * len(canonical(entries).replace('"', '\\"')) + 16
        if cur and size + cost > limit:
            groups.append(cur)
            cur, size = [], 4096
        cur.extend(entries)
        size += cost
    if cur or not groups:
        groups.append(cur)
    return groups


def witness_signature(key: Ed25519Key, peer_bundle_hash: str) -> str:
    """evidence.md §8: sign the 64 ASCII bytes of the hex hash string (not the raw 32 bytes)."""
    return key.sign(peer_bundle_hash.encode("ascii")).hex()


def iter_checks(per_host: Iterable[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [c for entries in per_host for c in entries]


NOT_REPORTED = "check did not report before the scan ended"
_SCAN_TYPE: dict[str, ScanType] = {"windows": "windows", "linux": "linux", "network": "network"}


def scan_result_from_host(res: HostResult, disabled_checks: frozenset[str] = frozenset(),
                          checked_at: datetime | None = None) -> ScanResult | None:
    """One scanned host's result as evidence (healing.md §6.6): ``pass`` → ``pass``, ``drift`` →
    ``fail`` (expected/actual/HIPAA control from the host's findings of that check), ``unknown`` (no
    record before the deadline or the end of a partial scan) → ``error``. Disabled checks are left
    out. None when there is nothing to claim: the host was not scanned (``failed``), or its platform
    has no evidence scan type (macOS)."""
    scan_type = _SCAN_TYPE.get(res.platform)
    if scan_type is None or res.status not in ("complete", "partial"):
        return None
    known = set(CHECK_TYPES[scan_type])
    findings: dict[str, list[Any]] = {}
    for f in res.findings:
        findings.setdefault(f.check_type, []).append(f)
    results: list[CheckResult] = []
    for check, status in res.checks.items():
        if check not in known or check in disabled_checks:
            continue
        if status == "pass":
            results.append(CheckResult(check, res.host, "pass"))
        elif status == "drift":
            fs = sorted(findings.get(check, []), key=lambda f: f.discriminator)
            results.append(CheckResult(
                check, res.host, "fail", expected=fs[0].expected if fs else None,
                actual="; ".join(f.actual for f in fs if f.actual) or None,
                hipaa_control=next((f.hipaa_control for f in fs if f.hipaa_control), None)))
        else:
            results.append(CheckResult(check, res.host, "error", actual=NOT_REPORTED))
    when = checked_at or (datetime.fromtimestamp(res.finished_at, UTC) if res.finished_at
                          else datetime.now(UTC))
    return ScanResult(scan_type, when, [res.host], results, disabled_checks)
