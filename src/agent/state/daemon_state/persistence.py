"""Tying ``daemon_state.json`` to the live objects (healing pipeline, rule engine, scan scheduler):
load and adopt at start, debounced saves after changes, a save at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from agent.log import get_logger
from agent.protocol import CredentialSet
from agent.state.daemon_state.adoption import (
    GoHeal,
    JournalAppend,
    SealedStore,
    adopt_go_journal,
    move_secrets,
)
from agent.state.daemon_state.document import (
    _NS,
    DEBOUNCE_S,
    DEDUP_IDLE_S,
    SECRET_KEYS,
    STATE_NAME,
    TARGET_KEYS,
    AgentExt,
    DaemonState,
    DaemonStateFile,
    DedupEntry,
    GoCooldown,
    HealingCounters,
    HostSchedule,
    encode,
    ns_to_s,
    s_to_ns,
)

log = get_logger("state")


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
