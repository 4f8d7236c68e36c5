"""Linux checks over SSH (or the local executor for the appliance): one script per scan,
strictly parsed records, evaluated here (healing.md §2.5, §2.6, §6.5)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from agent.exec import ExecRequest, Privilege, Target
from agent.exec.types import Executor
from agent.scan.catalog import CATALOG
from agent.scan.model import Finding, HostResult, RecordParser, as_list

SCRIPT: Final = (Path(__file__).resolve().parent / "scripts" / "linux_scan.sh").read_text("utf-8")
SOURCE: Final = "linuxscan"

Eval = Callable[[Mapping[str, Any]], list[tuple[str, str, dict[str, Any], str, str]] | None]
# -> list of (expected, actual, details, discriminator, severity or "") ; None = unknown


def _perm(data: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any], str, str]] | None:
    items = as_list(data.get("files"))
    if items is None:
        return None
    bad = []
    for item in items:
        path, _, mode = item.rpartition(" ")
        if not path or not mode.isdigit():
            return None
        m = int(mode, 8)
        base = path.rsplit("/", 1)[-1]
        mask = 0o027 if base.startswith(("shadow", "gshadow")) else 0o022
        if m & mask:
            bad.append((path, mode))
    if not bad:
        return []
    return [
        (
            "account databases not group/other writable (shadow not world readable)",
            ", ".join(f"{p} mode {m}" for p, m in bad),
            {"files": [p for p, _ in bad]},
            "",
            "",
        )
    ]


def _config_detail(data: Mapping[str, Any]) -> dict[str, str]:
    cfg = data.get("config")
    return {"config": cfg} if isinstance(cfg, str) and cfg.startswith("/") else {}


def _ssh(data: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any], str, str]] | None:
    if data.get("readable") is not True:
        return None
    rl, pa = data.get("root_login"), data.get("password_auth")
    if not isinstance(rl, str) or not isinstance(pa, str):
        return None
    root = rl or "prohibit-password"
    pw = pa or "yes"
    if root != "yes" and pw != "yes":
        return []
    return [
        (
            "PermitRootLogin not yes, PasswordAuthentication no",
            f"PermitRootLogin {root}, PasswordAuthentication {pw}",
            {"root_login": root, "password_auth": pw, **_config_detail(data)},
            "",
            "",
        )
    ]


def _kernel(data: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any], str, str]] | None:
    want = {"ip_forward": "0", "tcp_syncookies": "1", "accept_redirects": "0"}
    vals = {k: data.get(k) for k in want}
    if any(not isinstance(v, str) or not v.isdigit() for v in vals.values()):
        return None
    bad = {k: v for k, v in vals.items() if v != want[k]}
    if not bad:
        return []
    return [
        (
            "ip_forward=0, tcp_syncookies=1, accept_redirects=0",
            ", ".join(f"{k}={v}" for k, v in sorted(bad.items())),
            {"params": sorted(bad)},
            "",
            "",
        )
    ]


def _ntp(data: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any], str, str]] | None:
    v = data.get("synchronized")
    if v not in ("yes", "no"):
        return None
    return [] if v == "yes" else [("clock synchronised", "not synchronised", {"synchronized": False}, "", "")]


def _failed(data: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any], str, str]] | None:
    if data.get("systemd") is not True:
        return None
    units = as_list(data.get("units"))
    if units is None:
        return None
    return [("no failed units", ", ".join(units), {"units": units}, "", "")] if units else []


def _disk(data: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any], str, str]] | None:
    mounts = as_list(data.get("mounts"))
    if not mounts:
        return None  # no filesystem at all is not "clean"
    out = []
    for m in mounts:
        mount, _, pct = m.rpartition(" ")
        if not mount or not pct.isdigit():
            return None
        if int(pct) > 90:
            sev = "high" if int(pct) > 95 else "medium"
            out.append(
                (
                    "filesystems at most 90% full",
                    f"{mount} {pct}% full",
                    {"mount": mount, "use_percent": int(pct)},
                    mount,
                    sev,
                )
            )
    return out


def _users(data: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any], str, str]] | None:
    users = as_list(data.get("users"))
    if users is None:
        return None
    return (
        [("no interactive human accounts (review)", ", ".join(users), {"users": users}, "", "")]
        if users
        else []
    )


def _ports(data: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any], str, str]] | None:
    if data.get("available") is not True:
        return None
    ports = as_list(data.get("ports"))
    if ports is None or not all(p.isdigit() for p in ports):
        return None
    return (
        [("at most 5 listening TCP ports", f"{len(ports)} ports", {"ports": ports}, "", "")]
        if len(ports) > 5
        else []
    )


def _audit(data: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any], str, str]] | None:
    ad, jp = data.get("auditd"), data.get("journal_persistent")
    if not isinstance(ad, str) or not isinstance(jp, bool):
        return None
    if ad == "active" or jp:
        return []
    if ad == "unknown" or not ad:
        return None
    return [
        (
            "auditd active or persistent journal",
            f"auditd {ad}, journal volatile",
            {"auditd": ad, "journal_persistent": False},
            "",
            "",
        )
    ]


def _firewall(data: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any], str, str]] | None:
    n = data.get("rules")
    if isinstance(n, bool) or not isinstance(n, int):
        return None
    return [] if n > 0 else [("active firewall rules", "no firewall rules", {"backend": "none"}, "", "")]


EVALUATORS: Final[dict[str, Eval]] = {
    "linux_file_permissions": _perm,
    "linux_ssh_config": _ssh,
    "linux_kernel_params": _kernel,
    "linux_ntp_sync": _ntp,
    "linux_failed_services": _failed,
    "linux_disk_space": _disk,
    "linux_user_accounts": _users,
    "linux_open_ports": _ports,
    "linux_audit_logging": _audit,
    "linux_firewall": _firewall,
}


def evaluate_record(
    host: str,
    check_id: str,
    data: Mapping[str, Any],
    *,
    label: str = "linux",
    platform: str = "linux",
    now: float | None = None,
    evaluators: Mapping[str, Eval] | None = None,
    source: str = SOURCE,
) -> tuple[str, list[Finding]]:
    """``(status, findings)`` for one record; status pass | drift | unknown."""
    fn = (EVALUATORS if evaluators is None else evaluators).get(check_id)
    spec = CATALOG.spec(check_id)
    if fn is None or spec is None:
        return "unknown", []
    try:
        raw = fn(data)
    except Exception:  # noqa: BLE001 - malformed data is unknown, never clean
        raw = None
    if raw is None:
        return "unknown", []
    ts = time.time() if now is None else now
    findings = [
        Finding(
            host=host,
            check_type=check_id,
            severity=sev or spec.severity,
            hipaa_control=spec.hipaa,
            expected=exp,
            actual=act,
            details=det,
            platform=platform,
            source=source,
            label=label,
            discriminator=disc,
            observed_at=ts,
        )
        for exp, act, det, disc, sev in raw
    ]
    return ("drift" if findings else "pass"), findings


class LinuxScanner:
    """Runs :data:`SCRIPT` on one host and evaluates records as they stream in."""

    evaluators: Mapping[str, Eval] = EVALUATORS
    source: str = SOURCE
    privilege: Privilege = Privilege.NONE

    def __init__(
        self, executor: Executor, *, script: str = SCRIPT, disabled: Callable[[], frozenset[str]] = frozenset
    ) -> None:
        self.executor = executor
        self.script = script
        self.disabled = disabled

    def applicable(self, target: Target) -> list[str]:
        """The check ids this scan reports for ``target`` (every evaluator here)."""
        return list(self.evaluators)

    def label_of(self, target: Target) -> str:
        return target.label or target.platform

    async def scan(
        self,
        target: Target,
        credential: Any,
        *,
        deadline_s: float,
        params: Mapping[str, str | Sequence[str]] | None = None,
    ) -> HostResult:
        res = HostResult(host=target.host, platform=target.platform, started_at=time.time())
        parser = RecordParser()
        disabled = self.disabled()
        wanted = {ct for ct in self.applicable(target) if ct not in disabled}
        for ct in sorted(wanted):
            res.checks[ct] = "unknown"
        label = self.label_of(target)

        def on_line(line: str, _cut: bool) -> None:
            rec = parser.feed(line)
            if rec is None:
                return
            cid, data = rec
            if cid not in wanted:
                return
            status, findings = evaluate_record(
                target.host, cid, data, label=label, platform=target.platform,
                evaluators=self.evaluators, source=self.source,
            )
            res.checks[cid] = status
            res.findings.extend(findings)

        req = ExecRequest(
            self.script,
            deadline_s=deadline_s,
            privilege=self.privilege,
            params=dict(params or {}),
            on_line=on_line,
            idempotent=True,
            purpose="scan",
        )
        result = await self.executor.run(target, credential, req)
        res.diagnostics = parser.diagnostics
        res.finished_at = time.time()
        got_any = any(cid in self.evaluators for cid in parser.records)
        if result.error is not None and not got_any:
            res.status = "failed"
            res.error_kind = result.error.kind.value
        elif not got_any:
            res.status = "failed"
            res.error_kind = "scan_output_invalid"
        elif parser.ended and result.error is None and result.exit_code == 0 and not result.stdout_truncated:
            res.status = "complete"
        else:
            res.status = "partial"  # deadline or error after some records: keep what arrived
            res.error_kind = result.error.kind.value if result.error else "scan_incomplete"
        return res
