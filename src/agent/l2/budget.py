"""The L2 budget (healing.md §5.3): calls per sliding hour and spend per UTC day, persisted.

Every attempt counts (failures included). The hourly slot is checked and reserved in one step
before the request is sent; the cost is added when the answer (or the failure) is known. The
counters live in ``<state_dir>/l2_budget.json`` (atomic write) and survive restarts.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

from agent.log import get_logger
from agent.state.atomic import atomic_write, ensure_dir
from agent.timefmt import utc_date

log = get_logger("l2")

BUDGET_NAME: Final = "l2_budget.json"
HOUR_S: Final = 3600.0
DEFAULT_CALLS_PER_HOUR: Final = 60
DEFAULT_DAILY_USD: Final = 10.0
DEFAULT_COST_PER_CALL: Final = 0.02
DEFAULT_PRICE_IN: Final = 0.80
DEFAULT_PRICE_OUT: Final = 4.00


def _positive(value: float, default: float) -> float:
    """Config values <= 0 mean "use the default" (§5.3)."""
    return float(value) if value > 0 else default


class L2Budget:
    def __init__(
        self,
        state_dir: Path,
        *,
        calls_per_hour: int = DEFAULT_CALLS_PER_HOUR,
        daily_usd: float = DEFAULT_DAILY_USD,
        cost_per_call: float = DEFAULT_COST_PER_CALL,
        price_input_per_mtok: float = DEFAULT_PRICE_IN,
        price_output_per_mtok: float = DEFAULT_PRICE_OUT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = ensure_dir(state_dir) / BUDGET_NAME
        self.calls_per_hour = int(_positive(calls_per_hour, DEFAULT_CALLS_PER_HOUR))
        self.daily_usd = _positive(daily_usd, DEFAULT_DAILY_USD)
        self.cost_per_call = _positive(cost_per_call, DEFAULT_COST_PER_CALL)
        self.price_in = _positive(price_input_per_mtok, DEFAULT_PRICE_IN)
        self.price_out = _positive(price_output_per_mtok, DEFAULT_PRICE_OUT)
        self.clock = clock
        self.calls: list[float] = []
        self.day = utc_date(clock())
        self.spent_usd = 0.0
        self.attempts_total = 0
        self._lock = threading.Lock()
        self._load()

    def _load(self) -> None:
        try:
            doc = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return
        except (OSError, ValueError):
            log.warning("l2.budget_unreadable", "l2_budget.json unreadable; counting from zero")
            return
        if not isinstance(doc, dict):
            return
        calls = doc.get("calls")
        if isinstance(calls, list):
            self.calls = sorted(
                float(c) for c in calls if isinstance(c, int | float) and not isinstance(c, bool))
        if doc.get("day") == self.day and isinstance(doc.get("spent_usd"), int | float):
            self.spent_usd = float(doc["spent_usd"])
        total = doc.get("attempts_total")
        self.attempts_total = total if isinstance(total, int) and not isinstance(total, bool) else 0

    def _save(self) -> None:
        doc = {"calls": self.calls, "day": self.day, "spent_usd": round(self.spent_usd, 6),
               "attempts_total": self.attempts_total}
        atomic_write(self.path, json.dumps(doc).encode("utf-8"))

    def _roll(self, now: float) -> None:
        self.calls = [c for c in self.calls if now - c < HOUR_S]
        day = utc_date(now)
        if day != self.day:
            self.day, self.spent_usd = day, 0.0

    def reserve(self) -> str | None:
        """Check and take one hourly slot in one step; the refusal reason, or None when reserved."""
        with self._lock:
            now = self.clock()
            self._roll(now)
            if self.spent_usd >= self.daily_usd:
                return "l2_budget_daily"
            if len(self.calls) >= self.calls_per_hour:
                return "l2_budget_hourly"
            self.calls.append(now)
            self.attempts_total += 1
            self._save()
            return None

    def cost_of(self, input_tokens: int | None, output_tokens: int | None) -> float:
        if input_tokens is None and output_tokens is None:
            return self.cost_per_call
        return (input_tokens or 0) * self.price_in / 1e6 + (output_tokens or 0) * self.price_out / 1e6

    def charge(self, cost: float) -> None:
        with self._lock:
            self._roll(self.clock())
            self.spent_usd += max(0.0, cost)
            self._save()

    def status(self) -> dict[str, object]:
        with self._lock:
            self._roll(self.clock())
            return {"calls_last_hour": len(self.calls), "calls_per_hour": self.calls_per_hour,
                    "spent_usd_today": round(self.spent_usd, 4), "daily_usd": self.daily_usd,
                    "attempts_total": self.attempts_total}
