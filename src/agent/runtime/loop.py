"""Event-loop selection: uvloop when installed, asyncio's loop otherwise (with a warning)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> tuple[Callable[[], asyncio.AbstractEventLoop], str]:
    """The loop factory to use and its name (``uvloop`` or ``asyncio``)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop, "asyncio"
    return uvloop.new_event_loop, "uvloop"


def run(main: Callable[[], Coroutine[Any, Any, T]]) -> tuple[T, str]:
    """Run ``main()`` to completion on the chosen loop; returns its result and the loop name."""
    factory, name = loop_factory()
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main()), name
