"""Central Command TLS pins (central-api.md §3.2): configured, trust-on-first-use, legacy.

``tls_pins.json``::

    {"version": 1, "hosts": {"<host>:<port>": {"spki_sha256": ["<hex>", ...],
                                              "pinned_at": "<RFC 3339>", "source": "tofu|legacy"}}}

A pin is never deleted or replaced automatically. A mismatch, or a pin file that cannot be
read, refuses the connection (fail closed) and raises :class:`PinMismatch`; recovery is an
operator action (``tls_pin_hash`` in the config, or ``msp-agent pins clear --server``, which
removes the file).
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

from agent.log import get_logger
from agent.state.atomic import atomic_write
from agent.timefmt import format_rfc3339
from agent.transport.der import spki_sha256

log = get_logger("transport")

PINS_NAME = "tls_pins.json"
LEGACY_PIN_NAME = "server_cert_pin.hex"
#: The operator command that removes the pins (agent.commands.pins).
CLEAR_COMMAND = "msp-agent pins clear --server"


class PinMismatch(Exception):
    """The presented chain matches no pin; nothing was sent on the connection."""

    def __init__(self, host: str, presented: list[str], reason: str = "no pinned key in chain") -> None:
        self.host = host
        self.presented = presented
        self.reason = reason
        super().__init__(f"TLS pin mismatch for {host}: {reason}")


class PinStore:
    """Checks validated chains against the pins; records TOFU pins atomically."""

    def __init__(self, state_dir: Path, configured: tuple[str, ...] = ()) -> None:
        self.path = state_dir / PINS_NAME
        self.legacy_path = state_dir / LEGACY_PIN_NAME
        self.configured = frozenset(p.lower() for p in configured)
        self._lock = threading.Lock()
        self.alert: str = ""  # non-empty while a mismatch is active (daemon_health tls_pin_alert)

    def _load(self) -> dict[str, dict[str, object]]:
        if not self.path.exists():
            return {}
        try:
            doc = json.loads(self.path.read_bytes())
            hosts = doc["hosts"]
            if not isinstance(hosts, dict):
                raise ValueError("hosts is not an object")
            return hosts
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # Never re-pin over a file we cannot read: that would let anyone in.
            raise PinMismatch("*", [], f"{PINS_NAME} is unreadable ({type(exc).__name__}); "
                              "refusing to connect until an operator fixes it or removes it "
                              f"with `{CLEAR_COMMAND}`") from None

    def check(self, host: str, chain_der: list[bytes]) -> str:
        """Verify a validated chain for ``host`` ("name:port"); returns the mode that passed."""
        presented = [spki_sha256(c) for c in chain_der]
        if self.configured:
            if self.configured.intersection(presented):
                self.alert = ""
                return "configured"
            self._mismatch(host, presented, "no certificate matches tls_pin_hash")
        with self._lock:
            hosts = self._load()
            entry = hosts.get(host)
            if entry is not None:
                raw = entry.get("spki_sha256") if isinstance(entry, dict) else None
                pinned = {str(x) for x in raw} if isinstance(raw, list) else set()
                if pinned.intersection(presented):
                    self.alert = ""
                    return "pinned"
                self._mismatch(host, presented, "no certificate matches the recorded pins")
            source = "tofu"
            if self.legacy_path.exists() and not hosts:
                legacy = self.legacy_path.read_text(errors="replace").strip().lower()
                leaf = hashlib.sha256(chain_der[0]).hexdigest() if chain_der else ""
                if legacy != leaf:
                    self._mismatch(host, presented, f"leaf does not match {LEGACY_PIN_NAME}")
                source = "legacy"
            hosts[host] = {"spki_sha256": presented, "source": source,
                           "pinned_at": format_rfc3339()}
            atomic_write(self.path, json.dumps({"version": 1, "hosts": hosts}, indent=1).encode())
        log.warning("tls.pinned", f"pinned Central Command's TLS chain ({source})", host=host,
                    spki_sha256=presented)
        self.alert = ""
        return source

    def _mismatch(self, host: str, presented: list[str], reason: str) -> None:
        self.alert = f"tls pin mismatch: {reason}"
        log.error("tls_pin_mismatch", f"refusing Central Command connection: {reason}; if the "
                  f"server's certificate changed legitimately, set tls_pin_hash or run "
                  f"`{CLEAR_COMMAND}` (service stopped)", host=host, reason=reason,
                  presented_spki_sha256=presented)
        raise PinMismatch(host, presented, reason)
