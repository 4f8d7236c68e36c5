"""The trusted server key set ``T`` (orders.md §3), persisted in ``server_keys.json``."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from nacl.exceptions import CryptoError
from nacl.signing import VerifyKey

from agent.crypto.keys import fingerprint
from agent.log import get_logger
from agent.state.atomic import atomic_write, quarantine
from agent.timefmt import format_rfc3339

log = get_logger("checkin")

FILE_NAME = "server_keys.json"
#: Written (before the quarantine) when ``server_keys.json`` was unreadable: until an operator
#: acts, no restart trusts the keys the network offers. The operator either removes this file
#: (the next checkin's keys are trusted, as on a fresh install), sets a (new) ``server_public_key``
#: in the config, or writes a valid ``server_keys.json``.
RESEED_MARKER = "server_keys.reseed"
#: The operator command that removes the key file and the marker (agent.commands.pins).
RESET_COMMAND = "msp-agent pins reset-server-keys"
_HEX64 = re.compile(r"[0-9a-f]{64}")
UNTRUSTED_LOG_EVERY_S = 3600.0


def valid_key(text: object) -> bool:
    """Exactly 64 lower-hex characters that decode to a valid Ed25519 point."""
    if not isinstance(text, str) or not _HEX64.fullmatch(text):
        return False
    try:
        VerifyKey(bytes.fromhex(text))
    except (CryptoError, ValueError):
        return False
    return True


@dataclass(frozen=True, slots=True)
class KeyPair:
    current: str
    previous: str | None = None

    def as_set(self) -> set[str]:
        return {self.current} | ({self.previous} if self.previous else set())


def offered_pair(server_public_key: str | None, server_public_keys: list[str]) -> KeyPair | None:
    """``K`` from a checkin response (orders.md §3); invalid strings are ignored."""
    keys = [k for k in server_public_keys if valid_key(k)]
    current = server_public_key if valid_key(server_public_key) else (keys[0] if keys else None)
    if current is None:
        return None
    previous = next((k for k in keys if k != current), None)
    return KeyPair(str(current), previous)


class ServerKeys:
    """Loads, updates and persists ``T``; never changed by key material inside payloads."""

    def __init__(self, state_dir: Path, configured: str | None = None) -> None:
        self.path = state_dir / FILE_NAME
        self.marker = state_dir / RESEED_MARKER
        #: Trust was lost (a corrupt key file) and waits for an operator (see RESEED_MARKER).
        self.needs_reseed = False
        self.trusted: KeyPair | None = None
        self.source = ""
        self.alert = ""
        self._last_untrusted_log = -UNTRUSTED_LOG_EVERY_S
        self._load(configured)

    def _load(self, configured: str | None) -> None:
        configured = configured.lower() if configured and valid_key(configured.lower()) else None
        if self.path.exists():
            try:
                doc = json.loads(self.path.read_bytes())
                current = doc["current"]
                previous = doc.get("previous")
                if not valid_key(current) or (previous is not None and not valid_key(previous)):
                    raise ValueError("invalid key in file")
                self.trusted = KeyPair(current, previous)
                self.source = str(doc.get("source", ""))
                self.marker.unlink(missing_ok=True)  # an operator wrote a valid file
                return
            except (OSError, ValueError, KeyError, TypeError):
                # Never re-seed from a response, not even after a restart: a stale or tampered
                # file means no trust until an operator acts. The marker comes first, so a crash
                # cannot leave the file gone without it.
                atomic_write(self.marker, json.dumps(
                    {"detected_at": format_rfc3339(), "configured": configured}).encode())
                moved = quarantine(self.path)
                log.error("server_keys_corrupt", "server key file unreadable; orders will not "
                          "verify until an operator re-seeds trust", moved_to=moved.name)
        if self.marker.exists():
            if configured is not None and configured != self._marked_configured():
                self.marker.unlink()
                log.warning("server_keys.reseeded", "trust re-seeded from the configured "
                            "server_public_key", current=_fp(configured))
                self._set(KeyPair(configured), "config")
                return
            self.needs_reseed = True
            self.alert = (f"server signing keys need an operator re-seed ({FILE_NAME} was "
                          f"unreadable): set server_public_key in the config, or run "
                          f"`{RESET_COMMAND}` (service stopped) to trust the next checkin")
            log.error("server_keys_need_reseed", self.alert)
            return
        if configured is not None:
            self._set(KeyPair(configured), "config")

    def _marked_configured(self) -> str | None:
        """The configured key when trust was lost (that one re-seeds nothing by itself)."""
        try:
            value = json.loads(self.marker.read_bytes()).get("configured")
        except (OSError, ValueError, AttributeError):
            return None
        return value if isinstance(value, str) else None

    def _set(self, pair: KeyPair, source: str) -> None:
        self.trusted = pair
        self.source = source
        doc = {"current": pair.current, "previous": pair.previous, "source": source,
               "received_at": format_rfc3339()}
        atomic_write(self.path, json.dumps(doc).encode())

    def reseed_reason(self) -> str:
        """Why no key is trusted when an operator must act; "" otherwise."""
        return self.alert if self.needs_reseed else ""

    def trusted_keys(self) -> list[str]:
        return sorted(self.trusted.as_set()) if self.trusted else []

    def offer(self, pair: KeyPair | None, now: float | None = None) -> str:
        """Apply the rules of orders.md §3; returns what happened (for logs and tests)."""
        if pair is None:
            return "no_offer"
        if self.trusted is None:
            if self.needs_reseed:
                return "untrusted"  # waits for an operator (RESEED_MARKER)
            self._set(pair, "first_checkin")
            log.warning("server_keys.trusted", "trusting Central Command's signing keys on first "
                        "checkin", current=fingerprint(bytes.fromhex(pair.current)),
                        previous=_fp(pair.previous))
            return "first_checkin"
        trusted = self.trusted.as_set()
        offered = pair.as_set()
        if offered <= trusted:
            if pair != self.trusted:
                self._set(pair, self.source or "rotation")
            self.alert = ""
            return "unchanged"
        if offered & trusted:
            old = self.trusted
            self._set(pair, "rotation")
            self.alert = ""
            log.warning("server_keys.rotated", "Central Command rotated its signing key",
                        old_current=_fp(old.current), old_previous=_fp(old.previous),
                        new_current=_fp(pair.current), new_previous=_fp(pair.previous))
            return "rotation"
        self.alert = "server offered signing keys that share nothing with the trusted set"
        t = time.monotonic() if now is None else now
        if t - self._last_untrusted_log >= UNTRUSTED_LOG_EVERY_S:
            self._last_untrusted_log = t
            log.error("server_keys_untrusted", "Central Command offered unknown signing keys; "
                      "keeping the trusted set", offered_current=_fp(pair.current),
                      trusted=[_fp(k) for k in sorted(trusted)])
        return "untrusted"


def _fp(key: str | None) -> str | None:
    return fingerprint(bytes.fromhex(key)) if key else None
