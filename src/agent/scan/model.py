"""Findings, host results, incident aggregation and the incident data map (healing.md §2.1–2.3, §2.6)."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from agent.phi.egress import is_secret_key
from agent.rules.values import go_text
from agent.scan.catalog import CATALOG

SEVERITY_RANK: Final = {"low": 0, "medium": 1, "high": 2, "critical": 3}
CHECK_PREFIX: Final = "MSP_CHECK "
END_PREFIX: Final = "MSP_SCAN_END "
_EXTRA_SECRET_KEYS: Final = frozenset({"username", "user_name", "login"})
DIAG_CAP: Final = 50


def is_forbidden_key(key: str) -> bool:
    """Keys the data-map builder drops (§2.3): secret-classified, usernames, ``sudo_*``."""
    k = key.lower()
    return is_secret_key(key) or k in _EXTRA_SECRET_KEYS or k.startswith("sudo_")


def _clean(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items() if not is_forbidden_key(str(k))}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class Finding:
    host: str
    check_type: str
    severity: str
    hipaa_control: str
    expected: str
    actual: str
    details: Mapping[str, Any]
    platform: str
    source: str
    label: str = ""
    discriminator: str = ""
    observed_at: float = field(default_factory=time.time)


def catalog_finding(
    host: str,
    check_type: str,
    expected: str,
    actual: str,
    details: Mapping[str, Any],
    *,
    platform: str,
    source: str,
    label: str,
    now: float,
    severity: str = "",
    hipaa: str = "",
    discriminator: str = "",
) -> Finding:
    """A finding whose severity and HIPAA control default to the check catalogue's (§2.5)."""
    spec = CATALOG.spec(check_type)
    if spec is None:
        raise ValueError(f"unknown check type {check_type!r}")
    return Finding(
        host,
        check_type,
        severity or spec.severity,
        hipaa or spec.hipaa,
        expected,
        actual,
        details,
        platform,
        source,
        label=label,
        discriminator=discriminator,
        observed_at=now,
    )


@dataclass
class HostResult:
    """One host's scan (§6.4–6.6). ``status``: complete | partial | failed."""

    host: str
    platform: str
    status: str = "failed"
    checks: dict[str, str] = field(default_factory=dict)  # check id -> pass | drift | unknown
    findings: list[Finding] = field(default_factory=list)
    error_kind: str = ""
    diagnostics: list[str] = field(default_factory=list)
    started_at: float = 0.0
    finished_at: float = 0.0


@dataclass
class Incident:
    incident_id: str
    host: str
    check_type: str
    severity: str
    hipaa_control: str
    expected: str
    actual: str
    details: dict[str, Any]
    platform: str
    source: str
    label: str
    discriminators: tuple[str, ...]
    observed_at: float

    def data_map(self) -> dict[str, Any]:
        """The L1 matching contract (§2.3). Hostnames are unscrubbed; credentials never appear."""
        details = _clean(self.details)
        data: dict[str, Any] = {
            "check_type": self.check_type,
            "incident_type": self.check_type,
            "drift_detected": True,
            "status": "fail",
            "hostname": self.host,
            "host_id": self.host,
            "agent_id": self.source,
            "source": self.source,
            "platform": self.platform,
            "label": self.label,
            "severity": self.severity,
            "expected": self.expected,
            "actual": self.actual,
            "hipaa_control": self.hipaa_control,
            "details": details,
        }
        for k, v in details.items():
            if k not in data:
                data[k] = go_text(v)
        return data


def new_incident_id() -> str:
    return "drift-" + secrets.token_hex(16)


def aggregate(findings: Iterable[Finding]) -> list[Incident]:
    """Merge the findings of one host scan per ``check_type`` (§2.2)."""
    groups: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        groups.setdefault((f.host, f.check_type), []).append(f)
    out = []
    for (host, ct), group in groups.items():
        group.sort(key=lambda f: f.discriminator)
        first = group[0]
        sev = max((f.severity for f in group), key=lambda s: SEVERITY_RANK.get(s, 0))
        if len(group) == 1:
            details = dict(first.details)
            actual = first.actual
        else:
            details = dict(first.details)
            details["items"] = [{"discriminator": f.discriminator, **dict(f.details)} for f in group]
            actual = "; ".join(f.actual for f in group)
        top = max(group, key=lambda f: SEVERITY_RANK.get(f.severity, 0))
        out.append(
            Incident(
                incident_id=new_incident_id(),
                host=host,
                check_type=ct,
                severity=sev,
                hipaa_control=top.hipaa_control,
                expected=first.expected,
                actual=actual,
                details=details,
                platform=first.platform,
                source=first.source,
                label=first.label,
                discriminators=tuple(sorted({f.discriminator for f in group if f.discriminator})),
                observed_at=max(f.observed_at for f in group),
            )
        )
    return out


class RecordParser:
    """Strict parser of the scanner output protocol (§6.5). Feed lines as they stream."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.ended = False
        self.declared: int | None = None
        self.diagnostics: list[str] = []
        self.invalid = 0

    def feed(self, line: str) -> tuple[str, dict[str, Any]] | None:
        line = line.rstrip("\r")
        if line.startswith(CHECK_PREFIX):
            try:
                obj = json.loads(line[len(CHECK_PREFIX) :])
            except ValueError:
                self.invalid += 1
                return None
            if not (
                isinstance(obj, dict) and isinstance(obj.get("id"), str) and isinstance(obj.get("data"), dict)
            ):
                self.invalid += 1
                return None
            self.records[obj["id"]] = obj["data"]
            return obj["id"], obj["data"]
        if line.startswith(END_PREFIX):
            try:
                obj = json.loads(line[len(END_PREFIX) :])
                n = obj.get("checks") if isinstance(obj, dict) else None
                self.declared = n if isinstance(n, int) and not isinstance(n, bool) else None
                self.ended = self.declared is not None
            except ValueError:
                self.invalid += 1
            return None
        if line and len(self.diagnostics) < DIAG_CAP:
            self.diagnostics.append(line[:200])
        return None


def as_list(value: Any) -> list[str] | None:
    """List-valued fields accept a bare string, a list or null (§6.5); None = wrong type."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v for v in value if v]
    return None
