"""``daemon_state.json`` (runtime.md §3.2, §3.3; healing.md §4.4–§4.6, §6.1).

The file keeps the Go daemon's top-level keys and types, so a rollback to the Go daemon keeps its
cooldowns and scan times:

* ``linux_targets`` — ``{hostname, port, username, label}`` only; the secrets live in
  ``credentials.sealed``;
* ``l2_mode``, ``subscription_status`` — strings (empty = not received);
* ``cooldowns`` — ``{"<host>:<check_type>": {"last_seen": RFC 3339, "count": int,
  "cooldown_dur": int ns}}`` (the dedup cooldown of healing.md §4.4);
* ``last_successful_scan`` — ``{"<host>": RFC 3339}``; ``saved_at`` — RFC 3339;
* ``agent_ext`` — ours: schema version, L1 rule cooldowns, dedup discriminator sets, exhaustion,
  recurrence and suspension counters, the per-host scan schedule, ``adopted_from_go_at``.

Timestamps are written in UTC with nanosecond precision; any RFC 3339 form is read. Keys we do not
know (top level and inside ``agent_ext``) are kept on rewrite. A file that does not parse is
quarantined (``<name>.corrupt.<ts>``, with any credential values removed — or not kept at all when
they cannot all be found) and the agent runs on with empty state.

:class:`DaemonStatePersistence` ties the file to the live objects through small protocols (the
healing pipeline, the rule engine, the scan scheduler), adopts a Go installation's state (plaintext
Linux credentials into the sealed store, the Go ``healing_journal.json``), and saves after changes
(debounced) and at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

import msgspec

from agent.log import get_logger, register_secret
from agent.protocol import CredentialSet
from agent.protocol.credentials import LinuxTarget
from agent.state.atomic import atomic_write, fsync_dir, quarantine
from agent.timefmt import TimeFormatError, format_compact, format_rfc3339_ns
from agent.timefmt import parse_rfc3339_ns as _parse_rfc3339_ns

log = get_logger("state")

STATE_NAME: Final = "daemon_state.json"
GO_JOURNAL_NAME: Final = "healing_journal.json"
SCHEMA_VERSION: Final = 1
SECRET_KEYS: Final = ("password", "sudo_password", "private_key")
_SECRET_KEY: Final = re.compile(rb'"(' + b"|".join(k.encode() for k in SECRET_KEYS) + rb')"\s*:')
_SECRET_VALUE: Final = re.compile(
    rb'"(' + b"|".join(k.encode() for k in SECRET_KEYS) + rb')"\s*:\s*"(?:[^"\\]|\\.)*"'
)
TARGET_KEYS: Final = ("hostname", "port", "username", "label")
DEDUP_IDLE_S: Final = 7200.0
DEBOUNCE_S: Final = 5.0
MAX_BYTES: Final = 16 * 1024 * 1024
_NS: Final = 1_000_000_000


class StateFormatError(ValueError):
    """``daemon_state.json`` is not in the expected format."""


# --- time ----------------------------------------------------------------------------------------


def parse_rfc3339_ns(text: object) -> int:
    """Any RFC 3339 date-time (``T``/``t``/space, 0-n fraction digits, ``Z`` or offset) → unix ns."""
    try:
        return _parse_rfc3339_ns(text)
    except TimeFormatError as exc:
        raise StateFormatError(str(exc)) from None


def s_to_ns(t: float) -> int:
    """Float seconds (microsecond precision is what a float holds today) → ns."""
    return round(t * 1_000_000) * 1000


def ns_to_s(ns: int) -> float:
    return ns / _NS


# --- the document --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GoCooldown:
    """One Go ``cooldowns`` entry."""

    last_seen_ns: int
    count: int
    cooldown_dur_ns: int


@dataclass(frozen=True, slots=True)
class DedupEntry:
    """The dedup state of one ``host:check_type`` key (healing.md §4.4), in seconds."""

    last_seen: float
    count: int
    window_s: float
    discriminators: frozenset[str] = frozenset()


@dataclass
class HealingCounters:
    """What the pipeline persists: dedup cooldowns and the §4.5 counters (wall-clock seconds)."""

    dedup: dict[str, DedupEntry] = field(default_factory=dict)
    failures: dict[str, list[float]] = field(default_factory=dict)  # exhaustion
    heals_ok: dict[str, list[float]] = field(default_factory=dict)  # recurrence
    suspended: dict[str, tuple[float, str]] = field(default_factory=dict)  # until, reason


@dataclass(frozen=True, slots=True)
class HostSchedule:
    """A host's next scan (wall-clock seconds) and its early-rescan streak (healing.md §6.1)."""

    next_due: float
    early_streak: int = 0


@dataclass
class AgentExt:
    """Our ``agent_ext`` object."""

    rule_cooldowns: dict[str, float] = field(default_factory=dict)
    discriminators: dict[str, list[str]] = field(default_factory=dict)
    exhaustion: dict[str, list[float]] = field(default_factory=dict)
    recurrence: dict[str, list[float]] = field(default_factory=dict)
    suspensions: dict[str, tuple[float, str]] = field(default_factory=dict)
    schedule: dict[str, HostSchedule] = field(default_factory=dict)
    adopted_from_go_at_ns: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class DaemonState:
    linux_targets: list[dict[str, Any]] = field(default_factory=list)
    l2_mode: str = ""
    subscription_status: str = ""
    cooldowns: dict[str, GoCooldown] = field(default_factory=dict)
    last_successful_scan: dict[str, int] = field(default_factory=dict)  # host -> ns
    saved_at_ns: int | None = None
    ext: AgentExt | None = None  # None: no agent_ext (a Go daemon's file, or none at all)
    extra: dict[str, Any] = field(default_factory=dict)  # unknown top-level keys, kept on rewrite

    def secrets_present(self) -> bool:
        return any(t.get(k) for t in self.linux_targets for k in SECRET_KEYS)


_KNOWN_TOP: Final = frozenset(
    {
        "linux_targets",
        "l2_mode",
        "subscription_status",
        "cooldowns",
        "last_successful_scan",
        "saved_at",
        "agent_ext",
    }
)
_KNOWN_EXT: Final = frozenset(
    {
        "schema",
        "rule_cooldowns",
        "discriminators",
        "exhaustion",
        "recurrence",
        "suspensions",
        "schedule",
        "adopted_from_go_at",
    }
)


def _obj(v: Any, what: str) -> dict[str, Any]:
    if v is None:
        return {}  # Go marshals a nil map as null
    if not isinstance(v, dict):
        raise StateFormatError(f"{what} is not an object")
    return v


def _int(v: Any, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int | float) or v != int(v):
        raise StateFormatError(f"{what} is not an integer")
    return int(v)


def _str(v: Any, what: str) -> str:
    if v is None:
        return ""
    if not isinstance(v, str):
        raise StateFormatError(f"{what} is not a string")
    return v


def _times(v: Any, what: str) -> list[float]:
    if not isinstance(v, list):
        raise StateFormatError(f"{what} is not a list")
    return [ns_to_s(parse_rfc3339_ns(x)) for x in v]


def _decode_ext(raw: dict[str, Any]) -> AgentExt:
    ext = AgentExt(extra={k: v for k, v in raw.items() if k not in _KNOWN_EXT})
    for k, v in _obj(raw.get("rule_cooldowns"), "rule_cooldowns").items():
        ext.rule_cooldowns[k] = ns_to_s(parse_rfc3339_ns(v))
    for k, v in _obj(raw.get("discriminators"), "discriminators").items():
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise StateFormatError("discriminators entry is not a list of strings")
        ext.discriminators[k] = list(v)
    for k, v in _obj(raw.get("exhaustion"), "exhaustion").items():
        ext.exhaustion[k] = _times(v, "exhaustion entry")
    for k, v in _obj(raw.get("recurrence"), "recurrence").items():
        ext.recurrence[k] = _times(v, "recurrence entry")
    for k, v in _obj(raw.get("suspensions"), "suspensions").items():
        e = _obj(v, "suspension")
        ext.suspensions[k] = (ns_to_s(parse_rfc3339_ns(e.get("until"))), _str(e.get("reason"), "reason"))
    for k, v in _obj(raw.get("schedule"), "schedule").items():
        e = _obj(v, "schedule entry")
        ext.schedule[k] = HostSchedule(
            ns_to_s(parse_rfc3339_ns(e.get("next_due"))), _int(e.get("early_streak", 0), "early_streak")
        )
    at = raw.get("adopted_from_go_at")
    ext.adopted_from_go_at_ns = parse_rfc3339_ns(at) if at else None
    return ext


def decode(raw: bytes) -> DaemonState:
    """Parse the file; raises :class:`StateFormatError` when it is not a daemon state document."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise StateFormatError(f"not JSON ({type(exc).__name__})") from None
    if not isinstance(doc, dict):
        raise StateFormatError("the top level is not an object")
    st = DaemonState(extra={k: v for k, v in doc.items() if k not in _KNOWN_TOP})
    targets = doc.get("linux_targets")
    if targets is not None:
        if not isinstance(targets, list) or not all(isinstance(t, dict) for t in targets):
            raise StateFormatError("linux_targets is not a list of objects")
        st.linux_targets = [dict(t) for t in targets]
    st.l2_mode = _str(doc.get("l2_mode"), "l2_mode")
    st.subscription_status = _str(doc.get("subscription_status"), "subscription_status")
    for k, v in _obj(doc.get("cooldowns"), "cooldowns").items():
        e = _obj(v, "cooldown entry")
        st.cooldowns[k] = GoCooldown(
            parse_rfc3339_ns(e.get("last_seen")),
            _int(e.get("count", 0), "count"),
            _int(e.get("cooldown_dur", 0), "cooldown_dur"),
        )
    for k, v in _obj(doc.get("last_successful_scan"), "last_successful_scan").items():
        st.last_successful_scan[k] = parse_rfc3339_ns(v)
    if doc.get("saved_at"):
        st.saved_at_ns = parse_rfc3339_ns(doc["saved_at"])
    if "agent_ext" in doc and doc["agent_ext"] is not None:
        st.ext = _decode_ext(_obj(doc["agent_ext"], "agent_ext"))
    return st


def _ts(t: float) -> str:
    return format_rfc3339_ns(s_to_ns(t))


def encode(st: DaemonState, *, saved_at_ns: int | None = None) -> bytes:
    """The file's bytes: the Go keys first (Go types), unknown keys kept, ``agent_ext`` last."""
    doc: dict[str, Any] = {
        "linux_targets": [{k: v for k, v in t.items() if k not in SECRET_KEYS} for t in st.linux_targets],
        "l2_mode": st.l2_mode,
        "subscription_status": st.subscription_status,
        "cooldowns": {
            k: {
                "last_seen": format_rfc3339_ns(c.last_seen_ns),
                "count": c.count,
                "cooldown_dur": c.cooldown_dur_ns,
            }
            for k, c in sorted(st.cooldowns.items())
        },
        "last_successful_scan": {h: format_rfc3339_ns(t) for h, t in sorted(st.last_successful_scan.items())},
    }
    at = saved_at_ns if saved_at_ns is not None else st.saved_at_ns
    if at is not None:
        doc["saved_at"] = format_rfc3339_ns(at)
    for k, v in st.extra.items():
        doc.setdefault(k, v)
    if st.ext is not None:
        e = st.ext
        ext: dict[str, Any] = {
            "schema": SCHEMA_VERSION,
            "rule_cooldowns": {k: _ts(v) for k, v in sorted(e.rule_cooldowns.items())},
            "discriminators": {k: sorted(v) for k, v in sorted(e.discriminators.items()) if v},
            "exhaustion": {k: [_ts(t) for t in v] for k, v in sorted(e.exhaustion.items()) if v},
            "recurrence": {k: [_ts(t) for t in v] for k, v in sorted(e.recurrence.items()) if v},
            "suspensions": {k: {"until": _ts(u), "reason": r} for k, (u, r) in sorted(e.suspensions.items())},
            "schedule": {
                k: {"next_due": _ts(s.next_due), "early_streak": s.early_streak}
                for k, s in sorted(e.schedule.items())
            },
        }
        if e.adopted_from_go_at_ns is not None:
            ext["adopted_from_go_at"] = format_rfc3339_ns(e.adopted_from_go_at_ns)
        for k, v in e.extra.items():
            ext.setdefault(k, v)
        doc["agent_ext"] = ext
    return json.dumps(doc, indent=2, ensure_ascii=False).encode() + b"\n"


class DaemonStateFile:
    """Load (quarantining a malformed file) and save (atomic, 0600) ``daemon_state.json``."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / STATE_NAME
        self.quarantined: Path | None = None

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> DaemonState | None:
        """The parsed file, or None when it is absent or was malformed (then it is quarantined)."""
        try:
            with open(self.path, "rb") as fh:
                raw = fh.read(MAX_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.error(
                "state.daemon_state_unreadable",
                f"{STATE_NAME} cannot be read ({exc.strerror}); "
                "starting with empty cooldowns, counters and scan schedule",
            )
            return None
        try:
            if len(raw) > MAX_BYTES:
                raise StateFormatError("file too large")
            return decode(raw)
        except StateFormatError as exc:
            try:
                where = self._set_aside(raw)
            except OSError as err:
                where = f"could not be moved aside ({err.strerror})"
            log.error(
                "state.daemon_state_corrupt",
                f"{STATE_NAME} is malformed ({exc}); {where}, "
                "starting with empty cooldowns, counters and scan schedule",
            )
            return None

    def _set_aside(self, raw: bytes) -> str:
        """Quarantine a malformed file. A Go daemon's file may hold plaintext target credentials
        (runtime.md §3.3): then the copy kept has their values removed, and when they cannot all be
        found (a value cut off mid-string) no copy is kept at all."""
        if not _SECRET_KEY.search(raw):
            self.quarantined = quarantine(self.path)
            return f"moved to {self.quarantined.name}"
        redacted = _SECRET_VALUE.sub(rb'"\1": "[removed]"', raw)
        if any(not redacted.startswith(b' "[removed]"', m.end()) for m in _SECRET_KEY.finditer(redacted)):
            os.unlink(self.path)
            fsync_dir(self.path.parent)
            return "deleted without a copy (it held credential values that could not be removed)"
        dest = self.path.with_name(f"{self.path.name}.corrupt.{format_compact()}")
        atomic_write(dest, redacted, 0o600)
        os.unlink(self.path)
        fsync_dir(self.path.parent)
        self.quarantined = dest
        return f"moved to {dest.name} with its credential values removed"

    def save(self, st: DaemonState, *, now_ns: int | None = None) -> None:
        at = now_ns if now_ns is not None else time.time_ns()
        st.saved_at_ns = at
        atomic_write(self.path, encode(st, saved_at_ns=at), 0o600)


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


# --- the live objects ------------------------------------------------------------------------------


class HealingStateSource(Protocol):
    def export_state(self) -> HealingCounters: ...

    def restore_state(self, saved: HealingCounters) -> None: ...


class RuleCooldownSource(Protocol):
    def export_cooldowns(self) -> dict[str, float]: ...

    def restore_cooldowns(self, saved: Mapping[str, object]) -> None: ...


class ScheduleSource(Protocol):
    def export_schedule(self) -> dict[str, HostSchedule]: ...

    def restore_schedule(
        self, saved: Mapping[str, HostSchedule], last_scans: Mapping[str, float]
    ) -> None: ...


@dataclass
class Adoption:
    """What start-up found and adopted (one summary log line)."""

    from_go: bool = False
    cooldowns: int = 0
    scan_times: int = 0
    credentials_moved: int = 0
    credentials_unusable: int = 0
    journal_crashed: int | None = None
    quarantined: str = ""


def _counters_from(st: DaemonState) -> HealingCounters:
    ext = st.ext or AgentExt()
    dedup = {
        k: DedupEntry(
            ns_to_s(c.last_seen_ns),
            max(1, c.count),
            c.cooldown_dur_ns / _NS or 600.0,
            frozenset(ext.discriminators.get(k, ())),
        )
        for k, c in st.cooldowns.items()
    }
    return HealingCounters(
        dedup=dedup,
        failures={k: list(v) for k, v in ext.exhaustion.items()},
        heals_ok={k: list(v) for k, v in ext.recurrence.items()},
        suspended=dict(ext.suspensions),
    )


class DaemonStatePersistence:
    """Loads ``daemon_state.json`` into the live objects at start and writes them back: after each
    successful checkin and after changes (debounced 5 s, skipped when nothing changed), and at
    shutdown (:meth:`flush`)."""

    def __init__(
        self,
        state_dir: Path,
        *,
        healing: HealingStateSource,
        rules: RuleCooldownSource,
        schedule: ScheduleSource,
        linux_targets: Callable[[], Iterable[Mapping[str, Any]]] = list,
        subscription_status: Callable[[], str | None] = lambda: None,
        clock: Callable[[], float] = time.time,
        debounce_s: float = DEBOUNCE_S,
    ) -> None:
        self.file = DaemonStateFile(state_dir)
        self.state_dir = Path(state_dir)
        self.healing = healing
        self.rules = rules
        self.schedule = schedule
        self._linux_targets = linux_targets
        self._subscription = subscription_status
        self.clock = clock
        self.debounce_s = debounce_s
        self.doc = DaemonState(ext=AgentExt())
        self._last_written: bytes | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self.saves = 0

    @property
    def l2_mode(self) -> str:
        return self.doc.l2_mode

    @property
    def subscription_status(self) -> str:
        return self.doc.subscription_status

    # --- start-up -----------------------------------------------------------------------------------

    def start(
        self,
        *,
        sealed: SealedStore | None = None,
        on_credentials: Callable[[CredentialSet], None] | None = None,
        journal: JournalAppend | None = None,
        on_crashed: Callable[[GoHeal], None] | None = None,
    ) -> Adoption:
        """Load the file into the live objects; adopt a Go daemon's state (runtime.md §3.3 steps 5,
        6, 8). Call once, before any scan or heal."""
        rep = Adoption()
        loaded = self.file.load()
        if self.file.quarantined is not None:
            rep.quarantined = self.file.quarantined.name
        if loaded is not None:
            rep.from_go = loaded.ext is None
            if loaded.ext is None:
                loaded.ext = AgentExt()
            self.doc = loaded
        ext = self.doc.ext
        assert ext is not None
        rep.cooldowns = len(self.doc.cooldowns)
        self.healing.restore_state(_counters_from(self.doc))
        self.rules.restore_cooldowns(ext.rule_cooldowns)
        # Our schedule wins; a host without one (a Go daemon's file) is due one interval after its
        # last successful scan.
        rep.scan_times = len(self.doc.last_successful_scan)
        self.schedule.restore_schedule(
            dict(ext.schedule), {h: ns_to_s(ns) for h, ns in self.doc.last_successful_scan.items()}
        )
        rewrite = False
        if self.doc.secrets_present():
            if sealed is not None:
                creds, rep.credentials_moved, rep.credentials_unusable = move_secrets(self.doc, sealed)
                if on_credentials is not None:
                    on_credentials(creds)
            else:  # never keep plaintext on disk, even with nowhere to move it
                self.doc.linux_targets = [
                    {k: v for k, v in t.items() if k not in SECRET_KEYS} for t in self.doc.linux_targets
                ]
            rewrite = True
        if journal is not None:
            rep.journal_crashed = adopt_go_journal(self.state_dir, journal, on_crashed)
        if rep.from_go or rep.journal_crashed is not None:
            if ext.adopted_from_go_at_ns is None:
                ext.adopted_from_go_at_ns = s_to_ns(self.clock())
            rewrite = True
            log.info(
                "state.adopted_go",
                "adopted the Go daemon's state",
                daemon_state=rep.from_go,
                cooldowns=rep.cooldowns,
                scan_times=rep.scan_times,
                credentials_moved=rep.credentials_moved,
                credentials_unusable=rep.credentials_unusable,
                journal_crashed=rep.journal_crashed or 0,
            )
        if rewrite:
            self.save_now(force=True)
        return rep

    # --- saving -------------------------------------------------------------------------------------

    def snapshot(self) -> DaemonState:
        """The document as it should be on disk now (live objects + what they do not own)."""
        doc = self.doc
        ext = doc.ext or AgentExt()
        live = self.healing.export_state()
        now = self.clock()
        targets = [{k: t[k] for k in TARGET_KEYS if k in t} for t in self._linux_targets()]
        sub = self._subscription()
        return DaemonState(
            linux_targets=targets or [dict(t) for t in doc.linux_targets],
            l2_mode=doc.l2_mode,
            subscription_status=sub if sub is not None else doc.subscription_status,
            cooldowns={
                k: GoCooldown(s_to_ns(e.last_seen), e.count, round(e.window_s * _NS))
                for k, e in live.dedup.items()
                if now - e.last_seen < DEDUP_IDLE_S
            },
            last_successful_scan=dict(doc.last_successful_scan),
            saved_at_ns=doc.saved_at_ns,
            ext=AgentExt(
                rule_cooldowns=self.rules.export_cooldowns(),
                discriminators={
                    k: sorted(e.discriminators)
                    for k, e in live.dedup.items()
                    if e.discriminators and now - e.last_seen < DEDUP_IDLE_S
                },
                exhaustion={k: list(v) for k, v in live.failures.items() if v},
                recurrence={k: list(v) for k, v in live.heals_ok.items() if v},
                suspensions={k: v for k, v in live.suspended.items() if v[0] > now},
                schedule=self.schedule.export_schedule(),
                adopted_from_go_at_ns=ext.adopted_from_go_at_ns,
                extra=dict(ext.extra),
            ),
            extra=dict(doc.extra),
        )

    def record_scan(self, host: str, complete: bool, finished_at: float) -> None:
        """A host scan finished; a complete one updates ``last_successful_scan``."""
        if complete:
            self.doc.last_successful_scan[host] = s_to_ns(finished_at)
        self.request_save()

    def _prepare(self, force: bool) -> tuple[DaemonState, bytes] | None:
        doc = self.snapshot()
        body = encode(doc, saved_at_ns=0)  # compared without saved_at
        if not force and body == self._last_written:
            return None
        return doc, body

    def _write(self, doc: DaemonState, body: bytes) -> None:
        self.file.save(doc, now_ns=s_to_ns(self.clock()))
        self.doc.saved_at_ns = doc.saved_at_ns
        self._last_written = body
        self.saves += 1

    def save_now(self, *, force: bool = False) -> bool:
        """Write now (blocking) when something changed; True when written."""
        self._cancel_timer()
        prepared = self._prepare(force)
        if prepared is None:
            return False
        try:
            self._write(*prepared)
        except OSError as exc:
            log.error("state.daemon_state_write_failed", f"{STATE_NAME} not written: {exc.strerror}")
            return False
        return True

    def request_save(self) -> None:
        """Save within ``debounce_s`` (one write for a burst of changes). Needs a running loop;
        without one, nothing happens until :meth:`save_now`/:meth:`flush`."""
        if self._timer is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._timer = loop.call_later(self.debounce_s, self._fire)

    def _fire(self) -> None:
        self._timer = None
        if self._task is not None and not self._task.done():
            self.request_save()  # a write is still running: try again after the next interval
            return
        prepared = self._prepare(False)  # snapshot on the loop thread: no race with the pipeline
        if prepared is None:
            return
        self._task = asyncio.get_running_loop().create_task(self._write_async(*prepared))

    async def _write_async(self, doc: DaemonState, body: bytes) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(None, self._write, doc, body)
        except OSError as exc:
            log.error("state.daemon_state_write_failed", f"{STATE_NAME} not written: {exc.strerror}")

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def flush(self) -> None:
        """At shutdown (blocking, no network)."""
        self.save_now()

    def close(self) -> None:
        self._cancel_timer()
        if self._task is not None and not self._task.done():
            with contextlib.suppress(RuntimeError):
                self._task.cancel()
