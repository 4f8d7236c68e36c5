"""``hub token HOST``, ``hub revoke HOST``, ``hub list``: the workstation hub's enrollment tokens
and certificates (issue 23), in ``agent_registry.json``.

They work while the daemon runs (the hub needs it to enroll anyone): the registry file is
changed under its own advisory lock and the daemon re-reads it on its next call. ``token``
prints the one-time token once (stdout only; only its hash is stored); ``revoke`` refuses the
host's current certificates on every call from now on.
"""

from __future__ import annotations

import argparse
from typing import Any

from agent.commands._operator import (
    CommandError,
    audit,
    command_group,
    emit,
    emit_json,
    existing_state_dir,
    subcommand,
)
from agent.commands.common import EXIT_OK, EXIT_USAGE
from agent.timefmt import format_rfc3339

HOSTNAME_MAX = 253


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    hsub = command_group(
        sub, "hub", help="workstation hub: enrollment tokens and certificates",
        description="The workstation hub's registry (agent_registry.json): one-time enrollment "
        "tokens for CSR enrollment, revocation, the agents and certificates it knows. Works "
        "while the service runs. Exit 0 done, 2 usage.")
    tp = subcommand(hsub, "token", run_token, help="issue a one-time enrollment token for HOST",
                    description="Print a new one-time enrollment token for HOST (the agent "
                    "sends it with its CSR in Register). Only its hash is stored; an unused "
                    "earlier token of HOST is withdrawn. Writes an audit line (without the "
                    "token).")
    tp.add_argument("hostname", metavar="HOST")
    tp.add_argument("--ttl-hours", type=float, default=24.0, help="validity (default 24)")
    rp = subcommand(hsub, "revoke", run_revoke, help="revoke every certificate of HOST",
                    description="Refuse HOST's certificates issued until now on every call; the "
                    "agent must enroll again (a new token). Writes an audit line.")
    rp.add_argument("hostname", metavar="HOST")
    subcommand(hsub, "list", run_list, help="agents, certificates, open tokens, revocations",
               description="What agent_registry.json holds (no token values: they are not "
               "stored). Read-only.")


def _registry(args: argparse.Namespace) -> Any:
    from agent.hub.registry import AgentRegistry

    return AgentRegistry(existing_state_dir(args))


def _host(args: argparse.Namespace) -> str:
    host = str(args.hostname).strip()
    if not host or len(host) > HOSTNAME_MAX or any(c.isspace() for c in host):
        raise CommandError(f"invalid host name {host!r}", EXIT_USAGE)
    return host


def run_token(args: argparse.Namespace) -> int:
    host = _host(args)
    if not 0 < args.ttl_hours <= 24 * 30:
        raise CommandError("--ttl-hours must be in (0, 720]", EXIT_USAGE)
    token = _registry(args).issue_token(host, ttl_s=args.ttl_hours * 3600)
    audit("hub_token", "workstation enrollment token issued", host=host,
          ttl_hours=args.ttl_hours)
    if args.json:
        emit_json({"hostname": host, "token": token})
    else:
        print(token)
    return EXIT_OK


def run_revoke(args: argparse.Namespace) -> int:
    host = _host(args)
    count = _registry(args).revoke_host(host)
    audit("hub_revoke", "workstation certificates revoked", host=host, recorded=count)
    if args.json:
        emit_json({"hostname": host, "revoked_recorded": count})
    else:
        emit([f"{host}: certificates revoked ({count} recorded)"])
    return EXIT_OK


def run_list(args: argparse.Namespace) -> int:
    reg = _registry(args)
    now = reg.clock()
    doc: dict[str, Any] = {
        "agents": [{"agent_id": a.agent_id, "hostname": a.hostname} for a in reg.agents.values()],
        "certificates": [{**c, "not_after": format_rfc3339(c["not_after"]),
                          "revoked": int(c["serial"]) in reg.revoked} for c in reg.certs],
        "open_tokens": [{"hostname": t["hostname"], "expires_at": format_rfc3339(t["expires_at"])}
                        for t in reg.tokens if not t["used_at"] and t["expires_at"] > now],
        "revoked_hosts": {h: format_rfc3339(t) for h, t in reg.revoked_hosts.items()},
    }
    if args.json:
        emit_json(doc)
        return EXIT_OK
    lines = [f"agents: {len(doc['agents'])}"]
    lines += [f"  {a['hostname']}  {a['agent_id']}" for a in doc["agents"]]
    lines.append(f"certificates: {len(doc['certificates'])}")
    lines += [f"  {c['hostname']}  {c['mode']}  until {c['not_after']}"
              f"{'  REVOKED' if c['revoked'] else ''}" for c in doc["certificates"]]
    lines.append(f"open tokens: {len(doc['open_tokens'])}")
    lines += [f"  {t['hostname']}  until {t['expires_at']}" for t in doc["open_tokens"]]
    lines.append(f"revoked hosts: {len(doc['revoked_hosts'])}")
    lines += [f"  {h}  since {t}" for h, t in doc["revoked_hosts"].items()]
    emit(lines)
    return EXIT_OK
