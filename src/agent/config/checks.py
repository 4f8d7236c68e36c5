"""Value checks that a key's type and bounds cannot express, named by the key's declaration.

Each check takes the typed value (never ``None``) and returns ``None`` when the value is usable,
else the reason, which must not quote the value (it may be a secret).
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

_HEX64_RE = re.compile(r"[0-9a-fA-F]{64}")


def split_pins(text: str | None) -> tuple[str, ...]:
    """``tls_pin_hash`` as pins: comma- or space-separated, lowercased."""
    if not text:
        return ()
    return tuple(p.lower() for p in text.replace(",", " ").split())


def spki_pins(text: str) -> str | None:
    if all(_HEX64_RE.fullmatch(pin) for pin in split_pins(text)):
        return None
    return "each pin must be 64 hex characters (SPKI SHA-256)"


def ed25519_public_key(text: str) -> str | None:
    return None if _HEX64_RE.fullmatch(text) else "must be 64 hex characters (Ed25519 public key)"


def regex(text: str) -> str | None:
    """``official_flake_pattern``: a regular expression that compiles."""
    try:
        re.compile(text)
    except re.error:
        return "is not a valid regular expression"
    return None


#: The privileged helper's ``start-backup`` job names (agent.priv.schema.BACKUP_JOB; config sits
#: below agent.priv, tests/config holds the two equal).
BACKUP_UNIT_RE = re.compile(r"restic-backup[A-Za-z0-9_-]{0,48}(?:\.service)?", re.ASCII)


def backup_unit(text: str) -> str | None:
    """``appliance_backup_unit``: empty, or a unit the privileged helper may start."""
    if not text or BACKUP_UNIT_RE.fullmatch(text):
        return None
    return ("must name a restic-backup unit the privileged helper may start "
            "(restic-backup[A-Za-z0-9_-]{0,48}, .service optional)")


def host_names(hosts: tuple[str, ...]) -> str | None:
    """``download_allowed_hosts``: DNS names only, never an IP literal."""
    for host in hosts:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if not re.fullmatch(r"[A-Za-z0-9.-]{1,253}", host):
                return "each entry must be a host name"
            continue
        return "must name hosts, not IP addresses"
    return None


def phi_hash_key(text: str) -> str | None:
    from agent.phi.tokens import parse_hex_key  # the parser phi.configure() uses, so both agree

    try:
        parse_hex_key(text)
    except ValueError:
        return "must be hex, at least 16 bytes (32 hex characters)"
    return None


def absolute_path(text: str) -> str | None:
    return None if text.startswith("/") else "must be an absolute path"


def prom_file(text: str) -> str | None:
    """``metrics_textfile``: empty (off) or an absolute path ending in ``.prom`` (node_exporter's
    textfile collector reads only those)."""
    if not text:
        return None
    return absolute_path(text) or (None if text.endswith(".prom") else
                                   "must end in .prom (node_exporter's textfile collector)")


def central_endpoint(url: str) -> str | None:
    """``https://``, or ``http://`` to a loopback address (tests, demo) (runtime.md §2.1)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        _ = parts.port
    except ValueError:
        return "is not a valid URL"
    if not host:
        return "is not a valid URL (no host)"
    if parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(host)):
        return None
    return "must use https:// (http:// only to a loopback address)"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
