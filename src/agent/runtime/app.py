"""The daemon: start-up, the supervisor loop, signals, reload and shutdown (runtime.md §4–§6)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from agent import __version__, native
from agent.config import SECRET_KEYS, Config, ConfigError, Loaded, load_config, reload_diff
from agent.jobs import Assembly, Component
from agent.log import configure as configure_logging
from agent.log import get_logger, register_secret
from agent.runtime.pacer import Pacer
from agent.runtime.sdnotify import Notifier
from agent.runtime.status import STALE_AFTER_S, StatusBoard
from agent.runtime.supervisor import STUCK_GRACE_S, Supervisor
from agent.state import Keys, StateDir

log = get_logger("runtime")

STATUS_LINE_EVERY_S = 5.0
FLUSH_RESERVE_S = 3.0
FORCED_EXIT_BUDGET_S = 1.5


def register_config_secrets(config: Config) -> None:
    """Every key declared secret (``config.SECRET_KEYS``) joins the log and egress filters."""
    register_secret(*(v for k in sorted(SECRET_KEYS) if isinstance(v := getattr(config, k), str)))


@dataclass
class RunOptions:
    config_path: Path
    flags: dict[str, object] = field(default_factory=dict)
    once: bool = False


class Agent:
    """One running agent. Construct after the config is loaded and the state dir is locked."""

    def __init__(self, loaded: Loaded, state: StateDir, keys: Keys, notifier: Notifier,
                 options: RunOptions, loop_name: str,
                 assemble: Callable[[Agent], Assembly]) -> None:
        """``assemble`` builds the components and their services (the composition root); the
        runtime knows them only as :class:`~agent.jobs.Component` s."""
        self.loaded = loaded
        self.config = loaded.config
        self.state = state
        self.keys = keys
        self.notifier = notifier
        self.options = options
        self.loop_name = loop_name
        self.supervisor = Supervisor()
        self.board = StatusBoard(state.path, loop_name, loaded.config.metrics_textfile)
        self.board.add_section("supervisor", self.supervisor.snapshot)
        self.board.add_section("config", self._config_status)
        self.stop_event = asyncio.Event()
        self.force_event = asyncio.Event()
        self.assembly = assemble(self)
        self.components: list[Component] = list(self.assembly.components)
        for comp in self.components:
            self.board.add_section(comp.name, comp.status)
        self.reload_error: str | None = None
        self.reloads = 0
        self.exit_code = 0
        self.once_failed = False  # ``run --once`` whose checkin failed: exit 1 (runtime.md §8)
        self._reload_task: asyncio.Task[bool] | None = None
        self._withheld = False
        self._status_dirty = True  # something not tracked by the supervisor's generation moved
        self.pacer: Pacer | None = None
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="io")

    # --- main -------------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(self._pool)
        self._install_signals(loop)
        self.notifier.status("starting")
        for comp in self.components:
            comp.install(self.supervisor)
        supervise = loop.create_task(self._supervise(), name="supervisor")
        await self._first_checkin()
        self.board.state = "running"
        self.status_changed()
        self.notifier.ready(self.status_line())
        log.info("agent.ready", "start-up complete", loop=self.loop_name)
        if self.options.once:
            await self._once_round()
            self.stop_event.set()
            checkin = self.supervisor.jobs.get("checkin")
            if checkin is not None and checkin.last_ok is not True:
                log.error("agent.once_failed", "the checkin of this --once run failed",
                          last_error=checkin.last_error)
                self.once_failed = True
        stop = loop.create_task(self.stop_event.wait())
        await asyncio.wait({stop, supervise}, return_when=asyncio.FIRST_COMPLETED)
        if supervise.done() and not supervise.cancelled() and supervise.exception():
            self.exit_code = 1  # the supervisor itself failed (runtime.md §1)
        supervise.cancel()
        stop.cancel()
        return await self._shutdown()

    async def _once_round(self) -> None:
        """``run --once`` after its checkin: every other enabled job once (the scan round, the
        order worker, the drains), then wait for every component to be idle (the heal queue
        drained), then every job once more so that what the heals produced (rescans, reports,
        evidence) goes out too. Each run is bounded by its job's deadline."""
        names = [n for n, job in self.supervisor.jobs.items()
                 if n != "checkin" and job.enabled()]
        await self._run_jobs(names)
        limit = max((self.supervisor.jobs[n].deadline for n in names), default=0.0) + 5.0
        loop = asyncio.get_running_loop()
        until = loop.time() + limit
        # The components' own queues have no event to wait on: polled, bounded.
        while not all(c.idle() for c in self.components) and loop.time() < until:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        await self._run_jobs(names)

    async def _run_jobs(self, names: list[str]) -> None:
        tasks = [(t, self.supervisor.jobs[n].deadline + 5.0) for n in names
                 if (t := self.supervisor.run_job_now(n)) is not None]
        if tasks:
            await asyncio.wait({t for t, _ in tasks}, timeout=max(d for _, d in tasks))

    async def _first_checkin(self) -> None:
        job = self.supervisor.jobs.get("checkin")
        if job is None:
            return
        task = self.supervisor.run_job_now("checkin")
        if task is not None:
            await asyncio.wait({task}, timeout=job.deadline + 5.0)

    def watchdog_every(self) -> float | None:
        """How often the watchdog is pinged (a quarter of ``WATCHDOG_USEC``); None without one."""
        wd = self.notifier.watchdog_interval
        return wd / 4 if wd else None

    async def _supervise(self) -> None:
        """The supervisor loop: asleep until a job is due, the watchdog ping is due, a held-back
        status write may go, or a schedule moved (:class:`~agent.runtime.pacer.Pacer`)."""
        loop = asyncio.get_running_loop()
        pacer = self.pacer = Pacer(self.supervisor, watchdog_every=self.watchdog_every())
        last_status_line = -STATUS_LINE_EVERY_S
        seen = touched = -1  # the supervisor generation the status / activity file last saw
        held: float | None = None  # a changed status the rate bound held back, due then
        while True:
            wake = await pacer.wait(held)
            try:
                self.supervisor.tick(wake.lag)
                health = self.supervisor.health()
                gen = self.supervisor.generation
                if health.ok:
                    if wake.ping_due:
                        self.notifier.watchdog()
                    if wake.ping_due or gen != touched:  # a ping, or a job started or ended
                        touched = gen
                        self._touch_activity()
                    if self._withheld:
                        log.info("watchdog.resumed", "progress is healthy again")
                        self._status_dirty = True
                    self._withheld = False
                    self.board.degraded_reason = ""
                elif not self._withheld:
                    self._withheld = True
                    self.board.degraded_reason = health.reason
                    self._status_dirty = True
                    log.error("watchdog.withheld", f"watchdog withheld: {health.reason}",
                              reason=health.reason)
                if wake.ping_due:
                    pacer.pinged(wake.now)
                if gen == seen and not self._status_dirty and held is None:
                    continue
                now = time.monotonic()
                if now - last_status_line >= STATUS_LINE_EVERY_S:
                    last_status_line = now
                    self.notifier.status(self.status_line(health.reason if not health.ok else ""))
                at = self.board.next_write_at(now)
                if at > now:  # the rate bound: this change goes out then (with any later one)
                    held = self.supervisor.clock() + (at - now)
                    continue
                seen, held, self._status_dirty = gen, None, False
                doc = self.board.build()
                if self.board.changed(doc):
                    doc["stale_after_s"] = self._stale_after()
                    await loop.run_in_executor(None, self.board.write, doc)
            except OSError as exc:  # a full disk must not kill the supervisor
                log.warning("supervisor.io_error", f"status/activity write failed: {exc.strerror}")

    def status_changed(self) -> None:
        """Something the status file shows changed outside the supervisor's jobs."""
        self._status_dirty = True
        if self.pacer is not None:
            self.pacer.wake()

    def _stale_after(self) -> float:
        """How old the status file may get: until the checkin after the next one had its full
        deadline (each attempt rewrites the file), never less than the readers' default."""
        job = self.supervisor.jobs.get("checkin")
        if job is None:
            return STALE_AFTER_S
        ahead = max(0.0, job.next_due - self.supervisor.clock()) + job.delay() * 1.1
        return round(max(STALE_AFTER_S, ahead + job.deadline + STUCK_GRACE_S), 1)

    def _touch_activity(self) -> None:
        path = self.state.path / ".last-activity"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        os.close(fd)
        os.utime(path)

    def status_line(self, problem: str = "") -> str:
        parts = [c.summary() for c in self.components]
        parts = [p for p in parts if p]
        if self.reload_error:
            parts.append("config reload rejected")
        if problem:
            parts.insert(0, f"DEGRADED: {problem}")
        return " · ".join(parts) or "running"

    def _config_status(self) -> dict[str, Any]:
        return {"path": str(self.options.config_path), "reloads": self.reloads,
                "reload_error": self.reload_error, "poll_interval": self.config.poll_interval,
                "log_level": self.config.log_level, "healing_dry_run": self.config.healing_dry_run}

    # --- signals ----------------------------------------------------------------------

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.add_signal_handler(signal.SIGTERM, self._on_stop_signal, "SIGTERM")
        loop.add_signal_handler(signal.SIGINT, self._on_stop_signal, "SIGINT")
        loop.add_signal_handler(signal.SIGHUP, self._on_reload_signal)
        loop.add_signal_handler(signal.SIGUSR1, self._log_snapshot)

    def _on_reload_signal(self) -> None:
        """SIGHUP: one reload at a time, owned by the agent (awaited at shutdown)."""
        if self._reload_task is not None and not self._reload_task.done():
            log.info("config.reload_pending", "a reload is already running; this SIGHUP is merged")
            return
        self._reload_task = asyncio.get_running_loop().create_task(self.reload(), name="reload")

    def _on_stop_signal(self, name: str) -> None:
        if self.stop_event.is_set():
            log.warning("agent.forced_stop", f"second {name}: skipping to flush", signal=name)
            self.force_event.set()
            return
        log.info("agent.stopping", f"{name} received; shutting down", signal=name)
        self.stop_event.set()

    def _log_snapshot(self) -> None:
        log.info("agent.status_snapshot", "status snapshot", status=self.board.build())

    # --- reload (runtime.md §2.5) -----------------------------------------------------

    async def reload(self) -> bool:
        self.notifier.reloading()
        old = self.config
        try:
            loaded = load_config(self.options.config_path, flags=self.options.flags)
        except ConfigError as exc:
            self.reload_error = str(exc)
            log.error("config.reload_rejected", f"new configuration rejected; keeping the running "
                      f"one: {exc}", key=exc.key)
            self.notifier.ready(f"config reload rejected: {exc}")
            self.status_changed()
            return False
        applied, restart = reload_diff(old, loaded.config)
        keep = {k: getattr(old, k) for k in restart}
        config = msgspec.structs.replace(loaded.config, **keep) if keep else loaded.config
        if restart:
            log.warning("config.restart_required", "changed keys take effect after a restart",
                        keys=restart)
        register_config_secrets(config)
        configure_logging(config.log_level, config.log_format)
        self.config = config
        self.loaded = loaded
        self.board.metrics_textfile = config.metrics_textfile
        for comp in self.components:
            comp.reload(config)
        self.reload_error = None
        self.reloads += 1
        self.status_changed()
        log.info("config.reloaded", "configuration reloaded", changed=applied)
        self.notifier.ready(self.status_line())
        return True

    # --- shutdown (runtime.md §6) -----------------------------------------------------

    async def _shutdown(self) -> int:
        loop = asyncio.get_running_loop()
        started = loop.time()
        budget = float(self.config.shutdown_timeout_s)
        self.notifier.stopping()
        self.board.state = "stopping"
        drain = loop.create_task(self.supervisor.drain(max(0.5, budget - FLUSH_RESERVE_S)))
        forced = loop.create_task(self.force_event.wait())
        await asyncio.wait({drain, forced}, return_when=asyncio.FIRST_COMPLETED)
        clean = drain.done() and not drain.cancelled() and drain.result()
        if not drain.done():
            drain.cancel()
            clean = False
        forced.cancel()
        if self.force_event.is_set():
            flush_budget = FORCED_EXIT_BUDGET_S
        else:
            flush_budget = max(0.5, budget - (loop.time() - started))
        if self._reload_task is not None and not self._reload_task.done():
            self._reload_task.cancel()
            await asyncio.gather(self._reload_task, return_exceptions=True)
        flushed = await self._flush(flush_budget)
        if not self.force_event.is_set():
            for comp in reversed(self.components):
                try:
                    await asyncio.wait_for(comp.close(), timeout=2.0)
                except Exception as exc:  # noqa: BLE001  # closing is best effort
                    log.warning("agent.close_failed", f"{comp.name} close failed: {exc}")
            try:
                await asyncio.wait_for(self.assembly.close_services(), timeout=2.0)
            except Exception as exc:  # noqa: BLE001  # closing is best effort
                log.warning("agent.close_failed", f"closing the shared services failed: {exc}")
        self._pool.shutdown(wait=False, cancel_futures=True)
        elapsed = loop.time() - started
        ok = clean and flushed and not self.force_event.is_set() and self.exit_code == 0
        log.info("agent.stopped", "shutdown complete" if ok else "shutdown incomplete",
                 duration_ms=int(elapsed * 1000), clean=ok)
        self.state.close()
        return 0 if ok and not self.once_failed else 1

    async def _flush(self, budget: float) -> bool:
        loop = asyncio.get_running_loop()
        self.board.state = "stopped"

        def flush_all() -> None:
            for comp in self.components:
                comp.flush()
            self.board.write()

        try:
            await asyncio.wait_for(loop.run_in_executor(None, flush_all), timeout=budget)
        except TimeoutError:
            log.error("agent.flush_timeout", "flush did not finish within the shutdown budget")
            return False
        except OSError as exc:
            log.error("agent.flush_failed", f"flush failed: {exc.strerror}")
            return False
        return True


def startup_line(loaded: Loaded, keys: Keys, loop_name: str) -> dict[str, Any]:
    cfg = loaded.config
    return {
        "version": __version__,
        "pid": os.getpid(),
        "loop": loop_name,
        "native_core": native.NATIVE,
        "native_reason": native.STATUS.reason,
        "config": str(loaded.path),
        "state_dir": cfg.state_dir,
        "site_id": cfg.site_id,
        "endpoint": cfg.api_endpoint,
        "identity": keys.identity_fingerprint,
    }
