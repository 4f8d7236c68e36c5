"""``pins list``, ``pins clear --ssh HOST[:PORT] | --winrm HOST[:PORT] | --server``,
``pins reset-server-keys`` (runtime.md §8, exec.md §2.2 and §3.2, central-api.md §3.2, orders.md §3).

Clearing and resetting change state: they take the state-directory lock (exit 3 while the daemon
runs) and write an audit line. ``list`` only reads.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from agent.commands._operator import (
    CommandError,
    audit,
    command_group,
    emit,
    emit_json,
    existing_state_dir,
    locked,
    subcommand,
)
from agent.commands.common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE

SSH_FILE = "ssh_known_hosts"
WINRM_FILE = "winrm_pins.json"
# Central Command's pins (agent.transport.pins, which commands may not import: only the Uplink
# holds the transport).
TLS_PINS_FILE = "tls_pins.json"
LEGACY_PIN_FILE = "server_cert_pin.hex"


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    psub = command_group(
        sub, "pins", help="list and clear TLS/SSH pins; reset trusted server keys",
        description="The agent's trust-on-first-use pins (SSH host keys, WinRM certificates, "
        "Central Command's TLS keys) and the trusted server signing keys. clear and "
        "reset-server-keys take the state-directory lock: stop the service first (exit 3 while "
        "it runs). Exit 0 done, 1 nothing to clear or failed, 2 usage.")
    subcommand(psub, "list", run_list, help="list every pin and the trusted server keys",
               description="List SSH host-key pins, WinRM certificate pins, Central Command's "
               "TLS pins and the trusted server signing keys (fingerprints only). Read-only: "
               "works while the service runs.")
    cp = subcommand(psub, "clear", run_clear, help="remove one pin (the next connection re-pins)",
                    description="Remove one pin; the next connection pins what it is shown "
                    "(trust on first use). --ssh removes HOST's SSH host keys (one port, or "
                    "every port when none is given), --winrm HOST's certificate pin, --server "
                    "Central Command's TLS pins (tls_pins.json and the legacy "
                    "server_cert_pin.hex). Takes the lock; writes an audit line.")
    which = cp.add_mutually_exclusive_group(required=True)
    which.add_argument("--ssh", metavar="HOST[:PORT]", help="an SSH target's host-key pin")
    which.add_argument("--winrm", metavar="HOST[:PORT]", help="a WinRM target's certificate pin "
                       "(port 5986 unless given)")
    which.add_argument("--server", action="store_true", help="Central Command's TLS pins")
    subcommand(psub, "reset-server-keys", run_reset,
               help="forget the trusted server signing keys (re-seed trust)",
               description="Remove server_keys.json and the re-seed marker (server_keys.reseed, "
               "left when the key file was found unreadable): the operator action of orders.md "
               "§3. On the next start the agent trusts the configured server_public_key, or else "
               "the keys the next checkin offers. Takes the lock; writes an audit line.")


# --- list ---------------------------------------------------------------------------------------


def ssh_fingerprint(blob: bytes) -> str:
    """OpenSSH's ``SHA256:<base64>`` fingerprint of a host-key blob."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _short(fp: str) -> str:
    return fp if len(fp) <= 20 else f"{fp[:16]}…{fp[-4:]}"


def _key_fp(hex_key: object) -> str | None:
    if not isinstance(hex_key, str):
        return None
    from agent.crypto.keys import fingerprint

    try:
        return fingerprint(bytes.fromhex(hex_key))
    except ValueError:
        return None


def collect(path: Path) -> dict[str, Any]:
    """Every pin and the trusted server keys, read without changing anything."""
    from agent.exec.known_hosts import KnownHostsCorrupt, parse_known_hosts
    from agent.site.serverkeys import FILE_NAME, RESEED_MARKER

    problems: list[str] = []
    ssh: list[dict[str, Any]] = []
    try:
        entries = parse_known_hosts((path / SSH_FILE).read_text("utf-8"))
    except FileNotFoundError:
        entries = {}
    except (OSError, UnicodeDecodeError, KnownHostsCorrupt) as exc:
        problems.append(f"{SSH_FILE} unreadable: {exc}")
        entries = {}
    for name in sorted(entries):
        host, port = (name[1:].split("]:", 1) if name.startswith("[") else (name, ""))
        for ktype, blob in entries[name]:
            ssh.append({"host": host, "port": int(port) if port.isdigit() else None,
                        "key_type": ktype, "fingerprint": ssh_fingerprint(blob)})
    winrm: list[dict[str, Any]] = []
    doc = _json(path / WINRM_FILE, problems)
    if isinstance(doc, dict):
        for host in sorted(doc):
            entry = doc[host] if isinstance(doc[host], dict) else {}
            winrm.append({"host": host, "sha256": entry.get("fingerprint"),
                          "first_seen": entry.get("first_seen"),
                          "last_seen": entry.get("last_seen")})
    server_tls: list[dict[str, Any]] = []
    doc = _json(path / TLS_PINS_FILE, problems)
    hosts = doc.get("hosts") if isinstance(doc, dict) else None
    if isinstance(hosts, dict):
        for host in sorted(hosts):
            entry = hosts[host] if isinstance(hosts[host], dict) else {}
            server_tls.append({"host": host, "spki_sha256": entry.get("spki_sha256"),
                               "source": entry.get("source"), "pinned_at": entry.get("pinned_at")})
    elif doc is not None:
        problems.append(f"{TLS_PINS_FILE}: no hosts object")
    keys_doc = _json(path / FILE_NAME, problems)
    server_keys: dict[str, Any] | None = None
    if isinstance(keys_doc, dict):
        server_keys = {"current": _key_fp(keys_doc.get("current")),
                       "previous": _key_fp(keys_doc.get("previous")),
                       "source": keys_doc.get("source"), "received_at": keys_doc.get("received_at")}
    ssh.sort(key=lambda e: (e["host"], e["port"] or 22, e["key_type"]))
    return {"state_dir": str(path), "ssh": ssh, "winrm": winrm, "server_tls": server_tls,
            "legacy_server_pin": (path / LEGACY_PIN_FILE).exists(),
            "server_keys": server_keys,
            "server_keys_need_reseed": (path / RESEED_MARKER).exists(),
            "problems": problems}


def _json(path: Path, problems: list[str]) -> Any:
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        problems.append(f"{path.name} unreadable: {type(exc).__name__}")
        return None


def run_list(args: argparse.Namespace) -> int:
    path = existing_state_dir(args)
    doc = collect(path)
    if args.json:
        emit_json(doc)
        return EXIT_OK if not doc["problems"] else EXIT_FAILURE
    lines = [f"SSH host keys ({SSH_FILE}): {len(doc['ssh'])}"]
    lines += [f"  {e['host']}{'' if e['port'] is None else ':' + str(e['port'])}  {e['key_type']}"
              f"  {e['fingerprint']}" for e in doc["ssh"]]
    lines.append(f"WinRM certificates ({WINRM_FILE}): {len(doc['winrm'])}")
    lines += [f"  {e['host']}  sha256 {_short(str(e['sha256']))}  last seen {e['last_seen'] or '-'}"
              for e in doc["winrm"]]
    lines.append(f"Central Command TLS pins: {len(doc['server_tls'])}"
                 + ("  (legacy server_cert_pin.hex present)" if doc["legacy_server_pin"] else ""))
    for e in doc["server_tls"]:
        spki = e["spki_sha256"] if isinstance(e["spki_sha256"], list) else []
        lines.append(f"  {e['host']}  {e['source']}  since {e['pinned_at']}  "
                     f"{len(spki)} key(s): {', '.join(_short(str(s)) for s in spki[:2])}")
    keys = doc["server_keys"]
    if keys:
        lines.append(f"Server signing keys: current {keys['current']}, previous "
                     f"{keys['previous'] or '-'} ({keys['source']}, {keys['received_at']})")
    else:
        lines.append("Server signing keys: none trusted yet (trust on the next checkin)")
    if doc["server_keys_need_reseed"]:
        from agent.site.serverkeys import RESET_COMMAND

        lines.append(f"  NEEDS RE-SEED: the key file was unreadable; run `{RESET_COMMAND}`")
    lines += [f"problem: {p}" for p in doc["problems"]]
    emit(lines)
    return EXIT_OK if not doc["problems"] else EXIT_FAILURE


# --- clear --------------------------------------------------------------------------------------


def split_host_port(text: str) -> tuple[str, int | None]:
    """``HOST``, ``HOST:PORT``, ``[V6]`` or ``[V6]:PORT``; the port is None when not given."""
    text = text.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise CommandError(f"{text!r}: expected [ADDRESS] or [ADDRESS]:PORT", EXIT_USAGE)
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""  # a bare IPv6 address or a name
    if not host:
        raise CommandError(f"{text!r}: no host", EXIT_USAGE)
    if not port_text:
        return host, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise CommandError(f"{text!r}: the port must be 1-65535", EXIT_USAGE)
    return host, int(port_text)


def run_clear(args: argparse.Namespace) -> int:
    import asyncio

    path = existing_state_dir(args)
    with locked(path, "pins clear"):
        if args.ssh:
            from agent.exec.known_hosts import KnownHosts

            host, port = split_host_port(args.ssh)
            before = [e for e in collect(path)["ssh"]
                      if e["host"] == host and (port is None or e["port"] in (port, None))]
            removed = asyncio.run(KnownHosts(path / SSH_FILE).clear(host, port))
            what = f"SSH host key pin of {args.ssh}"
            fields: dict[str, Any] = {"host": host, "port": port, "pin_kind": "ssh",
                                      "fingerprints": [e["fingerprint"] for e in before]}
        elif args.winrm:
            from agent.exec.winrm_transport import WinrmPins, pin_key

            host, port = split_host_port(args.winrm)
            key = pin_key(host, port or 5986)
            pins = WinrmPins(path / WINRM_FILE)
            old = pins.get(key)
            removed = asyncio.run(pins.clear(key))
            what = f"WinRM certificate pin of {key}"
            fields = {"host": key, "pin_kind": "winrm", "fingerprints": [old] if old else []}
        else:
            hosts = [e["host"] for e in collect(path)["server_tls"]]
            removed = False
            for name in (TLS_PINS_FILE, LEGACY_PIN_FILE):
                removed = _remove(path / name) or removed
            what = "Central Command TLS pins"
            fields = {"pin_kind": "server_tls", "hosts": hosts}
        result = {"action": "pins.clear", "what": what, "removed": removed, **fields}
        if removed:
            audit("pin_cleared", f"operator cleared the {what}; the next connection pins what it "
                  "is shown", **fields)
    if args.json:
        emit_json(result)
    elif removed:
        emit([f"cleared the {what}; the next connection re-pins (trust on first use)"])
    else:
        emit([f"no {what} to clear"])
    return EXIT_OK if removed else EXIT_FAILURE


def _remove(path: Path) -> bool:
    from agent.state import fsync_dir

    try:
        path.unlink()
    except FileNotFoundError:
        return False
    fsync_dir(path.parent)
    return True


# --- reset-server-keys --------------------------------------------------------------------------


def run_reset(args: argparse.Namespace) -> int:
    from agent.site.serverkeys import FILE_NAME, RESEED_MARKER

    path = existing_state_dir(args)
    configured = _configured_key(args)
    with locked(path, "pins reset-server-keys"):
        before = collect(path)
        had_marker = before["server_keys_need_reseed"]
        removed_file = _remove(path / FILE_NAME)
        removed_marker = _remove(path / RESEED_MARKER)
        changed = removed_file or removed_marker
        nxt = ("the configured server_public_key " + str(_key_fp(configured)) if configured
               else "the keys offered by the next checkin")
        fields: dict[str, Any] = {
            "removed_key_file": removed_file, "cleared_reseed_marker": removed_marker,
            "previous_current": (before["server_keys"] or {}).get("current"),
            "previous_previous": (before["server_keys"] or {}).get("previous"),
            "next_trust": "config" if configured else "first_checkin"}
        if changed:
            audit("server_keys_reset", f"operator reset the trusted server signing keys; the "
                  f"agent will trust {nxt}", **fields)
    result = {"action": "pins.reset-server-keys", "changed": changed,
              "needed_reseed": had_marker, **fields}
    if args.json:
        emit_json(result)
    elif changed:
        emit([f"removed {FILE_NAME if removed_file else 'nothing'}"
              + (f" and {RESEED_MARKER}" if removed_marker else ""),
              f"on the next start the agent trusts {nxt}"])
    else:
        emit(["no trusted server keys and no re-seed marker: nothing to reset"])
    return EXIT_OK if changed else EXIT_FAILURE


def _configured_key(args: argparse.Namespace) -> str | None:
    """The config's ``server_public_key`` when a config is readable (only for the message)."""
    from agent.config import ConfigError, config_path, load_config
    from agent.site.serverkeys import valid_key

    cfg_path = config_path(getattr(args, "config", None))
    if not cfg_path.exists():
        return None
    try:
        key = load_config(cfg_path).config.server_public_key
    except ConfigError:
        return None
    key = key.lower() if isinstance(key, str) else None
    return key if key and valid_key(key) else None

