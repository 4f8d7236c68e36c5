"""Windows checks over WinRM: one PowerShell script per scan (``scripts/windows_scan.ps1``) that
prints raw state as ``MSP_CHECK`` records; everything is evaluated here (healing.md §2.5, §2.6, §6.5).

Strict: a record whose fields are missing or of the wrong type is ``unknown`` (never ``pass``), and
a scan without a single valid record is ``failed``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from agent.exec import Target
from agent.exec.types import Privilege
from agent.scan.catalog import CATALOG
from agent.scan.linux import Eval, LinuxScanner, evaluate_record
from agent.scan.model import Finding, HostResult, as_list
from agent.scan.threats import ThreatDetector
from agent.timefmt import format_rfc3339

SCRIPT: Final = (Path(__file__).resolve().parent / "scripts" / "windows_scan.ps1").read_text("utf-8")
SOURCE: Final = "driftscan"

Raw = list[tuple[str, str, dict[str, Any], str, str]] | None

# Scheduled-task folders of vendors/the agent that are expected outside \Microsoft\Windows\.
TASK_ALLOWLIST: Final = (
    "\\OsirisCare\\",
    "\\Microsoft\\Office\\",
    "\\Microsoft\\EdgeUpdate\\",
    "\\MicrosoftEdgeUpdateTaskMachine",
    "\\GoogleUpdateTaskMachine",
    "\\OneDrive ",
    "\\Mozilla\\",
)
RUN_ALLOWLIST: Final = frozenset(
    {"SecurityHealth", "OsirisCareAgent", "VMware User Process", "VMware VM3DService Process", "RtHDVCpl"}
)
WMI_DEFAULT_FILTERS: Final = frozenset({"SCM Event Log Filter", "BVTFilter"})
WMI_DEFAULT_CONSUMERS: Final = frozenset({"SCM Event Log Consumer", "BVTConsumer"})
PUBLIC_RESOLVERS: Final = frozenset(
    {
        "8.8.8.8",
        "8.8.4.4",
        "1.1.1.1",
        "1.0.0.1",
        "9.9.9.9",
        "149.112.112.112",
        "208.67.222.222",
        "208.67.220.220",
    }
)
PRIVATE_NETS: Final = tuple(
    ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16")
)
RISKY_PORTS: Final = frozenset(
    {
        "21",
        "23",
        "69",
        "135",
        "137",
        "138",
        "139",
        "445",
        "1433",
        "1434",
        "3306",
        "5432",
        "5900",
        "6379",
        "27017",
    }
)
AUDIT_SUBCATEGORIES: Final = {  # GUID (locale independent) -> name
    "{0CCE9215-69AE-11D9-BED3-505054503030}": "Logon",
    "{0CCE9216-69AE-11D9-BED3-505054503030}": "Logoff",
    "{0CCE9217-69AE-11D9-BED3-505054503030}": "Account Lockout",
    "{0CCE9235-69AE-11D9-BED3-505054503030}": "User Account Management",
    "{0CCE9237-69AE-11D9-BED3-505054503030}": "Security Group Management",
    "{0CCE922F-69AE-11D9-BED3-505054503030}": "Audit Policy Change",
    "{0CCE9228-69AE-11D9-BED3-505054503030}": "Sensitive Privilege Use",
}
ADMIN_GROUP_SUFFIXES: Final = ("-512", "-519")  # Domain Admins, Enterprise Admins
SERVICE_STATES: Final = frozenset(
    {
        "Running",
        "Stopped",
        "StartPending",
        "StopPending",
        "ContinuePending",
        "PausePending",
        "Paused",
        "NotInstalled",
    }
)


def _list(data: Mapping[str, Any], key: str) -> list[str] | None:
    """A list field that must be present (null, a bare string or a list; §6.5)."""
    return as_list(data[key]) if key in data else None


def _status(data: Mapping[str, Any]) -> str | None:
    st = data.get("status")
    return st if isinstance(st, str) and st in SERVICE_STATES else None


def _one(expected: str, actual: str, details: dict[str, Any], disc: str = "", sev: str = "") -> Raw:
    return [(expected, actual, details, disc, sev)]


def _firewall(data: Mapping[str, Any]) -> Raw:
    prof = data.get("profiles")
    if not isinstance(prof, Mapping):
        return None
    out = []
    for name in ("Domain", "Private", "Public"):
        v = prof.get(name)
        if not isinstance(v, bool):
            return None
        if not v:
            out.append((f"{name} profile enabled", f"{name} profile disabled", {"profile": name}, name, ""))
    return out


def _service(service: str, *, drift_if_missing: bool) -> Eval:
    def ev(data: Mapping[str, Any]) -> Raw:
        st = _status(data)
        if st is None:
            return None
        if st == "Running" or (st == "NotInstalled" and not drift_if_missing):
            return []
        return _one(f"{service} running", f"{service} {st}", {"service": service, "status": st})

    return ev


def _update(data: Mapping[str, Any]) -> Raw:
    st = _status(data)
    if st is None:
        return None
    return (
        _one("wuauserv not stopped", f"wuauserv {st}", {"service": "wuauserv", "status": st})
        if st in ("Stopped", "NotInstalled")
        else []
    )


def _admins(data: Mapping[str, Any]) -> Raw:
    members = _list(data, "members")
    me = data.get("self_sid", "")
    if members is None or not isinstance(me, str):
        return None
    rogue = []
    for m in members:
        parts = m.split("|", 2)
        if len(parts) != 3 or not parts[0].startswith("S-1-"):
            return None
        sid, cls, name = parts
        if sid.endswith("-500") and sid.startswith("S-1-5-21-"):
            continue  # the built-in Administrator
        if me and sid == me:
            continue  # the account the agent scans (and heals) with
        if cls.lower() == "group" and sid.startswith("S-1-5-21-") and sid.endswith(ADMIN_GROUP_SUFFIXES):
            continue
        if cls.lower() == "user":
            rogue.append(name)
    if not rogue:
        return []
    return _one("only Administrator and Domain/Enterprise Admins", ", ".join(rogue), {"users": rogue})


def _tasks(data: Mapping[str, Any]) -> Raw:
    tasks = _list(data, "tasks")
    if tasks is None:
        return None
    rogue = [
        t
        for t in tasks
        if not t.startswith("\\Microsoft\\Windows\\") and not any(t.startswith(a) for a in TASK_ALLOWLIST)
    ]
    return _one("no unknown scheduled tasks", ", ".join(rogue), {"tasks": rogue}) if rogue else []


def _bitlocker(data: Mapping[str, Any]) -> Raw:
    if data.get("available") is not True:
        return None
    vols = _list(data, "volumes")
    if not vols:
        return None  # no volume at all is not "protected"
    out = []
    for v in vols:
        parts = v.split("|")
        if len(parts) != 3 or not parts[0] or parts[1] not in ("On", "Off", "Unknown"):
            return None
        mount, prot, vstatus = parts
        if prot == "Unknown":
            return None
        if prot == "Off":
            out.append(
                (
                    "BitLocker protection on",
                    f"{mount} protection off ({vstatus})",
                    {"volume": mount, "protection_status": prot, "volume_status": vstatus},
                    mount,
                    "",
                )
            )
    return out


def _bool_check(key: str, want: bool, expected: str, actual: str) -> Eval:
    def ev(data: Mapping[str, Any]) -> Raw:
        v = data.get(key)
        if not isinstance(v, bool):
            return None
        return [] if v is want else _one(expected, actual, {key: v})

    return ev


def _screen_lock(data: Mapping[str, Any]) -> Raw:
    conf, t = data.get("configured"), data.get("timeout_s")
    if not isinstance(conf, bool) or isinstance(t, bool) or not isinstance(t, int):
        return None
    if conf and 0 < t <= 900:
        return []
    actual = f"inactivity timeout {t} s" if conf else "inactivity timeout not configured"
    return _one("inactivity timeout 1-900 s", actual, {"timeout_s": t if conf else 0})


def _exclusions(data: Mapping[str, Any]) -> Raw:
    if data.get("available") is not True:
        return None
    found: list[str] = []
    for key in ("paths", "processes", "extensions"):
        items = _list(data, key)
        if items is None:
            return None
        found += items
    return _one("no Defender exclusions", f"{len(found)} exclusions", {"exclusions": found}) if found else []


def _dns_allowed(ip: str, dc: str) -> bool | None:
    try:
        addr = ipaddress.IPv4Address(ip)
    except ValueError:
        return None
    return addr.is_loopback or any(addr in n for n in PRIVATE_NETS) or ip == dc or ip in PUBLIC_RESOLVERS


def _dns(data: Mapping[str, Any]) -> Raw:
    dc = data.get("dc")
    servers = _list(data, "servers")
    if not isinstance(dc, str) or servers is None:
        return None
    bad: list[tuple[str, str]] = []
    for s in servers:
        iface, sep, ip = s.rpartition("|")
        ok = _dns_allowed(ip, dc) if sep else None
        if ok is None:
            return None
        if not ok:
            bad.append((iface, ip))
    if not bad:
        return []
    return _one(
        "DNS servers: loopback, DC, private or well-known resolvers",
        ", ".join(f"{i} {ip}" for i, ip in bad),
        {"servers": sorted({ip for _, ip in bad}), "interface": bad[0][0]},
    )


def _profile(data: Mapping[str, Any]) -> Raw:
    items = _list(data, "interfaces")
    if items is None:
        return None
    public = []
    for it in items:
        name, sep, cat = it.rpartition("|")
        if not sep or cat not in ("Public", "Private", "DomainAuthenticated"):
            return None
        if cat == "Public":
            public.append(name)
    return (
        _one("no interface on the Public profile", ", ".join(public), {"interfaces": public})
        if public
        else []
    )


def _password(data: Mapping[str, Any]) -> Raw:
    ml, lt = data.get("min_length"), data.get("lockout_threshold")
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in (ml, lt)):
        return None
    assert isinstance(ml, int) and isinstance(lt, int)
    out = []
    if 1 <= ml <= 7:
        out.append(
            (
                "minimum password length >= 8",
                f"minimum password length {ml}",
                {"setting": "min_length", "min_length": ml, "lockout_threshold": lt},
                "min_length",
                "",
            )
        )
    if lt == 0:
        out.append(
            (
                "account lockout threshold > 0",
                "account lockout disabled",
                {"setting": "lockout_threshold", "min_length": ml, "lockout_threshold": lt},
                "lockout_threshold",
                "",
            )
        )
    return out


def _nla(data: Mapping[str, Any]) -> Raw:
    v = data.get("user_authentication")
    if isinstance(v, bool) or not isinstance(v, int):
        return None
    return [] if v == 1 else _one("RDP NLA required", "RDP NLA not required", {"nla_required": False})


def _guest(data: Mapping[str, Any]) -> Raw:
    ex, en = data.get("exists"), data.get("enabled")
    if not isinstance(ex, bool) or not isinstance(en, bool):
        return None
    return _one("Guest disabled", "Guest enabled", {"enabled": True}) if ex and en else []


def _dc_services(data: Mapping[str, Any]) -> Raw:
    out = []
    for svc in ("DNS", "NTDS"):
        st = data.get(svc)
        if not isinstance(st, str) or st not in SERVICE_STATES:
            return None
        if st != "Running":
            out.append((f"{svc} running", f"{svc} {st}", {"service": svc, "status": st}, svc, ""))
    return out


def _wmi(data: Mapping[str, Any]) -> Raw:
    f, c = _list(data, "filters"), _list(data, "consumers")
    if f is None or c is None:
        return None
    bf = [x for x in f if x not in WMI_DEFAULT_FILTERS]
    bc = [x for x in c if x not in WMI_DEFAULT_CONSUMERS]
    if not bf and not bc:
        return []
    return _one("only default WMI subscriptions", ", ".join(bf + bc), {"filters": bf, "consumers": bc})


def _run_keys(data: Mapping[str, Any]) -> Raw:
    entries = _list(data, "entries")
    if entries is None:
        return None
    bad = []
    for e in entries:
        key, sep, name = e.partition("|")
        if not sep or key not in ("Run", "RunOnce") or not name:
            return None
        if name not in RUN_ALLOWLIST:
            bad.append(e)
    return _one("no unexpected Run/RunOnce entries", ", ".join(bad), {"entries": bad}) if bad else []


def _audit_policy(data: Mapping[str, Any]) -> Raw:
    subs = data.get("subcategories")
    if not isinstance(subs, Mapping):
        return None
    bad = []
    for guid, name in AUDIT_SUBCATEGORIES.items():
        v = subs.get(guid)
        if not isinstance(v, str) or not v:
            return None
        if v == "No Auditing":
            bad.append(name)
    return (
        _one("required subcategories audited", ", ".join(bad) + ": No Auditing", {"subcategories": bad})
        if bad
        else []
    )


def _cloud(data: Mapping[str, Any]) -> Raw:
    if data.get("available") is not True:
        return None
    rt, maps, sub = data.get("realtime_enabled"), data.get("maps_reporting"), data.get("sample_submission")
    if not isinstance(rt, bool) or any(isinstance(v, bool) or not isinstance(v, int) for v in (maps, sub)):
        return None
    problems = []
    if not rt:
        problems.append("real-time protection off")
    if maps == 0:
        problems.append("cloud reporting off")
    if sub == 2:
        problems.append("sample submission off")
    if not problems:
        return []
    return _one(
        "real-time, MAPS and sample submission on",
        ", ".join(problems),
        {"realtime_enabled": rt, "maps_reporting": maps, "sample_submission": sub},
    )


def _spooler(data: Mapping[str, Any]) -> Raw:
    st = _status(data)
    if st is None:
        return None
    return (
        _one("Spooler stopped on a DC", f"Spooler {st}", {"service": "Spooler", "status": st})
        if (st == "Running")
        else []
    )


def _fw_rules(data: Mapping[str, Any]) -> Raw:
    rules = _list(data, "rules")
    if rules is None:
        return None
    bad = []
    for r in rules:
        parts = r.split("|")
        if len(parts) != 3 or not parts[0]:
            return None
        name, proto, ports = parts
        plist = [p.strip() for p in ports.split(",") if p.strip()]
        if (
            proto in ("TCP", "UDP") and (not plist or "Any" in plist or RISKY_PORTS.intersection(plist))
        ) or proto == "Any":
            bad.append(name)
    return _one("no over-broad or risky inbound allow rules", ", ".join(bad), {"rules": bad}) if bad else []


# Third-party backup products recognised by service name or display name (case-insensitive
# substrings). Windows' own always-present services (wbengine, SDRSVC, fhsvc) are not a mechanism.
BACKUP_VENDORS: Final = (
    "veeam",
    "acronis",
    "datto",
    "carbonite",
    "backup exec",
    "macrium",
    "crashplan",
    "backblaze",
    "urbackup",
    "arcserve",
    "storagecraft",
    "shadowprotect",
    "axcient",
    "unitrends",
    "commvault",
    "druva",
    "idrive",
    "cohesity",
    "rubrik",
    "nakivo",
    "altaro",
    "cloudberry",
    "msp360",
    "backup service controller",  # N-able Cove
)
BACKUP_MAX_AGE_S: Final = 7 * 86400
_CLOCK_SLACK_S: Final = 86400


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


def _backup_probes(data: Mapping[str, Any]) -> dict[str, tuple[bool, int] | None]:
    """Per mechanism ``(configured, newest epoch or 0)``; None = that probe is unreadable.
    ``third_party`` never has a readable age (0)."""
    out: dict[str, tuple[bool, int] | None] = {}
    wsb = data.get("wsb")
    out["wsb"] = None
    if isinstance(wsb, Mapping) and "error" not in wsb:
        av, pol, last = wsb.get("available"), wsb.get("policy"), _int(wsb.get("last_success"))
        if av is False:
            out["wsb"] = (False, 0)
        elif av is True and isinstance(pol, bool) and last is not None:
            out["wsb"] = (pol or last > 0, last)
    vss = data.get("vss")
    out["vss"] = None
    if isinstance(vss, Mapping) and "error" not in vss:
        n, newest, sched = _int(vss.get("count")), _int(vss.get("newest")), vss.get("scheduled")
        if n is not None and newest is not None and isinstance(sched, bool):
            out["vss"] = (sched or n > 0, newest if n > 0 else 0)
    fh = data.get("file_history")
    out["file_history"] = None
    if isinstance(fh, Mapping) and "error" not in fh:
        conf, last = fh.get("configured"), _int(fh.get("last"))
        if isinstance(conf, bool) and last is not None:
            out["file_history"] = (conf, last if conf else 0)
    svc = data.get("services")
    out["third_party"] = None
    if isinstance(svc, Mapping) and "error" not in svc and "found" in svc:
        found = as_list(svc["found"])
        if found is not None:
            ok = True
            present = False
            for f in found:
                parts = f.split("|")
                if len(parts) != 4 or not parts[0]:
                    ok = False
                    break
                name, display, _status, start = parts
                text = f"{name} {display}".lower()
                if start != "Disabled" and any(v in text for v in BACKUP_VENDORS):
                    present = True
            if ok:
                out["third_party"] = (present, 0)
    return out


def _backup_configured(data: Mapping[str, Any]) -> Raw:
    if not _int(data.get("now")):
        return None  # a record without the host clock is malformed
    probes = _backup_probes(data)
    if any(p is not None and p[0] for p in probes.values()):
        return []
    if any(p is None for p in probes.values()):
        return None  # a mechanism may hide behind the unreadable probe
    return _one(
        "a backup mechanism (Windows Server Backup, shadow copies, File History or a backup product)",
        "no backup mechanism found",
        {},
    )


def _backup_age(data: Mapping[str, Any]) -> Raw:
    now = _int(data.get("now"))
    if not now:
        return None
    probes = _backup_probes(data)
    dated = [(p[1], mech) for mech, p in probes.items() if p is not None and p[0] and p[1] > 0]
    if dated:
        newest, mech = max(dated)
        if newest > now + _CLOCK_SLACK_S:
            return None  # a backup "in the future": the host clock or the data is wrong
        if now - newest <= BACKUP_MAX_AGE_S:
            return []
    if any(p is None for p in probes.values()):
        return None  # the unreadable probe may hold a newer backup
    tp = probes["third_party"]
    if tp is not None and tp[0]:
        return None  # a backup product whose last run we cannot read: not provably current
    if dated:
        age = max(0, now - newest) // 86400
        return _one(
            "newest backup at most 7 days old",
            f"newest backup {age} days old ({mech})",
            {"age_days": age, "mechanism": mech, "last_backup": format_rfc3339(newest)},
        )
    configured = [m for m, p in probes.items() if p is not None and p[0]]
    if not configured:
        return None  # nothing configured: backup_not_configured reports it; age is not known
    return _one(
        "newest backup at most 7 days old",
        f"no successful backup recorded ({configured[0]})",
        {"mechanism": configured[0], "last_backup": "never"},
    )


def _strict(fn: Eval) -> Eval:
    """A record carrying ``error`` (the check threw on the host) is unknown whatever else it holds."""

    def ev(data: Mapping[str, Any]) -> Raw:
        return None if "error" in data else fn(data)

    return ev


_EVALUATORS: Final[dict[str, Eval]] = {
    "firewall_status": _firewall,
    "windows_defender": _service("WinDefend", drift_if_missing=False),
    "windows_update": _update,
    "audit_logging": _service("EventLog", drift_if_missing=True),
    "rogue_admin_users": _admins,
    "rogue_scheduled_tasks": _tasks,
    "agent_status": _service("OsirisCareAgent", drift_if_missing=True),
    "bitlocker_status": _bitlocker,
    "smb_signing": _bool_check("require_signing", True, "SMB signing required", "SMB signing not required"),
    "smb1_protocol": _bool_check("smb1_enabled", False, "SMBv1 disabled", "SMBv1 enabled"),
    "screen_lock_policy": _screen_lock,
    "defender_exclusions": _exclusions,
    "dns_config": _dns,
    "network_profile": _profile,
    "password_policy": _password,
    "rdp_nla": _nla,
    "guest_account": _guest,
    "service_dns": _dc_services,
    "service_netlogon": _service("Netlogon", drift_if_missing=True),
    "wmi_event_persistence": _wmi,
    "registry_run_persistence": _run_keys,
    "audit_policy": _audit_policy,
    "defender_cloud_protection": _cloud,
    "spooler_service": _spooler,
    "firewall_dangerous_rules": _fw_rules,
    "backup_not_configured": _backup_configured,
    "backup_verification": _backup_age,
}


def evaluate_windows(
    host: str, check_id: str, data: Mapping[str, Any], *, label: str, now: float | None = None
) -> tuple[str, list[Finding]]:
    """``(status, findings)`` for one Windows record; status pass | drift | unknown."""
    return evaluate_record(
        host, check_id, data, label=label, platform="windows", now=now, evaluators=EVALUATORS, source=SOURCE
    )


EVALUATORS: Final[dict[str, Eval]] = {k: _strict(v) for k, v in _EVALUATORS.items()}


_ROLE_LABELS: Final = {
    "dc": "DC",
    "domain_controller": "DC",
    "domaincontroller": "DC",
    "ws": "WS",
    "workstation": "WS",
    "srv": "SRV",
    "server": "SRV",
    "member_server": "SRV",
}


def windows_label(role: str) -> str:
    """``DC``/``WS``/``SRV`` from the credential role; unknown roles run only the ``all`` checks."""
    return _ROLE_LABELS.get(role.strip().lower().replace("-", "_").replace(" ", "_"), "SRV")


class WindowsScanner(LinuxScanner):
    """Runs :data:`SCRIPT` through the WinRM executor; checks limited to the target's label."""

    evaluators = EVALUATORS
    source = SOURCE
    privilege = Privilege.ADMIN

    def __init__(self, executor: Any, *, threats: ThreatDetector | None = None, **kw: Any) -> None:
        kw.setdefault("script", SCRIPT)
        super().__init__(executor, **kw)
        self.threats = threats

    async def scan(
        self,
        target: Target,
        credential: Any,
        *,
        deadline_s: float,
        params: Mapping[str, str | Sequence[str]] | None = None,
    ) -> HostResult:
        """The scan; with a :class:`ThreatDetector` also the security events and shadow copies
        (threats.py): the host's cursor as a scan parameter, findings evaluated after the scan."""
        if self.threats is None:
            return await super().scan(target, credential, deadline_s=deadline_s, params=params)
        col = self.threats.collection(target.host)
        self.evaluators = {**EVALUATORS, **col.evaluators}
        merged = {**(params or {}), **col.params}
        res = await super().scan(target, credential, deadline_s=deadline_s, params=merged)
        self.threats.finish(res, col, label=self.label_of(target), platform=target.platform)
        return res

    def label_of(self, target: Target) -> str:
        return windows_label(target.label)

    def applicable(self, target: Target) -> list[str]:
        label = self.label_of(target)
        out = []
        for ct in self.evaluators:
            spec = CATALOG.spec(ct)
            if spec is not None and spec.label in ("all", label):
                out.append(ct)
        return out
