"""The supervisor: periodic jobs, long-lived tasks, and the progress check (runtime.md §1, §4.3, §5.2).

Every job and task has a name. A periodic job never overlaps itself (a due tick while it runs
is skipped and counted), is cancelled when it exceeds its deadline by 30 s (``job.stuck``), and
an exception in it is logged with its traceback. A long-lived task that ends or crashes is
restarted with backoff (1 s doubling to 60 s). The watchdog is pinged only when
:meth:`Supervisor.health` finds real progress.

Nothing ticks periodically: :meth:`Supervisor.next_wake` is the earliest moment a pass has work
(a job due, a running job's stuck deadline, a task's restart), the runtime sleeps until then
(:class:`~agent.runtime.pacer.Pacer`) and :attr:`Supervisor.on_change` wakes it early when a
schedule moves (a run requested, a job finished, a task ended).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from agent.backoff import Backoff
from agent.jobs import Job
from agent.log import get_logger

log = get_logger("supervisor")

STUCK_GRACE_S = 30.0  # a job is cancelled this long after its deadline
CANCEL_GRACE_S = 10.0  # a cancelled job that has not ended after this fails health
MAX_LAG_S = 5.0
OVERDUE_SLACK_S = 60.0
BACKOFF_MIN_S = 1.0
BACKOFF_MAX_S = 60.0
CRASH_BACKOFF = Backoff(BACKOFF_MIN_S, BACKOFF_MAX_S)
#: A job due within this much of a pass starts in it (timers may fire a hair early).
DUE_SLACK_S = 0.002

Clock = Callable[[], float]


@dataclass(eq=False)
class LongTask:
    """A task that should run for the life of the process (restarted with backoff)."""

    name: str
    factory: Callable[[], Awaitable[object]]
    task: asyncio.Task[object] | None = None
    restarts: int = 0
    backoff: float = BACKOFF_MIN_S
    restart_at: float | None = None
    last_error: str | None = None


@dataclass
class Health:
    ok: bool
    reason: str = ""
    lag: float = 0.0
    details: dict[str, object] = field(default_factory=dict)


class Supervisor:
    """Owns every job and long-lived task; driven by :meth:`tick`."""

    def __init__(self, *, clock: Clock = time.monotonic, rng: random.Random | None = None) -> None:
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 - scheduling jitter, not crypto
        self.jobs: dict[str, Job] = {}
        self.tasks: dict[str, LongTask] = {}
        self.started = clock()
        self.accepting = True
        self.lag = 0.0
        self.extra_checks: list[Callable[[], str | None]] = []
        #: Called when a schedule moved (the runtime's pacer re-plans its sleep).
        self.on_change: Callable[[], None] | None = None
        #: Counts schedule moves (job ends, task ends, requested runs): the status file is
        #: reconsidered when it moved, not when a job merely started.
        self.generation = 0

    # --- registration -----------------------------------------------------------------

    def add_job(self, job: Job) -> Job:
        if job.name in self.jobs:
            raise ValueError(f"job {job.name!r} already registered")
        job.next_due = self.clock() + job.first_delay
        self.jobs[job.name] = job
        self._changed()
        return job

    def spawn(self, name: str, factory: Callable[[], Awaitable[object]]) -> LongTask:
        if name in self.tasks:
            raise ValueError(f"task {name!r} already registered")
        lt = LongTask(name, factory)
        self.tasks[name] = lt
        self._start_long(lt)
        return lt

    # --- running ----------------------------------------------------------------------

    def run_job_now(self, name: str) -> asyncio.Task[object] | None:
        """Start a job immediately (e.g. the first checkin), unless it is already running."""
        job = self.jobs[name]
        if job.running or not self.accepting:
            return job.task
        self._start_job(job, self.clock())
        return job.task

    def request_run(self, name: str) -> None:
        """Run the job as soon as possible: now when idle, else right after the current run."""
        job = self.jobs.get(name)
        if job is None:
            return
        if job.task is not None and not job.task.done():
            job.task.add_done_callback(lambda _t: self._due_now(job))
        else:
            self._due_now(job)

    def _due_now(self, job: Job) -> None:
        job.next_due = self.clock()
        self._changed()

    def _changed(self) -> None:
        self.generation += 1
        if self.on_change is not None:
            self.on_change()

    def next_wake(self) -> float | None:
        """The earliest moment (this supervisor's clock) a :meth:`tick` has something to do: a
        job due, a running job reaching its stuck deadline or its cancel grace, a task's restart;
        None when nothing is scheduled."""
        when: float | None = None
        for job in self.jobs.values():
            if job.running:
                if job.cancelled_at is not None:
                    t = job.cancelled_at + CANCEL_GRACE_S
                elif job.started_at is not None:
                    t = job.started_at + job.deadline + STUCK_GRACE_S
                else:
                    continue
            elif self.accepting:
                t = job.next_due
            else:
                continue
            if when is None or t < when:
                when = t
        for lt in self.tasks.values():
            if self.accepting and lt.task is None and lt.restart_at is not None \
                    and (when is None or lt.restart_at < when):
                when = lt.restart_at
        return when

    def tick(self, lag: float = 0.0) -> None:
        """One supervisor pass: start due jobs, cancel stuck ones, restart dead tasks."""
        now = self.clock()
        self.lag = lag
        for job in self.jobs.values():
            self._check_stuck(job, now)
            if not self.accepting or now + DUE_SLACK_S < job.next_due:
                continue
            if job.running:
                job.skipped += 1
                job.next_due = now + self._delay(job)
                log.debug("job.skipped", f"{job.name} still running; tick skipped", job=job.name)
                continue
            if not job.enabled():
                job.next_due = now + self._delay(job)
                continue
            self._start_job(job, now)
        for lt in self.tasks.values():
            if self.accepting and lt.task is None and lt.restart_at is not None \
                    and now >= lt.restart_at:
                self._start_long(lt)

    def _delay(self, job: Job) -> float:
        base = max(0.0, job.delay())
        if job.jitter:
            base *= 1.0 + self.rng.uniform(-job.jitter, job.jitter)
        if job.crash_streak:
            base = max(base, CRASH_BACKOFF.delay(job.crash_streak))
        return base

    def _start_job(self, job: Job, now: float) -> None:
        job.started_at = now
        job.last_started = now
        job.cancelled_at = None
        job.runs += 1
        job.next_due = now + self._delay(job)
        job.task = asyncio.get_running_loop().create_task(self._run_job(job), name=f"job:{job.name}")

    async def _run_job(self, job: Job) -> None:
        try:
            outcome = await job.run()
        except asyncio.CancelledError:
            job.last_error = "cancelled"
            job.last_ok = False
            raise
        except Exception as exc:  # noqa: BLE001  # a job bug must not kill the loop
            job.failures += 1
            job.crash_streak += 1
            job.last_error = f"{type(exc).__name__}: {exc}"
            job.last_ok = False
            log.error("job.crashed", f"job {job.name} raised {type(exc).__name__}", exc=True,
                      job=job.name, failures=job.failures)
            # The next start waits at least the crash backoff.
            job.next_due = max(job.next_due, self.clock() + self._delay(job))
        else:
            job.crash_streak = 0
            if job.reports_outcome and outcome is False:
                job.failures += 1
                job.last_error = "attempt failed"
                job.last_ok = False
            else:
                job.last_error = None
                job.last_ok = True
        finally:
            job.last_completed = self.clock()
            job.started_at = None
            if job.from_completion:
                job.next_due = max(job.next_due if job.crash_streak else 0.0,
                                   job.last_completed + self._delay(job))
            self._changed()

    def _check_stuck(self, job: Job, now: float) -> None:
        if not job.running or job.started_at is None or job.cancelled_at is not None:
            return
        if now - job.started_at > job.deadline + STUCK_GRACE_S:
            job.stuck += 1
            job.cancelled_at = now
            log.error("job.stuck", f"job {job.name} exceeded its deadline; cancelling",
                      job=job.name, deadline_s=job.deadline, running_s=round(now - job.started_at, 1))
            assert job.task is not None
            job.task.cancel()

    def _start_long(self, lt: LongTask) -> None:
        lt.restart_at = None
        lt.task = asyncio.get_running_loop().create_task(self._run_long(lt), name=f"task:{lt.name}")

    async def _run_long(self, lt: LongTask) -> None:
        started = self.clock()
        try:
            await lt.factory()
            lt.last_error = "returned"
            log.error("task.ended", f"task {lt.name} returned; restarting", task=lt.name)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001  # restarted with backoff
            lt.last_error = f"{type(exc).__name__}: {exc}"
            log.error("task.crashed", f"task {lt.name} raised {type(exc).__name__}; restarting",
                      exc=True, task=lt.name, restarts=lt.restarts)
        if self.clock() - started > 2 * BACKOFF_MAX_S:
            lt.backoff = BACKOFF_MIN_S  # it ran fine for a while: start the backoff over
        lt.restarts += 1
        lt.restart_at = self.clock() + lt.backoff
        lt.backoff = CRASH_BACKOFF.after(lt.backoff)
        lt.task = None
        self._changed()

    # --- progress (runtime.md §5.2) ---------------------------------------------------

    def health(self) -> Health:
        now = self.clock()
        if self.lag >= MAX_LAG_S:
            return Health(False, f"event-loop lag {self.lag:.1f}s", self.lag)
        for job in self.jobs.values():
            if job.cancelled_at is not None and job.running and now - job.cancelled_at > CANCEL_GRACE_S:
                return Health(False, f"job {job.name} did not stop after cancellation", self.lag)
            if job.progress:
                reason = self._overdue(job, now)
                if reason:
                    return Health(False, reason, self.lag)
            elif job.enabled() and not job.running and now - job.next_due > 2 * max(job.delay(), 1.0):
                return Health(False, f"job {job.name} is overdue", self.lag)
        for check in self.extra_checks:
            reason = check()
            if reason:
                return Health(False, reason, self.lag)
        return Health(True, "", self.lag)

    def _overdue(self, job: Job, now: float) -> str | None:
        if job.running and job.started_at is not None:
            if now - job.started_at <= job.deadline + STUCK_GRACE_S:
                return None
            return f"{job.name} running past its deadline"
        ref = job.last_completed if job.last_completed is not None else self.started
        allowed = self._delay_no_jitter(job) + job.deadline + OVERDUE_SLACK_S
        if job.last_completed is None:
            allowed += job.first_delay
        if now - ref > allowed:
            return f"{job.name} overdue ({now - ref:.0f}s since last attempt)"
        return None

    def _delay_no_jitter(self, job: Job) -> float:
        base = max(0.0, job.delay())
        return base * (1.0 + job.jitter)

    # --- shutdown ---------------------------------------------------------------------

    def stop_accepting(self) -> None:
        self.accepting = False

    async def drain(self, budget: float) -> bool:
        """Cancel cancel-on-shutdown jobs and long tasks; let finish-jobs run up to ``budget``
        seconds, then cancel them. Returns True if everything ended within the budget."""
        self.stop_accepting()
        loop_tasks: list[asyncio.Task[object]] = []
        finishing: list[asyncio.Task[object]] = []
        for job in self.jobs.values():
            if job.task is not None and not job.task.done():
                (finishing if job.on_shutdown == "finish" else loop_tasks).append(job.task)
        for lt in self.tasks.values():
            if lt.task is not None and not lt.task.done():
                loop_tasks.append(lt.task)
        for t in loop_tasks:
            t.cancel()
        deadline = self.clock() + budget
        if finishing:
            _, pending = await asyncio.wait(finishing, timeout=max(0.0, budget))
            for t in pending:
                log.warning("job.shutdown_cancel", "job did not finish in time; cancelled",
                            job=t.get_name())
                t.cancel()
        everything = loop_tasks + finishing
        remaining = max(0.1, deadline - self.clock())
        if everything:
            _, pending = await asyncio.wait(everything, timeout=remaining)
            return not pending
        return True

    def snapshot(self) -> dict[str, object]:
        now = self.clock()
        jobs = {}
        for j in self.jobs.values():
            jobs[j.name] = {
                "running": j.running,
                "runs": j.runs,
                "failures": j.failures,
                "skipped": j.skipped,
                "stuck": j.stuck,
                "last_completed_s_ago": None if j.last_completed is None
                else round(now - j.last_completed, 1),
                "next_due_in_s": round(j.next_due - now, 1),
                "last_error": j.last_error,
                "last_ok": j.last_ok,
            }
        tasks = {t.name: {"alive": t.task is not None and not t.task.done(), "restarts": t.restarts,
                          "last_error": t.last_error} for t in self.tasks.values()}
        return {"jobs": jobs, "tasks": tasks, "loop_lag_s": round(self.lag, 3)}

