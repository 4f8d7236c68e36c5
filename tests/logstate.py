"""Save and restore the logging configuration around a test that calls ``agent.log.configure``,
so later tests in the same process see the loggers as they were (no stray stdout handler)."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

_NAMES = ("agent", "py.warnings")


@contextmanager
def logging_restored() -> Iterator[None]:
    saved = []
    for name in _NAMES:
        lg = logging.getLogger(name)
        saved.append((lg, list(lg.handlers), list(lg.filters), lg.level, lg.propagate))
    showwarning = warnings.showwarning
    try:
        yield
    finally:
        for lg, handlers, filters, level, propagate in saved:
            lg.handlers[:] = handlers
            lg.filters[:] = filters
            lg.setLevel(level)
            lg.propagate = propagate
        logging.captureWarnings(False)
        warnings.showwarning = showwarning
