"""The workstation-agent deployment orders (orders.md §10.1; issue 23 deliverable 4):
``configure_workstation_agent`` (Windows, over WinRM) and ``remove_agent`` (Linux/macOS, over SSH).

Both run only on a **signed** host the site gave this agent credentials for, with that host's own
credential (the healing path's lookup), through the shared executor pool. Parameters never become
script text: they travel as executor parameters (base64, ``$MspParams`` / ``msp_param``).

``configure_workstation_agent`` first asks the host its computer name (the name its agent will
enroll with), then issues a one-time CSR enrollment token for that name from the hub's registry and
writes it into the agent's ``config.json`` with ``appliance_addr``. The token is a secret: it is
registered for redaction, never logged, never part of a result.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

from agent.exec.types import ExecRequest, ExecResult, Privilege, Target, Transport
from agent.log import get_logger, register_secret
from agent.orders.handlers import Handler, HandlerContext, HandlerError, _only, _str

log = get_logger("orders")

#: Prefix of every path ``remove_agent`` removes on the host. ``""`` in production (the agent's
#: fixed system paths); tests point it at a scratch directory on the loopback host.
REMOVE_PATH_PREFIX = ""

_ADDR = re.compile(r"(\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9._-]{1,253}):[0-9]{1,5}", re.ASCII)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,252}", re.ASCII)
_STEP = re.compile(r"^MSP_STEP ([a-z_]{1,32})=(.{0,200})$")
_OS = {"linux": "linux", "darwin": "macos", "macos": "macos"}

_PROBE_PS = r"""
try { Set-ExecutionPolicy -ExecutionPolicy RemoteSigned -Scope LocalMachine -Force -EA Stop
      "MSP_STEP execution_policy=" + (Get-ExecutionPolicy) } catch { "MSP_STEP execution_policy=failed" }
$bin = if (Test-Path 'C:\OsirisCare\osiris-agent.exe') { 'present' } else { 'missing' }
"MSP_STEP binary=$bin"
"MSP_STEP computer_name=" + $env:COMPUTERNAME
"""

_CONFIGURE_PS = r"""
$ErrorActionPreference = 'Stop'
$svc = 'OsirisCareAgent'; $exe = 'C:\OsirisCare\osiris-agent.exe'; $cfg = 'C:\OsirisCare\config.json'
$data = 'C:\ProgramData\OsirisCare'
Stop-Service -Name $svc -Force -EA SilentlyContinue
$removed = 0
foreach ($d in @('C:\OsirisCare', $data)) {
  foreach ($f in @('agent.crt', 'agent.key', 'ca.crt', 'config.json', 'offline_queue.db',
                   'offline_queue.db-wal', 'offline_queue.db-shm')) {
    $p = Join-Path $d $f
    if (Test-Path $p) { Remove-Item -LiteralPath $p -Force; $removed++ }
  }
}
"MSP_STEP stale_files_removed=$removed"
New-Item -ItemType Directory -Force -Path $data | Out-Null
$conf = [ordered]@{ appliance_addr = $MspParams.appliance_addr; check_interval = 300;
                    data_dir = $data; enrollment_token = $MspParams.enrollment_token }
[IO.File]::WriteAllText($cfg, ($conf | ConvertTo-Json -Compress), (New-Object Text.UTF8Encoding $false))
icacls $cfg /inheritance:r /grant:r '*S-1-5-18:F' '*S-1-5-32-544:F' | Out-Null
"MSP_STEP config=written"
$bin = '"' + $exe + '" --appliance "' + $MspParams.appliance_addr + '" --config "' + $cfg + '"'
if (Get-Service -Name $svc -EA SilentlyContinue) { sc.exe delete $svc | Out-Null; Start-Sleep -Seconds 2 }
New-Service -Name $svc -BinaryPathName $bin -DisplayName 'OsirisCare Compliance Agent' `
  -StartupType Automatic | Out-Null
Start-Service -Name $svc
sc.exe failure $svc reset= 86400 actions= restart/60000/restart/60000/restart/60000 | Out-Null
"MSP_STEP service=" + (Get-Service -Name $svc).Status
"""

# POSIX sh; the prefix arrives as a parameter and is only ever used inside double quotes.
_REMOVE_SH = {
    "linux": r"""
P="$(msp_param prefix)"
systemctl stop osiriscare-agent >/dev/null 2>&1 || true
systemctl disable osiriscare-agent >/dev/null 2>&1 || true
echo "MSP_STEP service=stopped"
U="$P/etc/systemd/system/osiriscare-agent.service"
R=no; [ -e "$U" ] && R=yes
rm -f -- "$U" "$P/etc/osiriscare.json"
rm -rf -- "$P/opt/osiriscare" "$P/var/lib/osiriscare"
[ "$R" = yes ] && { systemctl daemon-reload >/dev/null 2>&1 || true; }
for p in "$P/etc/systemd/system/osiriscare-agent.service" "$P/etc/osiriscare.json" \
         "$P/opt/osiriscare" "$P/var/lib/osiriscare"; do
  if [ -e "$p" ]; then echo "MSP_STEP left=$p"; exit 3; fi
done
echo "MSP_STEP files=removed"
""",
    "macos": r"""
P="$(msp_param prefix)"
launchctl unload "$P/Library/LaunchDaemons/net.osiriscare.agent.plist" >/dev/null 2>&1 || true
echo "MSP_STEP service=stopped"
rm -f -- "$P/Library/LaunchDaemons/net.osiriscare.agent.plist"
rm -rf -- "$P/Library/OsirisCare" "$P/Library/Application Support/OsirisCare" \
          "$P/Library/Logs/OsirisCare"
for p in "$P/Library/LaunchDaemons/net.osiriscare.agent.plist" "$P/Library/OsirisCare" \
         "$P/Library/Application Support/OsirisCare" "$P/Library/Logs/OsirisCare"; do
  if [ -e "$p" ]; then echo "MSP_STEP left=$p"; exit 3; fi
done
echo "MSP_STEP files=removed"
""",
}


class AgentTokens(Protocol):
    """What these orders use of the hub's registry (``agent.hub.registry.AgentRegistry``)."""

    def issue_token(self, hostname: str) -> str: ...

    def revoke_host(self, hostname: str) -> int: ...


class Executors(Protocol):
    """``agent.exec.pool.ExecutorPool``."""

    async def prepare(self, target: Target) -> None: ...

    def for_target(self, target: Target) -> Any: ...


@dataclass
class DeployAccess:
    """The deployment orders' entry points (``Hooks.deploy``), filled by the composition root.

    ``credential_for(host)``: the signed host's target and own credential, or None (the healing
    path's lookup). ``agents``: the hub's registry, None when the hub is disabled.
    ``appliance_addr()``: the hub's site-facing ``address:grpc_port``."""

    executors: Executors
    credential_for: Any
    agents: AgentTokens | None = None
    appliance_addr: Any = None


def _access(ctx: HandlerContext) -> DeployAccess:
    access: DeployAccess | None = ctx.hooks.deploy
    if access is None:
        raise HandlerError("workstation agent deployment is not available in this agent build")
    return access


def _steps(res: ExecResult) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in res.stdout.splitlines():
        m = _STEP.match(line.strip())
        if m:
            out[m.group(1)] = m.group(2)
    return out


async def _run(access: DeployAccess, target: Target, cred: Any, script: str,
               params: dict[str, Any], privilege: Privilege, what: str) -> dict[str, str]:
    await access.executors.prepare(target)
    ex = access.executors.for_target(target)
    res: ExecResult = await ex.run(target, cred, ExecRequest(
        script, deadline_s=90.0, privilege=privilege, params=params, stdout_cap=16 * 1024,
        stderr_cap=4 * 1024, purpose="deploy"))
    steps = _steps(res)
    if not res.ok:
        why = res.error.message if res.error is not None else f"exit code {res.exit_code}"
        raise HandlerError(f"{what} failed on {target.host}: {why}",
                           {"status": "failed", "hostname": target.host, "steps": steps})
    return steps


def _signed_host(access: DeployAccess, host: str, transport: Transport) -> tuple[Target, Any]:
    found = access.credential_for(host)
    if found is None or found[1] is None:
        raise HandlerError(f"{host} is not a target this agent holds credentials for",
                           {"status": "refused", "hostname": host})
    target, cred = found
    if target.transport is not transport:
        raise HandlerError(f"{host} is not a {transport.value.upper()} target of this site",
                           {"status": "refused", "hostname": host})
    return target, cred


async def configure_workstation_agent(params: dict[str, Any],
                                      ctx: HandlerContext) -> dict[str, Any]:
    _only(params, "hostname", "appliance_addr")
    host = _str(params, "hostname", required=True, max_len=253)
    addr = _str(params, "appliance_addr", max_len=260, pattern=_ADDR)
    assert host is not None
    if addr is not None and not 0 < int(addr.rsplit(":", 1)[1]) < 65536:
        raise HandlerError("parameter appliance_addr has an invalid port")
    access = _access(ctx)
    if access.agents is None:
        raise HandlerError("the workstation hub is not enabled (grpc_hub_enabled)",
                           {"status": "failed", "hostname": host})
    target, cred = _signed_host(access, host, Transport.WINRM)
    if addr is None:
        try:
            addr = str(access.appliance_addr())
        except OSError as exc:
            raise HandlerError(f"no hub address for the agent: {exc}") from None
    probe = await _run(access, target, cred, _PROBE_PS, {}, Privilege.ADMIN, "agent check")
    steps = {k: v for k, v in probe.items() if k != "computer_name"}
    name = probe.get("computer_name", "")
    if probe.get("binary") != "present":
        raise HandlerError(f"the workstation agent is not installed on {host}",
                           {"status": "failed", "hostname": host, "steps": steps})
    if not _NAME.fullmatch(name):
        raise HandlerError(f"{host} did not report a valid computer name",
                           {"status": "failed", "hostname": host, "steps": steps})
    token = access.agents.issue_token(name)
    register_secret(token)
    done = await _run(access, target, cred, _CONFIGURE_PS,
                      {"appliance_addr": addr, "enrollment_token": token}, Privilege.ADMIN,
                      "agent configuration")
    steps.update(done)
    log.info("orders.agent_configured", "workstation agent configured", hostname=host,
             agent_hostname=name, appliance_addr=addr)
    return {"status": "configured", "hostname": host, "agent_hostname": name,
            "appliance_addr": addr, "enrollment": "csr_token_issued", "steps": steps}


async def remove_agent(params: dict[str, Any], ctx: HandlerContext) -> dict[str, Any]:
    _only(params, "hostname", "ip_address", "os_type")
    host = _str(params, "hostname", max_len=253)
    ip = _str(params, "ip_address", max_len=64)
    os_type = _str(params, "os_type", required=True, max_len=16)
    if os_type not in _OS:
        raise HandlerError("parameter os_type must be linux or darwin")
    if not host and not ip:
        raise HandlerError("hostname or ip_address is required")
    access = _access(ctx)
    names = [n for n in (host, ip) if n]
    found = next(((n, access.credential_for(n)) for n in names
                  if access.credential_for(n) is not None), None)
    label = names[0]
    if found is None:
        raise HandlerError(f"{label} is not a target this agent holds credentials for",
                           {"status": "refused", "hostname": label})
    target, cred = _signed_host(access, found[0], Transport.SSH)
    steps = await _run(access, target, cred, _REMOVE_SH[_OS[os_type]],
                       {"prefix": REMOVE_PATH_PREFIX}, Privilege.ROOT, "agent removal")
    if steps.get("files") != "removed":
        raise HandlerError(f"agent removal on {target.host} did not confirm the removal",
                           {"status": "failed", "hostname": label, "steps": steps})
    revoked = 0
    if access.agents is not None:
        revoked = sum(access.agents.revoke_host(n) for n in dict.fromkeys(names))
    log.info("orders.agent_removed", "workstation agent removed", hostname=label,
             os_type=os_type, revoked=revoked)
    return {"status": "removed", "hostname": label, "os_type": os_type, "steps": steps,
            "certificates_revoked": revoked, "hub": access.agents is not None}


HANDLERS: dict[str, Handler] = {"configure_workstation_agent": configure_workstation_agent,
            "remove_agent": remove_agent}

