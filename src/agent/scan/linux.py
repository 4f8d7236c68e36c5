"""Linux checks over SSH (or the local executor for the appliance): one script per scan,
strictly parsed records, evaluated here (healing.md §2.5, §2.6, §6.5)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from agent.exec import ExecRequest, Privilege, Target
from agent.exec.types import Executor
from agent.scan.appliance import APPLIANCE_EVALUATORS, applies
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


# Basenames of SUID binaries that distributions ship; allowed only in system directories.
SUID_ALLOW: Final = frozenset(
    [
        "sudo",
        "su",
        "passwd",
        "chsh",
        "chfn",
        "newgrp",
        "gpasswd",
        "chage",
        "expiry",
        "mount",
        "umount",
        "fusermount",
        "fusermount3",
        "ping",
        "ping6",
        "pkexec",
        "ssh-keysign",
        "dbus-daemon-launch-helper",
        "polkit-agent-helper-1",
        "Xorg.wrap",
        "unix_chkpwd",
        "crontab",
        "at",
        "newuidmap",
        "newgidmap",
        "traceroute6.iputils",
        "ntfs-3g",
        "pppd",
        "staprun",
        "userhelper",
        "ksu",
        "mount.nfs",
        "mount.cifs",
        "sg",
        "snap-confine",
        "chrome-sandbox",
    ]
)
SUID_SYSTEM_DIRS: Final = (
    "/usr/bin/",
    "/usr/sbin/",
    "/bin/",
    "/sbin/",
    "/usr/lib/",
    "/usr/libexec/",
    "/usr/lib64/",
)


SUID_TEMP_ROOTS: Final = frozenset({"/tmp", "/var/tmp", "/dev/shm"})  # noqa: S108 - names, not files we write


def _suid(data: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any], str, str]] | None:
    found, allow = as_list(data.get("binaries")), as_list(data.get("allow"))
    complete = data.get("complete")
    if found is None or not isinstance(complete, bool):
        return None
    extra = set(allow or [])
    bad = sorted(
        p
        for p in found
        if p.startswith("/")
        and p not in extra
        and not (p.startswith(SUID_SYSTEM_DIRS) and p.rsplit("/", 1)[-1] in SUID_ALLOW)
        and not p.startswith("/nix/store/")
    )
    if bad:
        return [("no SUID binaries outside the allowlist", ", ".join(bad), {"binaries": bad}, "", "")]
    if complete:
        return []
    # Nothing found, but part of a search root was unreadable. Inside the shared temp roots the
    # unprivileged scan user meets root-only private directories (systemd PrivateTmp) on every
    # host; only root can plant files there, which this check is not about. Anywhere else an
    # unreadable part means we do not know (§2.6).
    denied = as_list(data.get("denied"))
    if denied is None or not denied or any(d not in SUID_TEMP_ROOTS for d in denied):
        return None
    return []


_UPGRADE_TIMERS: Final = ("dnf-automatic-install.timer", "dnf5-automatic.timer", "yum-cron.service")


def _upgrades(data: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any], str, str]] | None:
    if data.get("systemd") is not True:
        return None
    timers = as_list(data.get("timers"))
    if timers is None:
        return None
    state: dict[str, str] = {}
    for t in timers:
        name, _, st = t.partition(" ")
        state[name] = st
    if not state or any(st == "" for st in state.values()):
        return None
    apt, uu, dnf = data.get("apt_unattended"), data.get("uu_installed"), data.get("dnf_apply_updates")
    active = [t for t in _UPGRADE_TIMERS if state.get(t) == "active"]
    if state.get("apt-daily-upgrade.timer") == "active" and uu is True and apt not in ("0", "absent"):
        active.append("apt-daily-upgrade.timer")
    if state.get("dnf-automatic.timer") == "active" and dnf in ("yes", "true", "1"):
        active.append("dnf-automatic.timer")
    if active:
        return []
    on = ", ".join(sorted(t for t, st in state.items() if st == "active")) or "none"
    return [
        ("an automatic-update timer active", f"no update timer applying updates (active: {on})", {}, "", "")
    ]


def _logfwd(data: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any], str, str]] | None:
    fw, jp, ju = as_list(data.get("forwarders")), data.get("journal_persistent"), data.get("journal_upload")
    if fw is None or not isinstance(jp, bool):
        return None
    methods = [f.partition("|")[0] for f in fw if not f.startswith("unreadable|")]
    if methods or ju == "active" or jp:
        return []
    if any(f.startswith("unreadable|") for f in fw):
        return None  # a syslog config we cannot read may forward
    return [
        ("log forwarding configured or a persistent journal", "no forwarding, journal volatile", {}, "", "")
    ]


def _cron(data: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any], str, str]] | None:
    tabs, unreadable, spool = as_list(data.get("crontabs")), data.get("unreadable"), data.get("spool")
    if (
        tabs is None
        or not isinstance(spool, bool)
        or isinstance(unreadable, bool)
        or not isinstance(unreadable, int)
    ):
        return None
    users = []
    for t in tabs:
        user, _, n = t.rpartition(" ")
        if not user or not n.isdigit():
            return None
        if int(n) > 0:
            users.append(user)
    if users:
        return [
            ("no user crontab entries (review)", ", ".join(sorted(users)), {"users": sorted(users)}, "", "")
        ]
    return None if unreadable else []


def _cert_end(text: str) -> float | None:
    try:
        dt = datetime.strptime(" ".join(text.split()), "%b %d %H:%M:%S %Y GMT")
    except ValueError:
        return None
    return dt.replace(tzinfo=UTC).timestamp()


def _certs(data: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any], str, str]] | None:
    if data.get("openssl") is not True:
        return None
    certs, now = as_list(data.get("certs")), data.get("now")
    if not certs or isinstance(now, bool) or not isinstance(now, int):
        return None  # nothing monitored or readable is not "no certificate expires"
    out, unknown = [], False
    for c in certs:
        path, _, end = c.rpartition("|")
        ts = _cert_end(end) if path else None
        if ts is None:
            unknown = True
            continue
        days = int((ts - now) / 86400)  # whole days, truncated toward zero
        if days < 30:
            out.append(
                (
                    "certificate valid for at least 30 more days",
                    f"{path} expires in {days} days" if ts >= now else f"{path} expired {-days} days ago",
                    {"path": path, "days_left": days},
                    path,
                    "",
                )
            )
    if out:
        return out
    return None if unknown else []


def _backup(data: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any], str, str]] | None:
    """What counts as a backup (scan params): the newest regular file directly at, or up to two
    levels below, any of ``backup_paths`` (files, directories or globs: where the site's backup job
    writes its archives or a marker file), and the last *successful* exit of the systemd unit
    ``backup_unit``. The newest of these is the backup age. Nothing configured, or configured but
    nothing there, is drift ("no backup found"); a path or unit we cannot read is unknown."""
    paths, now = as_list(data.get("paths")), data.get("now")
    unit, result, exit_ts = data.get("unit"), data.get("unit_result"), data.get("unit_exit")
    if paths is None or isinstance(now, bool) or not isinstance(now, int):
        return None
    if not isinstance(unit, str) or not isinstance(result, str) or not isinstance(exit_ts, str):
        return None
    newest: int | None = None
    unknown = False
    for p in paths:
        head, _, _path = p.partition("|")
        if head.isdigit():
            newest = max(newest or 0, int(head))
        elif head == "unreadable":
            unknown = True
    if unit:
        if result == "success" and exit_ts.isdigit():
            newest = max(newest or 0, int(exit_ts))
        elif result in ("", "nosystemd"):
            unknown = True
    det: dict[str, Any] = {"unit": unit} if unit else {}
    if newest is None:
        if unknown:
            return None
        where = "no backup path or unit configured" if not paths and not unit else "no backup found"
        return [("a backup newer than 7 days", where, det, "", "")]
    age = max(0, (now - newest) // 86400)
    if age > 7:
        det["age_days"] = age
        return [("a backup newer than 7 days", f"newest backup is {age} days old", det, "", "")]
    return []


def _crypt(data: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any], str, str]] | None:
    mounts = as_list(data.get("mounts"))
    if not mounts:
        return None
    plain, unknown = [], False
    for m in mounts:
        parts = m.rsplit("|", 2)
        if len(parts) != 3 or parts[2] not in ("yes", "no", "unknown"):
            return None
        if parts[2] == "no":
            plain.append(parts[0])
        elif parts[2] == "unknown":
            unknown = True
    if plain:
        return [
            ("filesystems on LUKS/dm-crypt", "not encrypted: " + ", ".join(plain), {"mounts": plain}, "", "")
        ]
    return None if unknown else []


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
    "linux_suid_binaries": _suid,
    "linux_unattended_upgrades": _upgrades,
    "linux_log_forwarding": _logfwd,
    "linux_cron_review": _cron,
    "linux_cert_expiry": _certs,
    "linux_backup_status": _backup,
    "linux_encryption": _crypt,
    **APPLIANCE_EVALUATORS,  # only in the appliance's own scan (agent.scan.appliance)
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
        wanted = {ct for ct in self.applicable(target)
                  if ct not in disabled and applies(ct, params or {})}
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
                target.host,
                cid,
                data,
                label=label,
                platform=target.platform,
                evaluators=self.evaluators,
                source=self.source,
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
