"""Adopting a Go installation's state (runtime.md §3.3): plaintext Linux credentials into the
sealed store, the Go ``healing_journal.json`` into ours."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import msgspec

from agent.log import get_logger, register_secret
from agent.protocol import CredentialSet
from agent.protocol.credentials import LinuxTarget
from agent.state.atomic import fsync_dir, quarantine
from agent.state.daemon_state.document import GO_JOURNAL_NAME, SECRET_KEYS, TARGET_KEYS, DaemonState

log = get_logger("state")


# --- Go adoption: credentials ----------------------------------------------------------------------


class SealedStore(Protocol):
    """``credentials.sealed`` (:class:`agent.site.state.SealedCredentials`)."""

    def load(self) -> CredentialSet | None: ...

    def save(self, creds: CredentialSet) -> None: ...


def _target_key(t: Mapping[str, Any]) -> tuple[str, int]:
    port = t.get("port")
    return str(t.get("hostname", "")), port if isinstance(port, int) and not isinstance(port, bool) else 22


def move_secrets(st: DaemonState, sealed: SealedStore) -> tuple[CredentialSet, int, int]:
    """Move ``password``/``sudo_password``/``private_key`` of ``st.linux_targets`` into the sealed
    store (a credential already sealed for the same host and port wins: it came from a checkin),
    then strip them from ``st``. Returns the sealed set, targets moved, entries unusable.
    Secret values are registered with the log filter and never logged."""
    current = sealed.load() or CredentialSet()
    have = {(lt.hostname, lt.port) for lt in current.linux_targets}
    moved = bad = 0
    added: list[LinuxTarget] = []
    for t in st.linux_targets:
        secrets = {k: t[k] for k in SECRET_KEYS if isinstance(t.get(k), str) and t[k]}
        if not secrets:
            continue
        register_secret(*secrets.values())
        if _target_key(t) in have:
            moved += 1
            continue
        fields = {k: t[k] for k in (*TARGET_KEYS, "distro") if t.get(k) is not None}
        fields.setdefault("port", 22)
        try:
            lt = msgspec.convert({**fields, **secrets}, LinuxTarget)
        except msgspec.ValidationError:
            bad += 1  # the message may quote a value: not logged
            continue
        added.append(lt)
        have.add(_target_key(fields))
        moved += 1
    if added:
        current = CredentialSet(
            windows_targets=list(current.windows_targets), linux_targets=[*current.linux_targets, *added]
        )
        sealed.save(current)
    st.linux_targets = [{k: v for k, v in t.items() if k not in SECRET_KEYS} for t in st.linux_targets]
    return current, moved, bad


# --- Go adoption: healing_journal.json -------------------------------------------------------------


class JournalAppend(Protocol):
    path: Path

    def append(self, heal_id: str, event: str, *, durable: bool, **fields: Any) -> None: ...


@dataclass(frozen=True, slots=True)
class GoHeal:
    """An in-flight heal of the Go daemon's journal, recorded by us as ``crashed``."""

    heal_id: str
    incident_id: str
    host: str
    check_type: str
    runbook_id: str
    platform: str
    level: str
    status: str


def _first(e: Mapping[str, Any], *keys: str) -> str:
    for k in keys:
        v = e.get(k)
        if isinstance(v, str) and v:
            return v
    return ""


def adopt_go_journal(
    state_dir: Path, journal: JournalAppend, on_crashed: Callable[[GoHeal], None] | None = None
) -> int | None:
    """healing.md §4.6 item 4. Entries in status ``started``/``phase_complete`` become ``crashed``
    records in our journal (``begin`` + ``end``); ``on_crashed`` reports each as a telemetry failure;
    the file is renamed ``healing_journal.json.adopted``. Heal ids are derived from the entry, so a
    crash before the rename does not record an entry twice. None: no Go journal."""
    path = Path(state_dir) / GO_JOURNAL_NAME
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        doc = json.loads(raw)
        entries = doc.get("entries") if isinstance(doc, dict) else doc
        if entries is None:
            entries = []
        if not isinstance(entries, list):
            raise ValueError("entries is not a list")
    except ValueError:
        dest = quarantine(path)
        log.error("state.go_journal_corrupt", f"{GO_JOURNAL_NAME} is malformed; moved to {dest.name}")
        return 0
    try:
        ours = journal.path.read_bytes()
    except FileNotFoundError:
        ours = b""
    n = 0
    for e in entries:
        if not isinstance(e, dict):
            continue
        status = _first(e, "status", "state")
        if status not in ("started", "phase_complete"):
            continue
        digest = hashlib.sha256(json.dumps(e, sort_keys=True, default=str).encode()).hexdigest()[:24]
        heal = GoHeal(
            heal_id=f"go-{digest}",
            incident_id=_first(e, "incident_id", "id"),
            host=_first(e, "hostname", "host", "target", "host_id"),
            check_type=_first(e, "check_type", "incident_type"),
            runbook_id=_first(e, "runbook_id", "runbook"),
            platform=_first(e, "platform"),
            level=_first(e, "level", "tier") or "L1",
            status=status,
        )
        n += 1
        if f'"heal_id":"{heal.heal_id}"'.encode() in ours:
            continue  # recorded before a crash that came ahead of the rename
        journal.append(
            heal.heal_id,
            "begin",
            durable=True,
            level=heal.level,
            incident_id=heal.incident_id,
            runbook_id=heal.runbook_id,
            host=heal.host,
            platform=heal.platform,
            check_type=heal.check_type,
            trigger="go_journal",
        )
        journal.append(
            heal.heal_id,
            "end",
            durable=True,
            outcome="crashed",
            error_category="unknown",
            error=f"in flight in the Go daemon (status {status}); outcome unknown",
        )
        if on_crashed is not None:
            on_crashed(heal)
    os.rename(path, path.with_name(GO_JOURNAL_NAME + ".adopted"))
    fsync_dir(path.parent)
    return n
