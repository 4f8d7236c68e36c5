"""``daemon_state.json``, the document: its model, codec (Go's keys and types, nanosecond RFC 3339)
and the file (atomic saves, quarantine of a damaged file without its credential values)."""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from agent.log import get_logger
from agent.state.atomic import atomic_write, fsync_dir, quarantine
from agent.timefmt import TimeFormatError, format_compact
from agent.timefmt import format_rfc3339_ns as format_rfc3339_ns
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
